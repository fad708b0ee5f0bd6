"""The hidden target of ``feedback_loop/Shapes-v0``: the "real" images, themselves generated.

A different process from the simulator's (synthetic-to-synthetic, as Meta-Sim's MNIST target):
one to three objects, tilted a little, whose sizes follow a log-normal law; fewer ellipses than
rectangles; low contrast, a quarter of the objects darker than the background; a mid-grey
background lit by a linear gradient; anti-aliased edges, a fixed blur and sensor noise. The
simulator can approach it (small objects, low contrast of either sign, a grey textured background,
some blur and noise) but not express it exactly (no tilt, no third object, no linear gradient).

Its settings live here only; ``ShapesEnv.real_data()`` imports this module inside the method.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..base import RealData

IMAGE_SIDE = 16
HALF_SIZE = 400  # images in each of the validation and test halves
VALIDATION_SEED, TEST_SEED = 160_001, 160_002  # fixed: every run sees the same halves

OBJECT_COUNTS = (1, 2, 3)  # equally likely; later objects occlude earlier ones
ELLIPSE_SHARE = 0.4  # of objects; the rest are rectangles
SIZE_MEDIAN, SIZE_LOG_SD, SIZE_CLIP = 4.0, 0.25, (2.5, 6.5)  # px, geometric mean of the half-axes
ASPECT_LOG2_SD, ASPECT_LOG2_CLIP = 0.4, 1.2  # log2(width / height) ~ clipped normal
TILT_DEGREES = 10.0  # each object turned uniformly within +-10 degrees
CONTRAST_MAGNITUDE = (0.25, 0.5)  # |object - background|, uniform
DARK_SHARE = 0.25  # objects darker than the background
BASE_LEVEL = (0.3, 0.6)  # background level at the image centre, uniform
GRADIENT_SPAN = (0.1, 0.3)  # change of lighting from one edge to the opposite one, random direction
SUPERSAMPLING = 4  # sub-pixels per side: edges are anti-aliased (area coverage)
OPTICS_SIGMA = 0.5  # px, Gaussian blur
SENSOR_NOISE = 0.03  # std per pixel


def _tilted_inside(px: np.ndarray, py: np.ndarray, obj: dict[str, np.ndarray], k: int) -> np.ndarray:
    """(n, len(py), len(px)) mask of the points inside object ``k`` of every image."""
    def col(a: np.ndarray) -> np.ndarray:
        return a[:, k, None, None]

    cos, sin = np.cos(col(obj["tilt"])), np.sin(col(obj["tilt"]))
    ox, oy = px[None, None, :] - col(obj["cx"]), py[None, :, None] - col(obj["cy"])
    u = (ox * cos + oy * sin) / col(obj["half_w"])  # coordinates in the object's own frame
    v = (-ox * sin + oy * cos) / col(obj["half_h"])
    ellipse = u ** 2 + v ** 2 <= 1.0
    rectangle = (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0)
    return np.where(col(obj["kind"]) == 1, ellipse, rectangle) & col(obj["present"])


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    radius = int(np.ceil(3 * sigma))
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(img, ((0, 0), (radius, radius), (radius, radius)), mode="reflect")
    side = img.shape[1]
    rows = sum(w * padded[:, i:i + side, :] for i, w in enumerate(kernel))
    return sum(w * rows[:, :, i:i + side] for i, w in enumerate(kernel))


def generate_target(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` target images, x float32 (n, 1, 16, 16) in [0, 1], and per-pixel labels y int64 (n, 16, 16)."""
    rng = np.random.default_rng(seed)
    m = max(OBJECT_COUNTS)
    counts = rng.choice(OBJECT_COUNTS, size=n)
    size = np.clip(SIZE_MEDIAN * np.exp(SIZE_LOG_SD * rng.standard_normal((n, m))), *SIZE_CLIP)
    aspect = 2.0 ** np.clip(ASPECT_LOG2_SD * rng.standard_normal((n, m)), -ASPECT_LOG2_CLIP, ASPECT_LOG2_CLIP)
    obj = {
        "present": np.arange(m)[None, :] < counts[:, None],
        "kind": np.where(rng.random((n, m)) < ELLIPSE_SHARE, 1, 2),
        "cx": rng.uniform(2.0, IMAGE_SIDE - 2.0, (n, m)),
        "cy": rng.uniform(2.0, IMAGE_SIDE - 2.0, (n, m)),
        "half_w": size * np.sqrt(aspect),
        "half_h": size / np.sqrt(aspect),
        "tilt": np.deg2rad(rng.uniform(-TILT_DEGREES, TILT_DEGREES, (n, m))),
    }
    contrast = rng.uniform(*CONTRAST_MAGNITUDE, (n, m)) * np.where(rng.random((n, m)) < DARK_SHARE, -1.0, 1.0)
    base = rng.uniform(*BASE_LEVEL, n)

    # Labels at pixel centres; intensities averaged over a finer grid (partial pixels at the edges).
    centres = np.arange(IMAGE_SIDE) + 0.5
    fine = (np.arange(IMAGE_SIDE * SUPERSAMPLING) + 0.5) / SUPERSAMPLING
    y = np.zeros((n, IMAGE_SIDE, IMAGE_SIDE), dtype=np.int64)
    offset = np.zeros((n, fine.size, fine.size))
    for k in range(m):
        inside = _tilted_inside(centres, centres, obj, k)
        y = np.where(inside, obj["kind"][:, k, None, None], y)
        offset = np.where(_tilted_inside(fine, fine, obj, k), contrast[:, k, None, None], offset)
    s = SUPERSAMPLING
    offset = offset.reshape(n, IMAGE_SIDE, s, IMAGE_SIDE, s).mean(axis=(2, 4))

    # Lighting: a linear ramp across the whole image (objects included), in a random direction.
    angle = rng.uniform(0.0, 2 * np.pi, n)
    span = rng.uniform(*GRADIENT_SPAN, n)
    rel = centres / IMAGE_SIDE - 0.5
    ramp = np.cos(angle)[:, None, None] * rel[None, None, :] + np.sin(angle)[:, None, None] * rel[None, :, None]
    x = base[:, None, None] + offset + span[:, None, None] * ramp
    x = _blur(x, OPTICS_SIGMA) + SENSOR_NOISE * rng.standard_normal(x.shape)
    return np.clip(x, 0.0, 1.0).astype(np.float32)[:, None], y


@lru_cache(maxsize=1)
def _halves() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x_val, y_val = generate_target(HALF_SIZE, VALIDATION_SEED)
    x_test, y_test = generate_target(HALF_SIZE, TEST_SEED)
    return x_val, y_val, x_test, y_test


def load_target() -> RealData:
    """``RealData(x_val, y_val, x_test, y_test)``: 400 + 400 target images with per-pixel labels.

    The halves are the same on every call (fixed seeds); each call returns fresh copies.
    """
    x_val, y_val, x_test, y_test = (a.copy() for a in _halves())
    return RealData(x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
