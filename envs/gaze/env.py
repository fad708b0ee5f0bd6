"""``feedback_loop/Gaze-v0``: a procedural eye-image simulator for gaze regression (the SimGAN setting).

Each sample is a 36x60 grayscale eye patch, as MPIIGaze's normalized eye images are, and its label
is the gaze direction (pitch, yaw) in degrees in the camera's frame: pitch > 0 looks up, yaw > 0
looks towards the image's right. The eye model is in ``render.py``.

Every factor (gaze, head pose, eye shape, tones, lighting, the camera's blur, contrast, brightness
and noise) is **randomized over an interval**: each sample draws it uniformly from ``[a, b]`` inside
the factor's physical bounds. The interval is encoded one to one by ``{factor}_width`` (the fraction
of the bounds it covers) and ``{factor}_position`` (where it sits), see ``envs/ranges.py``; uniform
domain randomization is every width at 1. The gaze distribution the simulator can express is thus a
box in (pitch, yaw), independent of the head pose.

``real_data()`` is a *generated* target (``target.py``, synthetic-to-synthetic as Meta-Sim's MNIST
experiment): a different, hidden process. This module does not import it until it is asked for.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from gymnasium import spaces

from ..base import RealData, Simulator
from ..ranges import RangeParam, factor_ranges, factor_space
from .render import EYE_INPUTS, HEIGHT, WIDTH, Sensor, render_eyes

# name -> (unit, physical lower bound, physical upper bound, nominal low, nominal high, meaning)
FACTORS: dict[str, tuple[str, float, float, float, float, str]] = {
    "gaze_pitch": ("degrees", -40.0, 40.0, -15.0, 15.0,
                   "vertical gaze angle in the camera's frame, positive looks up (label 0)"),
    "gaze_yaw": ("degrees", -45.0, 45.0, -20.0, 20.0,
                 "horizontal gaze angle in the camera's frame, positive looks to the image's right (label 1)"),
    "head_pitch": ("degrees", -30.0, 30.0, -10.0, 10.0,
                   "head pitch: moves and foreshortens the lids over the eyeball, positive tilts up"),
    "head_yaw": ("degrees", -40.0, 40.0, -15.0, 15.0,
                 "head yaw: moves and foreshortens the lids sideways, positive turns to the image's right"),
    "head_roll": ("degrees", -30.0, 30.0, -5.0, 5.0,
                  "head roll: turns the lids in the image plane (the label stays in the camera's frame)"),
    "eye_opening": ("px", 4.0, 22.0, 12.0, 16.0,
                    "height of the lid opening above the eyeball centre when looking straight ahead"),
    "iris_radius": ("px", 5.0, 11.0, 7.0, 9.0,
                    "iris radius; the eyeball's radius is twice it, so it also sets the eye's scale"),
    "pupil_ratio": ("fraction of the iris radius", 0.15, 0.7, 0.3, 0.45, "pupil radius"),
    "iris_tone": ("albedo", 0.05, 0.6, 0.2, 0.35, "brightness of the iris (dark brown to light grey)"),
    "skin_tone": ("albedo", 0.2, 0.9, 0.5, 0.65, "brightness of the skin around the eye"),
    "light_azimuth": ("degrees", -180.0, 180.0, 60.0, 120.0,
                      "direction the light comes from in the image plane: 0 from the right, 90 from above"),
    "light_strength": ("fraction", 0.0, 1.0, 0.3, 0.5,
                       "share of directional light against flat ambient light (0: no shading, no glint boost)"),
    "blur": ("px (Gaussian std)", 0.0, 3.0, 0.3, 0.8, "defocus blur of the camera"),
    "contrast": ("gain about mid-grey", 0.3, 1.5, 0.9, 1.1, "the camera's contrast"),
    "brightness": ("offset in [0, 1] units", -0.3, 0.3, -0.05, 0.05, "the camera's brightness offset"),
    "noise": ("std in [0, 1] units", 0.0, 0.15, 0.01, 0.03, "independent Gaussian pixel noise"),
}

RANGES: dict[str, RangeParam] = factor_ranges(FACTORS)


def build_param_space() -> tuple[spaces.Dict, dict[str, float]]:
    """``param_space`` (a position and a width per factor, each in [0, 1]) and the nominal setting."""
    return factor_space(FACTORS)


class GazeEnv(Simulator):
    """Procedural 36x60 grayscale eye patches labelled with gaze (pitch, yaw) in degrees.

    See the module docstring and ``envs/gaze/README.md`` for every parameter.

    Args:
        device: torch device the batch renderer runs on ("cpu", or "cuda" in a GPU generator).
    """

    metadata = {"render_modes": []}
    task = "regression"
    label_names = ("pitch", "yaw")
    image_cmap = "gray"  # brightness images: figures draw them light-on-dark, as a camera sees them
    ranges = RANGES
    # Bumped whenever the same parameters and seed render different data (shards and caches record it).
    version = 1

    def __init__(self, device: str = "cpu") -> None:
        super().__init__()
        self.device = torch.device(device)
        self.param_space, self.nominal_params = build_param_space()
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(1, HEIGHT, WIDTH), dtype=np.float32)

    # -- the contract -------------------------------------------------------------------------------
    def sample_batch(self, params: Mapping | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples: x float32 (n, 1, 36, 60) in [0, 1], y float32 (n, 2) = (pitch, yaw) in degrees.

        Every parameter may be a scalar or an (n,) array of per-sample values.
        """
        factors, gen = self._draw(params, n, seed)
        sensor = Sensor(factors["contrast"], factors["brightness"], factors["noise"], gen)
        img = render_eyes({k: factors[k] for k in EYE_INPUTS}, sensor)
        x = img[:, None].cpu().numpy()
        y = torch.stack([factors["gaze_pitch"], factors["gaze_yaw"]], dim=1).cpu().numpy()
        return x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)

    def real_data(self) -> RealData:
        from .target import load_real_gaze  # imported late: the target's settings stay out of this module

        return load_real_gaze()

    # -- extras ---------------------------------------------------------------------------------------
    def factor_values(self, params: Mapping | None, n: int, seed: int) -> dict[str, np.ndarray]:
        """The per-sample value of every factor that ``sample_batch(params, n, seed)`` draws."""
        factors, _ = self._draw(params, n, seed)
        return {k: t.cpu().numpy() for k, t in factors.items()}

    # -- internals ------------------------------------------------------------------------------------
    def _draw(self, params: Mapping | None, n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Generator]:
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        p = self.check_params(params, n)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed) % (2**63))
        u = torch.rand(n, len(FACTORS), generator=gen, device=self.device, dtype=torch.float64)
        factors = {}
        for j, name in enumerate(FACTORS):
            lo, hi = RANGES[name].interval(p[RANGES[name].position], p[RANGES[name].width])
            lo = torch.tensor(np.broadcast_to(lo, (n,)), dtype=torch.float64, device=self.device)
            hi = torch.tensor(np.broadcast_to(hi, (n,)), dtype=torch.float64, device=self.device)
            factors[name] = (lo + (hi - lo) * u[:, j]).float()  # uniform on the ordered interval
        return factors, gen


__all__ = ["GazeEnv", "FACTORS", "RANGES", "build_param_space"]
