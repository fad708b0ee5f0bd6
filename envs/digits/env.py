"""``feedback_loop/Digits-v0``: a procedural handwriting simulator that imitates UCI optdigits.

Each digit has several hand-drawn stroke skeletons (structural variants, see ``glyphs.py``); the
generation parameters set the *distributions* the simulator samples from: the mixture weights of
the variants of every digit, and an interval for every geometric factor (slant, rotation, aspect
ratio, stroke width, control-point jitter, elastic deformation, waist height, the normalizer's
minimum and maximum width, its stroke-width normalization's target ink and reach, its slant
correction's strength), from which each sample draws uniformly. An interval is encoded one to one
by ``{factor}_width`` (the fraction of the physical bounds it covers) and ``{factor}_position``
(where it sits; see ``envs/ranges.py``), so it is always ordered. Uniform domain randomization is
a member of this family: every width at 1.

Output: the optdigits format exactly, (1, 8, 8) float32 integer counts 0..16 of on-pixels in 4x4
blocks of a 32x32 binary bitmap into which the digit's ink box is fitted. ``output="gray28"``
gives a 28x28 grayscale image instead (see ``DigitsEnv.__init__``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from gymnasium import spaces

from ..base import RealData, Simulator
from ..ranges import RangeParam
from .glyphs import VARIANTS
from .real import SPLIT_SEED, load_real_digits
from .render import INK_REACH_MAX, RADIUS_GROUPS, Renderer, to_tensor

# name -> (unit, physical lower bound, physical upper bound, nominal low, nominal high, meaning)
FACTORS: dict[str, tuple[str, float, float, float, float, str]] = {
    "slant": ("degrees", -45.0, 45.0, -5.0, 20.0,
              "shear of the writing: positive leans the top to the right"),
    "rotation": ("degrees", -30.0, 30.0, -8.0, 8.0,
                 "rotation of the whole digit (counter-clockwise on the page for positive)"),
    "aspect": ("ratio", 0.4, 1.8, 0.75, 1.25,
               "width multiplier of the skeleton before fitting into the 32x32 box"),
    "stroke_width": ("px of the 32x32 bitmap", 1.0, 10.0, 3.0, 6.0,
                     "pen stroke diameter after size normalization"),
    "jitter": ("fraction of digit height", 0.0, 0.1, 0.0, 0.03,
               "std. dev. of independent Gaussian displacement of every control point"),
    "elastic": ("fraction of digit height", 0.0, 0.15, 0.0, 0.05,
                "amplitude (RMS per axis) of a smooth random displacement field"),
    "waist": ("fraction of digit height", -0.2, 0.2, -0.08, 0.08,
              "moves the middle of the digit up (negative) or down (positive): loop sizes of 8, 9, 6, 3"),
    "min_width": ("fraction of the 32-px box", 0.0, 1.0, 0.0, 0.0,
                  "narrowest ink the size normalization keeps: narrower digits (a 1) are stretched to it"),
    "max_width": ("fraction of the 32-px box", 0.5, 1.0, 1.0, 1.0,
                  "widest ink the size normalization keeps: wider digits (a 0) are squeezed to it; wins over min_width"),
    "ink": ("fraction of the 32x32 box", 0.1, 0.6, 0.25, 0.35,
            "ink the stroke-width normalization aims at: lighter digits are thickened, heavier ones thinned"),
    "ink_reach": ("px of the 32x32 bitmap", 0.0, float(INK_REACH_MAX), 0.0, 0.0,
                  "farthest the stroke-width normalization thickens or thins a stroke (0: no normalization)"),
    "deslant": ("fraction of the measured slant", 0.0, 1.0, 0.0, 0.0,
                "how much of the digit's slant the normalizer removes by shearing it upright (0: none, 1: all)"),
}

# Scalar (non-range) continuous parameters: name -> (unit, low, high, nominal, meaning)
SCALARS: dict[str, tuple[str, float, float, float, str]] = {
    "elastic_wavelength": ("digit heights", 0.3, 2.0, 0.8,
                           "wavelength of the elastic field: small is wiggly, large is a gentle bend"),
}

# Designer's prior on how common each structural variant is (not measured on any data).
NOMINAL_VARIANT_WEIGHTS: dict[int, tuple[float, ...]] = {
    0: (1.0, 0.5, 0.1),
    1: (0.6, 1.0, 0.6, 0.4),
    2: (1.0, 0.5, 0.2, 0.3),
    3: (1.0, 0.6, 0.3),
    4: (1.0, 0.6, 0.6),
    5: (1.0, 0.6, 0.2),
    6: (1.0, 0.6, 0.6),
    7: (1.0, 0.4, 0.3, 0.4),
    8: (1.0, 0.8, 0.5),
    9: (1.0, 0.6, 0.6),
}


def variant_param(digit: int, variant: str) -> str:
    """Name of the mixture-weight parameter of one variant, e.g. ``w7_crossbar``."""
    return f"w{digit}_{variant}"


def _box(low: float, high: float) -> spaces.Box:
    return spaces.Box(low=np.float32(low), high=np.float32(high), shape=(), dtype=np.float32)


RANGES: dict[str, RangeParam] = {
    name: RangeParam(f"{name}_position", f"{name}_width", lo, hi) for name, (_, lo, hi, _, _, _) in FACTORS.items()
}


def build_param_space() -> tuple[spaces.Dict, dict[str, float]]:
    entries: dict[str, spaces.Space] = {}
    nominal: dict[str, float] = {}
    for name, (_, _, _, nlo, nhi, _) in FACTORS.items():
        spec = RANGES[name]
        entries[spec.position] = _box(0.0, 1.0)
        entries[spec.width] = _box(0.0, 1.0)
        nominal[spec.position], nominal[spec.width] = spec.encode(nlo, nhi)
    for name, (_, lo, hi, nom, _) in SCALARS.items():
        entries[name] = _box(lo, hi)
        nominal[name] = nom
    for d in range(10):
        for v, w in zip(VARIANTS[d], NOMINAL_VARIANT_WEIGHTS[d]):
            entries[variant_param(d, v)] = _box(0.0, 1.0)
            nominal[variant_param(d, v)] = w
    return spaces.Dict(entries), nominal


OUTPUTS = ("optdigits", "gray28", "bitmap32")  # see DigitsEnv's docstring


class DigitsEnv(Simulator):
    """Procedural handwritten digits in the UCI optdigits format (see the module docstring and
    ``envs/digits/README.md`` for every parameter).

    Args:
        device: torch device the batch renderer runs on ("cpu", or "cuda" in a GPU generator).
        output: "optdigits" (default): (1, 8, 8) block counts 0..16, exactly the real data's format;
            "gray28": (1, 28, 28) float32 in [0, 1], the 32x32 bitmap box-filtered to 28x28
            (a grayscale view for learners that want one; ``real_data`` stays 8x8);
            "bitmap32": (1, 32, 32) float32 in {0, 1}, the binary bitmap itself, whose 4x4 block sums
            are exactly the "optdigits" output (for refiners that edit the bitmap before the count).
        split_seed: seed of the validation/test split of the real digits.
    """

    metadata = {"render_modes": []}
    num_classes = 10
    ranges = RANGES
    # Bumped whenever the same parameters and seed render different data (shards, exports and
    # caches record it): 2 added min_width, 3 max_width, 4 ink and ink_reach (stroke-width
    # normalization), 5 deslant (slant correction); each also changed every sample's random draws.
    version = 5

    def __init__(self, device: str = "cpu", output: str = "optdigits", split_seed: int = SPLIT_SEED) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")
        self.device = torch.device(device)
        self.output = output
        self.split_seed = int(split_seed)
        self.param_space, self.nominal_params = build_param_space()
        if output == "optdigits":
            self.observation_space = spaces.Box(low=0.0, high=16.0, shape=(1, 8, 8), dtype=np.float32)
        else:
            side = 28 if output == "gray28" else 32
            self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(1, side, side), dtype=np.float32)
        self._renderer = Renderer(self.device)

    # -- the contract -------------------------------------------------------------------------------
    def sample_batch(self, params: Mapping | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples: x float32 (n, 1, 8, 8) integer counts 0..16, y int64 (n,), classes balanced.

        Every parameter may be a scalar or an (n,) array of per-sample values.
        """
        x, y, _ = self._sample(params, n, seed)
        return x, y

    def real_data(self) -> RealData:
        return load_real_digits(self.split_seed)

    # -- extras ---------------------------------------------------------------------------------------
    def factor_values(self, params: Mapping | None, n: int, seed: int) -> dict[str, np.ndarray]:
        """The per-sample values of every geometric factor that ``sample_batch(params, n, seed)`` draws."""
        _, _, _, factors = self._sample(params, n, seed, factors=True)
        return factors

    def sample_with_variants(self, params: Mapping | None, n: int, seed: int):
        """Like ``sample_batch`` but also returns the (n,) variant index of every sample."""
        return self._sample(params, n, seed)

    def render_variant(self, digit: int, variant: int | str, n: int, seed: int, params: Mapping | None = None,
                       bitmaps: bool = False) -> np.ndarray:
        """``n`` samples of one structural variant of one digit (x only), other parameters as given."""
        if not 0 <= int(digit) <= 9:
            raise ValueError(f"digit must be in 0..9, got {digit!r}")
        names = VARIANTS[int(digit)]
        v = names.index(variant) if isinstance(variant, str) else int(variant)
        if not 0 <= v < len(names):
            raise ValueError(f"digit {digit} has variants {names}; got {variant!r}")
        labels = torch.full((n,), int(digit), dtype=torch.int64, device=self.device)
        forced = torch.full((n,), v, dtype=torch.int64, device=self.device)
        x, _, _ = self._sample(params, n, seed, labels=labels, forced=forced, bitmaps=bitmaps)
        return x

    def bitmaps(self, params: Mapping | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The (n, 32, 32) uint8 binary bitmaps behind ``sample_batch`` (same seed => same digits)."""
        x, y, _ = self._sample(params, n, seed, bitmaps=True)
        return x, y

    # -- internals ------------------------------------------------------------------------------------
    def _sample(self, params, n: int, seed: int, labels=None, forced=None, bitmaps: bool = False, factors: bool = False):
        n = int(n)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        p = self.check_params(params, n)
        dev = self.device
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed) % (2**63))
        if labels is None:
            # balanced classes in random order; the random offset keeps one-sample batches (reset) unbiased
            offset = torch.randint(10, (1,), generator=gen, device=dev)
            labels = ((torch.randperm(n, generator=gen, device=dev) + offset) % 10).to(torch.int64)
        else:
            torch.randint(10, (1,), generator=gen, device=dev)  # keep the random stream aligned
            torch.randperm(n, generator=gen, device=dev)
        u = torch.rand(n, len(FACTORS), generator=gen, device=dev)
        f: dict[str, torch.Tensor] = {}
        for j, name in enumerate(FACTORS):
            spec = RANGES[name]
            lo, hi = spec.interval(p[spec.position], p[spec.width])
            lo, hi = to_tensor(lo, n, dev), to_tensor(hi, n, dev)
            f[name] = lo + (hi - lo) * u[:, j]  # uniform on the ordered interval [lo, hi]
        for name in SCALARS:
            f[name] = to_tensor(p[name], n, dev)
        if factors:  # before rendering: the renderer may change them in place
            drawn = {name: f[name].cpu().numpy().copy() for name in FACTORS}
        vmax = max(len(v) for v in VARIANTS.values())
        weights = torch.zeros(n, 10, vmax, device=dev)
        for d in range(10):
            for k, v in enumerate(VARIANTS[d]):
                weights[:, d, k] = to_tensor(p[variant_param(d, v)], n, dev)
        out, variant = self._renderer.render(labels, weights, f, gen, forced_variant=forced,
                                             bitmaps=bitmaps or self.output != "optdigits")
        if factors:
            return None, labels.cpu().numpy(), variant.cpu().numpy(), drawn
        if bitmaps:
            return out.cpu().numpy(), labels.cpu().numpy(), variant.cpu().numpy()
        if self.output == "gray28":
            # 32 -> 28 by area averaging: a grayscale, anti-aliased view of the same binary bitmap
            g = torch.nn.functional.interpolate(out[:, None].float(), size=(28, 28), mode="area")
            x = g.clamp(0, 1).to(torch.float32)
        else:  # optdigits counts or the bitmap32 bitmap, made float32 below
            x = out[:, None]
        return x.cpu().numpy().astype(np.float32, copy=False), labels.cpu().numpy(), variant.cpu().numpy()

    @staticmethod
    def variants() -> dict[int, tuple[str, ...]]:
        """digit -> names of its structural variants (index = variant id)."""
        return dict(VARIANTS)


def uniform_params(param_space: spaces.Dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-sample parameters drawn uniformly over a param space (the uniform-DR baseline)."""
    return {
        name: rng.uniform(float(sp.low), float(sp.high), size=n).astype(np.float64)
        for name, sp in param_space.spaces.items()
    }


__all__ = ["DigitsEnv", "FACTORS", "RANGES", "SCALARS", "NOMINAL_VARIANT_WEIGHTS", "variant_param", "uniform_params",
           "RADIUS_GROUPS"]
