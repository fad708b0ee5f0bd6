"""The "real" target of ``feedback_loop/Gaze-v0``: a GENERATED data set, made by a hidden process.

There is no real eye image here: like the "real" MNIST of Meta-Sim's experiment, the target is itself
synthetic (synthetic-to-synthetic). It stands in for MPIIGaze (laptop users looking at their screen,
eye patches normalized to 36x60) with a process the simulator cannot express in full:

* **Content** (what a policy must find): people look at points on a screen below the camera, so the
  gaze is not a box: each sample draws an eye position in front of the camera and a point spread
  uniformly over the screen, and the label is the direction from the eye to that point, measured from
  the direction to the camera (as MPIIGaze's normalization does). The pitch is therefore mostly
  negative. The head turns part of the way with the gaze (it is correlated with it, not independent),
  pupils shrink in brighter light, and eye shapes, tones and lights follow distributions of their own.
* **Appearance** (what only a refiner can close): the same eye model (``render.py``'s geometry, with
  its defocus), then a camera the simulator lacks: an anisotropic blur kernel, vignetting,
  auto-exposure, an S-shaped camera response curve, signal-dependent shot noise, per-image row banding,
  a fixed pattern noise shared by every image, and 8-bit quantization.

The settings below are the hidden process; the simulator (``env.py``) does not import this module
except inside ``GazeEnv.real_data()``. ``load_real_gaze()`` returns fixed validation and test halves
(1,000 samples each, from fixed seeds): the same arrays on every call (the eye model runs in torch,
whose transcendental functions may differ in the last bit between CPU kinds; after 8-bit
quantization that can move a rare pixel by one level on another machine).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..base import RealData
from .render import HEIGHT, WIDTH, render_eyes

VAL_SEED, TEST_SEED, FIXED_PATTERN_SEED = 90_125, 71_006, 4_242
REAL_SET_SIZE = 1000

# -- content: a screen below the camera (cm, camera at the origin, x right, y up, z towards the user) --
SCREEN_X = (-24.0, 24.0)  # a 22-inch monitor's width, the camera centred on its top edge
SCREEN_Y = (-29.0, -1.0)  # its height, hanging below the camera
EYE_DISTANCE = (50.0, 70.0)  # uniform
EYE_X, EYE_Y = (0.0, 6.0), (-6.0, 4.0)  # (mean, std): eyes a little below the camera
HEAD_FOLLOW = 0.45  # the head turns this share of the gaze; the eyes do the rest
HEAD_JITTER = (4.0, 5.0, 4.0)  # degrees std of head pitch, yaw, roll about that
OPENING = (12.5, 2.0, 7.0, 18.0)  # px: mean, std, clip low, clip high
IRIS_RADIUS = (7.6, 0.5, 6.3, 9.0)
IRIS_TONE, SKIN_TONE = (0.08, 0.35), (0.55, 0.08, 0.35, 0.8)  # uniform; mean, std, clip
LIGHT_AZIMUTH, LIGHT_STRENGTH = (100.0, 20.0), (0.25, 0.6)  # normal (deg); uniform
PUPIL = (0.45, 0.15, 0.03)  # ratio = a - b * light strength + N(0, c): pupils close in bright light
DEFOCUS = (0.3, 0.9)  # px, uniform

# -- appearance: the camera --
KERNEL_SIGMA, KERNEL_ANGLE = (1.1, 0.45), 20.0  # anisotropic Gaussian (px along, across; degrees)
VIGNETTE, VIGNETTE_CENTRE = 0.3, (4.0, -2.0)  # gain 1 - a r^2 (r = 1 at the corners); centre (px)
EXPOSURE = (0.85, 1.15)  # uniform per-image gain
CURVE_SLOPE, CURVE_MIDDLE = 5.0, 0.45  # S-shaped response: a logistic of the exposed radiance
SHOT, BANDING, FIXED_PATTERN = 0.025, 0.015, 0.012  # noise: std per sqrt(signal), per row, per pixel


def _gaze_on_screen(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(pitch, yaw) in degrees of an eye looking at a point on the screen, in the normalized frame."""
    eye = np.stack([rng.normal(*EYE_X, n), rng.normal(*EYE_Y, n), rng.uniform(*EYE_DISTANCE, n)], 1)
    point = np.stack([rng.uniform(*SCREEN_X, n), rng.uniform(*SCREEN_Y, n), np.zeros(n)], 1)
    # The simulator's frame: x right, y up, z from the eye towards the camera.
    flip = np.array([1.0, 1.0, -1.0])
    look = (point - eye) * flip
    to_camera = -eye * flip
    # Normalization: turn the frame so the camera lies straight ahead of the eye, x kept horizontal.
    z = to_camera / np.linalg.norm(to_camera, axis=1, keepdims=True)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    g = np.stack([(look * x).sum(1), (look * y).sum(1), (look * z).sum(1)], 1)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return np.degrees(np.arcsin(g[:, 1])), np.degrees(np.arctan2(g[:, 0], g[:, 2]))


def _clipped(rng: np.random.Generator, spec: tuple[float, float, float, float], n: int) -> np.ndarray:
    mean, std, low, high = spec
    return np.clip(rng.normal(mean, std, n), low, high)


def draw_content(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-sample inputs of ``render_eyes`` (degrees, px, [0, 1] tones), the gaze being the label."""
    pitch, yaw = _gaze_on_screen(rng, n)
    strength = rng.uniform(*LIGHT_STRENGTH, n)
    return {
        "gaze_pitch": pitch, "gaze_yaw": yaw,
        "head_pitch": HEAD_FOLLOW * pitch + rng.normal(0.0, HEAD_JITTER[0], n),
        "head_yaw": HEAD_FOLLOW * yaw + rng.normal(0.0, HEAD_JITTER[1], n),
        "head_roll": rng.normal(0.0, HEAD_JITTER[2], n),
        "eye_opening": _clipped(rng, OPENING, n),
        "iris_radius": _clipped(rng, IRIS_RADIUS, n),
        "pupil_ratio": np.clip(PUPIL[0] - PUPIL[1] * strength + rng.normal(0.0, PUPIL[2], n), 0.2, 0.6),
        "iris_tone": rng.uniform(*IRIS_TONE, n),
        "skin_tone": _clipped(rng, SKIN_TONE, n),
        "light_azimuth": rng.normal(*LIGHT_AZIMUTH, n),
        "light_strength": strength,
        "blur": rng.uniform(*DEFOCUS, n),
    }


def _kernel() -> np.ndarray:
    """The camera's fixed anisotropic blur kernel (k, k), summing to 1."""
    half = 3
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float64)
    a = math.radians(KERNEL_ANGLE)
    along, across = xx * math.cos(a) - yy * math.sin(a), xx * math.sin(a) + yy * math.cos(a)
    k = np.exp(-0.5 * ((along / KERNEL_SIGMA[0]) ** 2 + (across / KERNEL_SIGMA[1]) ** 2))
    return k / k.sum()


def _fixed_pattern() -> np.ndarray:
    """The sensor's fixed pattern noise (H, W): the same offsets in every image of the target."""
    rng = np.random.default_rng(FIXED_PATTERN_SEED)
    column_gain = rng.normal(0.0, FIXED_PATTERN, (1, WIDTH))  # column amplifiers differ a little
    return (rng.normal(0.0, FIXED_PATTERN, (HEIGHT, WIDTH)) + column_gain).astype(np.float32)


def apply_camera(radiance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The target's camera on (n, H, W) radiance: blur, vignetting, exposure, response curve, noise."""
    n = len(radiance)
    # Blur as shifted sums in float64 numpy: the same result whatever the thread count.
    kernel = _kernel()
    pad = len(kernel) // 2
    padded = np.pad(np.asarray(radiance, dtype=np.float64), ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    img = np.zeros((n, HEIGHT, WIDTH))
    for i in range(len(kernel)):
        for j in range(len(kernel)):
            img += kernel[i, j] * padded[:, i:i + HEIGHT, j:j + WIDTH]
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    cy, cx = (HEIGHT - 1) / 2 + VIGNETTE_CENTRE[1], (WIDTH - 1) / 2 + VIGNETTE_CENTRE[0]
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / ((WIDTH / 2) ** 2 + (HEIGHT / 2) ** 2)
    img *= (1.0 - VIGNETTE * r2) * rng.uniform(*EXPOSURE, (n, 1, 1))

    def curve(u: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-CURVE_SLOPE * (u - CURVE_MIDDLE)))

    low, high = curve(np.float64(0.0)), curve(np.float64(1.2))
    img = (curve(img) - low) / (high - low)
    img += rng.normal(0.0, 1.0, img.shape) * SHOT * np.sqrt(np.clip(img, 0.0, None))
    img += rng.normal(0.0, BANDING, (n, HEIGHT, 1)) + _fixed_pattern()
    return (np.round(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` target samples: x float32 (n, 1, 36, 60) in [0, 1], y float32 (n, 2) = (pitch, yaw) degrees."""
    rng = np.random.default_rng(seed)
    content = draw_content(rng, n)
    radiance = render_eyes({k: torch.as_tensor(v, dtype=torch.float32) for k, v in content.items()})
    x = apply_camera(radiance.numpy(), rng)[:, None]
    y = np.stack([content["gaze_pitch"], content["gaze_yaw"]], 1).astype(np.float32)
    return x, y


@lru_cache(maxsize=1)
def _halves() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_val, y_val = generate(REAL_SET_SIZE, VAL_SEED)
    x_test, y_test = generate(REAL_SET_SIZE, TEST_SEED)
    return x_val, y_val, x_test, y_test


def load_real_gaze() -> RealData:
    """``RealData(x_val, y_val, x_test, y_test)``: x float32 (1000, 1, 36, 60) in [0, 1], y float32
    (1000, 2) = (pitch, yaw) in degrees. Generated (see the module docstring), fixed, and the same on
    every call; each call returns fresh copies."""
    x_val, y_val, x_test, y_test = (a.copy() for a in _halves())
    return RealData(x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
