"""``feedback_loop/Shapes-v0``: a tiny semantic-segmentation simulator (a class per pixel).

Each 16x16 grayscale image holds one or two axis-aligned objects, ellipses or rectangles, on a
background with a smooth random texture; the image is blurred and noisy. The label is the class of
every pixel: 0 background, 1 ellipse, 2 rectangle (a later object occludes an earlier one).

Every continuous factor is drawn per sample (per object for the object factors) uniformly from an
interval encoded one to one by ``{factor}_position`` and ``{factor}_width`` (``envs/ranges.py``);
every width at 1 is uniform domain randomization over the physical bounds. ``p_ellipse`` is the
probability that an object is an ellipse. ``README.md`` documents every parameter.

The "real" data (``real_data()``) come from a different, hidden generator in ``target.py``, imported
only there, so that nothing here can depend on its settings.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from gymnasium import spaces

from ..base import RealData, Simulator
from ..ranges import RangeParam, factor_ranges, factor_space

SIDE = 16  # image side in pixels
MAX_OBJECTS = 2  # every image has 1 or 2 objects, with equal probability
BLUR_RADIUS = 5  # most taps each side of the Gaussian kernel: 2.5 sigma at the largest blur
TEXTURE_GRID = 4  # the texture field is random on a 4x4 grid, bilinearly upsampled: smooth

# name -> (unit, physical low, physical high, nominal low, nominal high, meaning)
FACTORS: dict[str, tuple[str, float, float, float, float, str]] = {
    "size": ("px", 1.0, 7.0, 4.0, 6.0,
             "object size: geometric mean of its two half-axes (half-width and half-height)"),
    "elongation": ("log2 of width/height", -1.5, 1.5, -0.25, 0.25,
                   "aspect of an object: 0 is a circle or square, +1 twice as wide as high"),
    "contrast": ("intensity", -1.0, 1.0, 0.5, 0.9,
                 "object intensity minus the background level (negative: a dark object)"),
    "background": ("intensity", 0.0, 1.0, 0.0, 0.2,
                   "mean background level of the image"),
    "texture": ("intensity (std over the image)", 0.0, 0.3, 0.0, 0.03,
                "amplitude of a smooth random field added to the whole image (shading)"),
    "noise": ("intensity (std per pixel)", 0.0, 0.2, 0.0, 0.02,
              "independent Gaussian noise added to every pixel after the blur"),
    "blur": ("px (Gaussian sigma)", 0.0, 2.0, 0.0, 0.3,
             "Gaussian blur of the rendered image (optics, or a soft edge)"),
}
OBJECT_FACTORS = ("size", "elongation", "contrast")  # drawn once per object; the rest once per image

# Scalar (non-range) parameters: name -> (unit, low, high, nominal, meaning)
SCALARS: dict[str, tuple[str, float, float, float, str]] = {
    "p_ellipse": ("probability", 0.0, 1.0, 0.5, "probability that an object is an ellipse (else a rectangle)"),
}

RANGES: dict[str, RangeParam] = factor_ranges(FACTORS)


def build_param_space() -> tuple[spaces.Dict, dict[str, float]]:
    """The parameter space and the nominal setting (a naive first guess: big, bright, clean shapes)."""
    return factor_space(FACTORS, SCALARS)


def _upsample_matrix(coarse: int, fine: int) -> np.ndarray:
    """(fine, coarse) linear-interpolation weights, pixel centres aligned (as align_corners=False)."""
    pos = np.clip((np.arange(fine) + 0.5) * coarse / fine - 0.5, 0, coarse - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, coarse - 1)
    frac = pos - lo
    m = np.zeros((fine, coarse))
    m[np.arange(fine), lo] += 1 - frac
    m[np.arange(fine), hi] += frac
    return m


def gaussian_blur(img: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Blur each (H, W) image of ``img`` (n, H, W) with its own Gaussian ``sigma`` (n,), separably."""
    s = np.asarray(sigma, dtype=np.float64)
    # as few taps as the widest kernel of the batch needs (3 sigma), at most BLUR_RADIUS each side
    r = int(min(BLUR_RADIUS, max(1, np.ceil(3 * s.max()))))
    taps = np.arange(-r, r + 1, dtype=np.float64)
    # sigma 0 must be the identity: a tiny sigma puts all the weight on the centre tap
    k = np.exp(-0.5 * (taps[None, :] / np.maximum(s, 1e-3)[:, None]) ** 2)
    k /= k.sum(axis=1, keepdims=True)
    h, w = img.shape[1:]
    padded = np.pad(img, ((0, 0), (r, r), (r, r)), mode="edge")  # no dark frame from zero padding
    rows = sum(k[:, j, None, None] * padded[:, j:j + h, :] for j in range(2 * r + 1))
    return sum(k[:, j, None, None] * rows[:, :, j:j + w] for j in range(2 * r + 1))


class ShapesEnv(Simulator):
    """Ellipses and rectangles on a textured background, labelled per pixel (see the module docstring)."""

    metadata = {"render_modes": []}
    task = "segmentation"
    num_classes = 3
    class_names = ("background", "ellipse", "rectangle")
    ranges = RANGES
    # Bump whenever the same parameters and seed render different data (shards and caches record it).
    version = 1

    def __init__(self) -> None:
        super().__init__()
        self.param_space, self.nominal_params = build_param_space()
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(1, SIDE, SIDE), dtype=np.float32)
        self._upsample = _upsample_matrix(TEXTURE_GRID, SIDE)

    def sample_batch(self, params: Mapping | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples: x float32 (n, 1, 16, 16) in [0, 1], y int64 (n, 16, 16) in {0, 1, 2}.

        Every parameter may be a scalar or an (n,) array of per-sample values.
        """
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        p = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        # All random numbers are drawn up front in fixed shapes, so moving one parameter changes
        # only what it controls (common random numbers across settings with the same seed).
        u_obj = rng.random((n, MAX_OBJECTS, len(OBJECT_FACTORS)))
        u_img = rng.random((n, len(FACTORS) - len(OBJECT_FACTORS)))
        u_kind = rng.random((n, MAX_OBJECTS))
        centres = rng.uniform(2.0, SIDE - 2.0, size=(n, MAX_OBJECTS, 2))
        present = np.stack([np.ones(n, bool), rng.random(n) < 0.5], axis=1)
        coarse = rng.standard_normal((n, TEXTURE_GRID, TEXTURE_GRID))
        pixel_noise = rng.standard_normal((n, SIDE, SIDE))

        def draw(name: str, u: np.ndarray) -> np.ndarray:
            spec = RANGES[name]
            lo, hi = spec.interval(p[spec.position], p[spec.width])
            lo, hi = np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,))
            if u.ndim == 2:  # per object
                lo, hi = lo[:, None], hi[:, None]
            return lo + (hi - lo) * u

        obj = {name: draw(name, u_obj[..., j]) for j, name in enumerate(OBJECT_FACTORS)}
        image_factors = [name for name in FACTORS if name not in OBJECT_FACTORS]
        img = {name: draw(name, u_img[:, j]) for j, name in enumerate(image_factors)}
        p_ellipse = np.broadcast_to(p["p_ellipse"], (n,))[:, None]
        kind = np.where(u_kind < p_ellipse, 1, 2)  # class of each object

        # Geometry: label every pixel whose centre lies inside an object; later objects occlude.
        coords = np.arange(SIDE) + 0.5
        half_w = obj["size"] * 2.0 ** (obj["elongation"] / 2)  # area follows size alone
        half_h = obj["size"] * 2.0 ** (-obj["elongation"] / 2)
        labels = np.zeros((n, SIDE, SIDE), dtype=np.int64)
        level = np.broadcast_to(img["background"][:, None, None], (n, SIDE, SIDE)).copy()
        for k in range(MAX_OBJECTS):
            dx = (coords[None, None, :] - centres[:, k, 0, None, None]) / half_w[:, k, None, None]
            dy = (coords[None, :, None] - centres[:, k, 1, None, None]) / half_h[:, k, None, None]
            ellipse = dx ** 2 + dy ** 2 <= 1.0
            rectangle = (np.abs(dx) <= 1.0) & (np.abs(dy) <= 1.0)
            inside = np.where(kind[:, k, None, None] == 1, ellipse, rectangle) & present[:, k, None, None]
            labels[inside] = np.broadcast_to(kind[:, k, None, None], inside.shape)[inside]
            object_level = img["background"] + obj["contrast"][:, k]
            level = np.where(inside, object_level[:, None, None], level)

        # Shading: a smooth field with unit spread over the image, scaled to the texture amplitude.
        field = np.einsum("ia,nab,jb->nij", self._upsample, coarse, self._upsample)
        field -= field.mean(axis=(1, 2), keepdims=True)
        field /= field.std(axis=(1, 2), keepdims=True) + 1e-8
        x = level + img["texture"][:, None, None] * field
        x = gaussian_blur(x, img["blur"])
        x = x + img["noise"][:, None, None] * pixel_noise
        x = np.clip(x, 0.0, 1.0).astype(np.float32)[:, None]
        return x, labels

    def real_data(self) -> RealData:
        """The hidden target's fixed validation and test halves (``target.py``)."""
        from .target import load_target  # imported here only: the simulator must not see its settings

        return load_target()


__all__ = ["ShapesEnv", "FACTORS", "OBJECT_FACTORS", "RANGES", "SCALARS", "SIDE", "build_param_space", "gaussian_blur"]
