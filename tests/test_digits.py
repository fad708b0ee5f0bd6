"""feedback_loop/Digits-v0: output format, determinism, variants, parameters, real split."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from feedback_loop.envs.digits import VARIANTS, DigitsEnv, load_real_digits, uniform_params
from feedback_loop.envs.digits.env import FACTORS


@pytest.fixture(scope="module")
def env() -> DigitsEnv:
    return DigitsEnv()


def _assert_optdigits(x: np.ndarray, n: int) -> None:
    assert x.shape == (n, 1, 8, 8)
    assert x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 16
    assert np.array_equal(x, np.round(x)), "block counts must be integers"


# -- format and determinism --------------------------------------------------------------------------
def test_batch_format(env):
    x, y = env.sample_batch(None, 500, seed=0)
    _assert_optdigits(x, 500)
    assert y.dtype == np.int64 and y.shape == (500,)
    assert set(np.unique(y)) == set(range(10))
    counts = np.bincount(y, minlength=10)
    assert counts.max() - counts.min() <= 1, "classes are balanced"
    assert (x.reshape(500, -1).sum(1) > 0).all(), "every sample has ink"
    # the ink box is fitted to the 32x32 box: the longer side touches both edges
    ink = x[:, 0] > 0
    rows = ink.any(2)
    cols = ink.any(1)
    touches = (rows[:, 0] & rows[:, -1]) | (cols[:, 0] & cols[:, -1])
    assert touches.all()


def test_same_seed_same_batch_different_seed_differs(env):
    x1, y1 = env.sample_batch(None, 64, seed=7)
    x2, y2 = env.sample_batch(None, 64, seed=7)
    x3, y3 = env.sample_batch(None, 64, seed=8)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_observation_space_and_reset(env):
    assert env.observation_space.shape == (1, 8, 8)
    assert env.num_classes == 10
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert 0 <= info["label"] <= 9
    obs2, info2 = env.reset(seed=3)
    assert np.array_equal(obs, obs2) and info == info2
    obs3, *_ = env.step(0)
    assert env.observation_space.contains(obs3)


def test_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    check_env(DigitsEnv(), skip_render_check=True)


def test_registered_gym_id():
    import feedback_loop.envs  # noqa: F401  (registers the ids)

    e = gym.make("feedback_loop/Digits-v0")
    assert isinstance(e.unwrapped, DigitsEnv)


def test_gray28_output():
    e = DigitsEnv(output="gray28")
    x, y = e.sample_batch(None, 20, seed=0)
    assert x.shape == (20, 1, 28, 28) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and x.max() > 0.5
    with pytest.raises(ValueError, match="output"):
        DigitsEnv(output="rgb")


def test_bitmap32_output_block_counts_to_the_optdigits_sample():
    """The bitmap a refiner may edit is exactly the one behind the optdigits sample of the same seed."""
    params = {**DigitsEnv().nominal_params, "min_width_position": 0.3, "min_width_width": 0.5, "slant_width": 1.0}
    bitmaps, y_bitmaps = DigitsEnv(output="bitmap32").sample_batch(params, 50, seed=3)
    counts, y_counts = DigitsEnv().sample_batch(params, 50, seed=3)
    assert bitmaps.shape == (50, 1, 32, 32) and set(np.unique(bitmaps)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y_bitmaps, y_counts)
    np.testing.assert_array_equal(bitmaps.reshape(50, 1, 8, 4, 8, 4).sum(axis=(3, 5)), counts)


# -- variants ---------------------------------------------------------------------------------------
def test_every_variant_of_every_digit_renders(env):
    for digit, names in VARIANTS.items():
        assert len(names) >= 3, f"digit {digit} needs at least 3 structural variants"
        for v, name in enumerate(names):
            x = env.render_variant(digit, v, 8, seed=v)
            _assert_optdigits(x, 8)
            assert (x.reshape(8, -1).sum(1) >= 16).all(), f"{digit}/{name} renders (nearly) no ink"
            assert np.array_equal(x, env.render_variant(digit, name, 8, seed=v)), "names and ids agree"


def test_variants_differ_structurally(env):
    # same seed and geometry, different skeleton => different images (e.g. 7 with/without crossbar)
    a = env.render_variant(7, "plain", 16, seed=1)
    b = env.render_variant(7, "crossbar", 16, seed=1)
    assert np.abs(a - b).sum() > 16 * 10


def test_mixture_weights_select_variants(env):
    p = dict(env.nominal_params)
    for name in VARIANTS[7]:
        p[f"w7_{name}"] = 0.0
    p["w7_crossbar"] = 1.0
    _, y, v = env.sample_with_variants(p, 400, seed=0)
    assert (v[y == 7] == VARIANTS[7].index("crossbar")).all()
    # all-zero weights for a digit: uniform over its variants
    for name in VARIANTS[7]:
        p[f"w7_{name}"] = 0.0
    _, y, v = env.sample_with_variants(p, 2000, seed=0)
    assert set(np.unique(v[y == 7])) == set(range(len(VARIANTS[7])))


def test_render_variant_rejects_bad_ids(env):
    with pytest.raises(ValueError):
        env.render_variant(10, 0, 4, seed=0)
    with pytest.raises(ValueError):
        env.render_variant(1, "nonexistent", 4, seed=0)


# -- parameters ----------------------------------------------------------------------------------------
def test_param_space_contract(env):
    space = env.param_space
    assert isinstance(space, gym.spaces.Dict)
    for name, sp in space.spaces.items():
        assert isinstance(sp, gym.spaces.Box) and sp.shape == () and sp.dtype == np.float32, name
        assert sp.contains(np.array(env.nominal_params[name], dtype=np.float32)), name
    for factor in FACTORS:
        spec = env.ranges[factor]
        assert {spec.position, spec.width} <= set(space.spaces)
        assert float(space[spec.width].low) == 0.0 and float(space[spec.width].high) == 1.0
    env.check_params(env.nominal_params)


def test_per_sample_parameter_arrays(env):
    n = 300
    params = uniform_params(env.param_space, n, np.random.default_rng(0))
    x, y = env.sample_batch(params, n, seed=1)
    _assert_optdigits(x, n)
    # mixed: one array, the rest scalars
    x2, _ = env.sample_batch({"stroke_width_position": np.linspace(0, 1, n), "stroke_width_width": 0.0}, n, seed=1)
    _assert_optdigits(x2, n)
    # thicker strokes => more ink, per sample
    thin, _ = env.sample_batch(pinned(env, "stroke_width", 1.5), 100, seed=2)
    thick, _ = env.sample_batch(pinned(env, "stroke_width", 8.0), 100, seed=2)
    assert (thick.sum((1, 2, 3)) > thin.sum((1, 2, 3))).all()


def pinned(env, factor: str, value: float) -> dict[str, float]:
    """Parameters that pin ``factor`` at ``value`` (an interval of width 0)."""
    spec = env.ranges[factor]
    position, width = spec.encode(value, value)
    return {spec.position: position, spec.width: width}


def test_every_range_encoding_decodes_to_an_ordered_interval_and_distinct_encodings_differ(env):
    rng = np.random.default_rng(0)
    for factor, spec in env.ranges.items():
        position, width = rng.uniform(size=2000), rng.uniform(size=2000)
        a, b = spec.interval(position, width)
        assert (spec.low - 1e-9 <= a).all() and (a <= b).all() and (b <= spec.high + 1e-9).all(), factor
        # one to one: an interval encodes back to the encoding it came from (width < 1, a.s. here)
        back = np.array([spec.encode(float(lo), float(hi)) for lo, hi in zip(a, b)])
        np.testing.assert_allclose(back[:, 0], position, atol=1e-6)
        np.testing.assert_allclose(back[:, 1], width, atol=1e-9)
        # distinct encodings -> distinct intervals (no mirror images)
        pairs = np.round(np.stack([a, b], 1), 9)
        assert len(np.unique(pairs, axis=0)) == len(pairs), factor


def test_uniform_dr_draws_each_factor_uniformly_over_its_physical_bounds(env):
    from scipy import stats

    from feedback_loop.envs.generation import draw_per_sample_params
    from feedback_loop.policies import UniformDR

    (candidate,) = UniformDR(param_space=env.param_space, nominal_params=env.nominal_params, seed=0,
                             range_params=env.ranges).ask(1)
    n = 20_000
    params = draw_per_sample_params(env.param_space, env.check_params(candidate.params), candidate.ranges, n,
                                    np.random.default_rng(1))
    values = env.factor_values(params, n, seed=2)
    for factor, spec in env.ranges.items():
        unit = (values[factor] - spec.low) / (spec.high - spec.low)
        counts, _ = np.histogram(unit, bins=10, range=(0, 1))
        assert stats.chisquare(counts).pvalue > 1e-3, (factor, counts)  # flat, not triangular
        assert stats.kstest(unit, "uniform").pvalue > 1e-3, factor


def test_min_width_stretches_narrow_digits_to_it_and_leaves_wide_ones(env):
    """A 1 narrower than ``min_width`` × 32 px is stretched horizontally until its ink spans that
    width (as a bitmap normalizer that keeps a minimum width would); a digit already wider is the
    same bitmap; at 0 nothing is stretched."""
    upright = {**pinned(env, "slant", 0.0), **pinned(env, "rotation", 0.0), **pinned(env, "stroke_width", 3.0)}

    def ink_widths(digit, variant, min_width):
        bitmaps = env.render_variant(digit, variant, 50, seed=4, bitmaps=True,
                                     params={**upright, **pinned(env, "min_width", min_width)})
        ink = bitmaps.any(1)
        return bitmaps, ink.shape[1] - ink[:, ::-1].argmax(1) - ink.argmax(1)

    thin, thin_width = ink_widths(1, "stroke", 0.0)
    assert thin_width.max() < 12
    stretched, stretched_width = ink_widths(1, "stroke", 0.5)
    assert (stretched_width >= 16).all() and (stretched_width <= 17).all()
    assert (stretched.sum((1, 2)) > thin.sum((1, 2))).all()  # a bolder 1, same rows
    np.testing.assert_array_equal(stretched.any(2), thin.any(2))
    wide, wide_width = ink_widths(0, "oval", 0.0)
    assert (wide_width > 16).all()
    np.testing.assert_array_equal(ink_widths(0, "oval", 0.5)[0], wide)


def test_max_width_squeezes_wide_digits_into_one_column_band_and_wins_over_min_width(env):
    """A 0 wider than ``max_width`` × 32 px is squeezed horizontally (no ink column lost) until its ink
    spans that width, centred in the box, as a normalizer that fits every character into the same
    column band would; a narrower digit is left alone; where ``min_width`` asks for more, max wins."""
    upright = {**pinned(env, "slant", 0.0), **pinned(env, "rotation", 0.0), **pinned(env, "stroke_width", 3.0),
               **pinned(env, "aspect", 1.4)}

    def bitmaps(digit, variant, **widths):
        params = dict(upright)
        for factor, value in widths.items():
            params.update(pinned(env, factor, value))
        return env.render_variant(digit, variant, 50, seed=5, bitmaps=True, params=params)

    def extent(b):
        ink = b.any(1)
        left, right = ink.argmax(1), ink.shape[1] - 1 - ink[:, ::-1].argmax(1)
        return left, right, right - left + 1

    wide = bitmaps(0, "oval", max_width=1.0)
    assert (extent(wide)[2] > 20).all()
    squeezed = bitmaps(0, "oval", max_width=0.625)
    left, right, width = extent(squeezed)
    assert (width == 20).all() and (left == 6).all() and (right == 25).all(), (left, right)
    np.testing.assert_array_equal(squeezed.any(2), wide.any(2))  # same rows: only the width changes
    assert ((squeezed.sum(1) > 0).sum(1) == 20).all()  # every column of the band has ink: no gaps
    thin = bitmaps(1, "stroke", max_width=1.0)
    assert (extent(thin)[2] < 20).all()
    np.testing.assert_array_equal(bitmaps(1, "stroke", max_width=0.625), thin)
    both = bitmaps(1, "stroke", min_width=0.9, max_width=0.625)
    assert (extent(both)[2] == 20).all()


def test_squared_distance_is_the_exact_euclidean_distance_within_reach():
    """The separable two-pass distance equals scipy's exact Euclidean transform up to ``reach`` px."""
    from scipy.ndimage import distance_transform_edt

    from feedback_loop.envs.digits.render import _squared_distance

    rng = np.random.default_rng(0)
    mask = rng.random((20, 32, 32)) < 0.02
    mask[0] = False
    mask[0, 16, 16] = True  # one pixel: rings around it
    got = _squared_distance(torch.as_tensor(mask), 4).numpy().astype(float)
    for m, g in zip(mask, got):
        exact = np.round(distance_transform_edt(~m) ** 2) if m.any() else np.full(m.shape, np.inf)
        near = exact <= 16
        np.testing.assert_array_equal(g[near], exact[near])
        assert (g[~near] == 255).all()


def test_ink_normalization_thickens_light_and_thins_heavy_digits_within_reach(env):
    """With ``ink_reach`` > 0 the normalizer adds whole distance rings around light digits (a superset)
    and peels them off heavy ones (a subset) until the ink is nearest ``ink``; reach 0 is no change."""
    def bitmaps(ink, reach, stroke):
        params = {**pinned(env, "ink", ink), **pinned(env, "ink_reach", reach), **pinned(env, "stroke_width", stroke)}
        b, _ = env.bitmaps(params, 200, seed=3)
        return b.astype(bool)

    thin, heavy = bitmaps(0.3, 0.0, 1.5), bitmaps(0.3, 0.0, 9.0)
    assert thin.mean() < 0.2 and heavy.mean() > 0.4  # as drawn, far from 30% ink
    np.testing.assert_array_equal(bitmaps(0.5, 0.0, 1.5), thin)  # no reach, no change
    thickened, thinned = bitmaps(0.3, 4.0, 1.5), bitmaps(0.3, 4.0, 9.0)
    assert (thickened >= thin).all() and (thinned <= heavy).all()
    for drawn, normalized in ((thin, thickened), (heavy, thinned)):
        before, after = drawn.mean((1, 2)), normalized.mean((1, 2))
        assert abs(np.median(after) - 0.3) < 0.03, np.percentile(after, [0, 50, 100])
        assert (np.abs(after - 0.3) <= np.abs(before - 0.3)).all()  # whole rings: never farther than drawn
    one_px = bitmaps(0.3, 1.0, 1.5)  # reach 1: at most one ring of neighbours added
    assert (one_px >= thin).all() and one_px.mean() < thickened.mean()


def test_ink_normalization_reaches_exactly_reach_px_and_does_not_depend_on_the_batch():
    from feedback_loop.envs.digits.render import normalize_ink

    hairline = torch.zeros(1, 32, 32, dtype=torch.uint8)
    hairline[0, 4:28, 16] = 1
    for reach, columns in ((0.5, 1), (1.0, 3), (2.0, 5), (4.0, 9)):  # a 1-px bar grows by reach on each side
        out = normalize_ink(hairline, torch.tensor([0.9]), torch.tensor([reach]))[0]
        assert int(out.any(0).sum()) == columns, (reach, int(out.any(0).sum()))
    bar = torch.zeros(1, 32, 32, dtype=torch.uint8)
    bar[0, 4:28, 10:21] = 1  # 11 columns: thinning by 2 px leaves 7
    thinned = normalize_ink(bar, torch.tensor([0.01]), torch.tensor([2.0]))[0]
    assert int(thinned.any(0).sum()) == 7 and (thinned <= bar[0]).all()
    rng = np.random.default_rng(1)
    batch = torch.as_tensor(rng.random((40, 32, 32)) < 0.1).to(torch.uint8)
    ink, reach = torch.as_tensor(rng.uniform(0.1, 0.6, 40)), torch.as_tensor(rng.choice([0.0, 1.0, 2.5, 4.0], 40))
    together = normalize_ink(batch, ink, reach)
    for i in range(40):
        assert torch.equal(normalize_ink(batch[i:i + 1], ink[i:i + 1], reach[i:i + 1])[0], together[i]), i


def test_deslant_removes_its_strength_of_the_measured_slant_and_stands_digits_upright(env):
    """``deslant`` shears by a fraction of the ink's second-moment slant: a leaning line loses that
    fraction of its lean, and fully corrected digits of any slant come out upright."""
    from feedback_loop.envs.digits.render import deslant

    y = torch.linspace(-0.5, 0.5, 41)[None].repeat(3, 1)
    x = 0.3 * y + torch.tensor([[0.0], [0.1], [-0.2]])  # leaning lines at three places
    for strength in (0.0, 0.5, 1.0):
        out = deslant(x, y, torch.full((3,), strength))
        torch.testing.assert_close(out - out.mean(1, keepdim=True), (1 - strength) * 0.3 * y, atol=1e-6, rtol=0)
        torch.testing.assert_close(out.mean(1), x.mean(1), atol=1e-6, rtol=0)  # sheared about its own centre

    def moment_slant(bitmaps):  # cov(x, y) / var(y) of each bitmap's ink, y down
        rows, cols = np.mgrid[0:32, 0:32]
        w = bitmaps.reshape(len(bitmaps), -1).astype(float)
        w /= w.sum(1, keepdims=True)
        mx, my = w @ cols.ravel(), w @ rows.ravel()
        dx, dy = cols.ravel() - mx[:, None], rows.ravel() - my[:, None]
        return (w * dx * dy).sum(1) / (w * dy * dy).sum(1)

    leaning = {**pinned(env, "slant", 30.0), **pinned(env, "rotation", 0.0)}
    drawn = moment_slant(env.bitmaps(leaning, 200, seed=3)[0])
    upright = moment_slant(env.bitmaps({**leaning, **pinned(env, "deslant", 1.0)}, 200, seed=3)[0])
    assert np.median(np.abs(drawn)) > 0.3 and np.median(np.abs(upright)) < 0.05, (np.median(drawn), np.median(upright))


def test_extreme_corners_render(env):
    for pick in (lambda sp: float(sp.low), lambda sp: float(sp.high)):
        p = {k: pick(sp) for k, sp in env.param_space.spaces.items()}
        x, _ = env.sample_batch(p, 100, seed=0)
        _assert_optdigits(x, 100)
        assert (x.reshape(100, -1).sum(1) > 0).all()


@pytest.mark.parametrize(
    "params, name",
    [
        ({"slant_position": 1.5}, "slant_position"),
        ({"stroke_width_width": -0.1}, "stroke_width_width"),
        ({"w1_flag": -0.5}, "w1_flag"),
        ({"elastic_wavelength": float("nan")}, "elastic_wavelength"),
        ({"not_a_param": 1.0}, "not_a_param"),
        ({"rotation_width": np.zeros(3)}, "rotation_width"),  # wrong per-sample length
    ],
)
def test_bad_params_raise_naming_the_parameter(env, params, name):
    with pytest.raises(ValueError, match=name):
        env.sample_batch(params, 10, seed=0)


# -- the real split -------------------------------------------------------------------------------------
def test_real_split():
    real = DigitsEnv().real_data()
    assert len(real.x_val) + len(real.x_test) == 1797
    for x, y in ((real.x_val, real.y_val), (real.x_test, real.y_test)):
        assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8)
        assert y.dtype == np.int64
        assert x.min() >= 0 and x.max() <= 16 and np.array_equal(x, np.round(x))
    # stratified
    cv = np.bincount(real.y_val, minlength=10)
    ct = np.bincount(real.y_test, minlength=10)
    assert np.abs(cv - ct).max() <= 1
    # disjoint: no image of one half is (as a row of the original set) in the other
    from sklearn.datasets import load_digits

    d = load_digits()
    keys = {row.tobytes(): i for i, row in enumerate(d.images.astype(np.float32).reshape(len(d.images), -1))}
    iv = {keys[r.tobytes()] for r in real.x_val.reshape(len(real.x_val), -1)}
    it = {keys[r.tobytes()] for r in real.x_test.reshape(len(real.x_test), -1)}
    assert not iv & it
    # fixed across calls
    again = load_real_digits()
    assert np.array_equal(again.x_val, real.x_val) and np.array_equal(again.y_test, real.y_test)
