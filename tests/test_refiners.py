"""Refiners: the contract suite (``feedback_loop.testing.RefinerContract``) over every refiner, then SimGAN
specifics and the Ray actor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from feedback_loop.refiners import (REFINERS, HistoryBuffer, IdentityRefiner, Refiner, SimGANConfig, SimGANRefiner,
                                    load_state, load_weights, make_refiner, save_state, save_weights)
from feedback_loop.testing import RefinerContract

# Tiny sizes: every fit below takes well under a second on one CPU thread.
TINY = dict(channels=8, blocks=1, batch_size=16, pretrain_refiner_steps=5, pretrain_disc_steps=5, steps=10,
            history_size=64)

FACTORIES = {
    "none": lambda **kw: IdentityRefiner(),
    "simgan": lambda **kw: SimGANRefiner(SimGANConfig(**{**TINY, **kw})),
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """64 synthetic digits (nominal parameters) and 64 unlabeled real validation digits, counts 0..16."""
    from feedback_loop.envs.digits import DigitsEnv

    env = DigitsEnv()
    x, y = env.sample_batch(env.nominal_params, 64, seed=0)
    return x, y, env.real_data().x_val[:64]


def test_every_registered_refiner_is_in_the_contract_suite():
    assert set(FACTORIES) == set(REFINERS)


# -- the contract: feedback_loop.testing.RefinerContract over every refiner -----------------------------------
class TestBuiltinRefiners(RefinerContract):
    """Every rule of the contract, for every refiner in ``REFINERS`` (tiny SimGAN sizes)."""

    @pytest.fixture(params=sorted(FACTORIES))
    def name(self, request):
        return request.param

    @pytest.fixture
    def make_refiner(self, name):
        return lambda seed: FACTORIES[name](seed=seed)

    @pytest.fixture(scope="class")
    def refiner_data(self, digits):
        return digits

    def test_is_a_refiner_made_by_name(self, name):
        assert isinstance(make_refiner(name, TINY if name == "simgan" else None), Refiner)
        assert make_refiner(name, TINY if name == "simgan" else None).name == name


def test_identity_refiner_passes_batches_through(digits):
    x, _, real = digits
    refiner = IdentityRefiner()
    assert refiner.fit(x, real) == [] and refiner.state_dict() == {}
    out = refiner.refine(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    np.testing.assert_array_equal(refiner.realism(x), 0.5)  # no discriminator: cannot tell


def test_unknown_refiner_and_option_are_named():
    with pytest.raises(ValueError, match="unknown refiner 'cyclegan'"):
        make_refiner("cyclegan")
    with pytest.raises(ValueError, match="refiner option 'lamda' is unknown"):
        make_refiner("simgan", {"lamda": 1.0})
    with pytest.raises(ValueError, match="k_g must be >= 1"):
        SimGANConfig(k_g=0)


def test_config_fields_are_documented():
    import inspect

    source = inspect.getsource(SimGANConfig)
    for field in SimGANConfig.__dataclass_fields__:
        assert f"    {field}:" in source
        after = source.split(f"    {field}:", 1)[1].splitlines()[1].strip()
        assert after.startswith('"""'), f"SimGANConfig.{field} has no docstring"


# -- SimGAN specifics ------------------------------------------------------------------------------------
def test_untrained_refiner_is_the_identity_and_refuses_before_fit(digits):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**TINY))
    with pytest.raises(RuntimeError, match="fit"):
        refiner.refine(x)
    refiner.fit(x, real, steps=0)  # pretraining only: the zero-initialized head starts at R(x) = x
    assert np.abs(refiner.refine(x) - x).mean() < 0.25  # counts (0..16)


def test_self_regularization_keeps_refined_samples_close(digits):
    x, _, real = digits
    loose = SimGANRefiner(SimGANConfig(**{**TINY, "lambda_reg": 0.0, "steps": 30}))
    tight = SimGANRefiner(SimGANConfig(**{**TINY, "lambda_reg": 100.0, "steps": 30}))
    loose.fit(x, real)
    tight.fit(x, real)
    tight_l1 = np.abs(tight.refine(x) - x).mean()
    assert tight_l1 < 0.3  # counts: a fraction of one on-pixel per 4x4 block
    assert tight_l1 < np.abs(loose.refine(x) - x).mean()


def test_fit_records_pretraining_and_adversarial_losses(digits):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**TINY))
    records = refiner.fit(x, real)
    cfg = refiner.config
    assert len(records) == cfg.pretrain_refiner_steps + cfg.pretrain_disc_steps + cfg.steps
    assert [r["step"] for r in records] == list(range(len(records)))
    assert "pretrain_refiner_reg" in records[0] and "pretrain_disc_loss" in records[cfg.pretrain_refiner_steps]
    assert {"refiner_adv", "refiner_reg", "disc_loss", "realism_real", "realism_refined"} <= set(records[-1])
    assert all(np.isfinite(v) for r in records for v in r.values())
    more = refiner.fit(x, real, steps=3)  # continues: no second pretraining, steps go on counting
    assert [r["step"] for r in more] == [len(records), len(records) + 1, len(records) + 2]
    assert len(refiner.losses) == len(records) + 3


def test_round_output_gives_integer_counts(digits):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**{**TINY, "round_output": True}))
    refiner.fit(x, real)
    out = refiner.refine(x)
    np.testing.assert_array_equal(out, np.round(out))


def test_input_scale_sets_the_valid_range():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 1, 6, 6)).astype(np.float32)
    refiner = SimGANRefiner(SimGANConfig(**{**TINY, "input_scale": 1.0}))
    refiner.fit(x, rng.uniform(0, 1, (32, 1, 6, 6)).astype(np.float32))
    out = refiner.refine(x)
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0


def test_refine_refuses_another_sample_shape(digits):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**TINY))
    with pytest.raises(ValueError, match="synthetic samples have shape"):
        refiner.fit(x, real[:, :, :4, :4])
    refiner.fit(x, real)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        refiner.refine(np.zeros((2, 1, 6, 6), dtype=np.float32))


def test_bitmap_refiner_is_judged_on_the_block_counts_real_digits_exist_as(digits):
    """pool + binarize: the refiner edits the 32x32 bitmap, the discriminator sees its 8x8 block counts."""
    from feedback_loop.envs.digits import DigitsEnv

    env = DigitsEnv(output="bitmap32")
    bitmaps, _ = env.sample_batch(env.nominal_params, 64, seed=0)
    real = digits[2]
    config = {**TINY, "pool": 4, "binarize": True, "input_scale": 1.0, "real_input_scale": 1 / 16, "steps": 20}
    refiner = SimGANRefiner(SimGANConfig(**config))
    with pytest.raises(ValueError, match="with pool 4 they need \\(1, 8, 8\\)"):
        refiner.fit(bitmaps, bitmaps)
    records = refiner.fit(bitmaps, real)
    assert all(np.isfinite(v) for r in records for v in r.values())
    refined = refiner.refine(bitmaps)
    assert refined.shape == bitmaps.shape and set(np.unique(refined)) <= {0.0, 1.0}  # still a bitmap
    counts = refined.reshape(64, 1, 8, 4, 8, 4).sum(axis=(3, 5))
    assert counts.max() <= 16
    # realism of a refined bitmap is the realism of its counts, judged like real counts
    counts_realism = refiner.realism(counts)
    np.testing.assert_allclose(refiner.realism(refined), counts_realism, atol=1e-5)
    assert refiner.realism(real).shape == (64,)


def test_pool_and_scales_are_checked():
    with pytest.raises(ValueError, match="SimGANConfig.pool must be >= 1, got 0"):
        SimGANConfig(pool=0)
    with pytest.raises(ValueError, match="SimGANConfig.real_input_scale must be > 0, got -1"):
        SimGANConfig(real_input_scale=-1)


def test_history_buffer_fills_then_replaces_old_entries():
    buffer = HistoryBuffer(8, torch.Generator().manual_seed(0))
    buffer.push(torch.zeros(5, 1, 2, 2))
    assert len(buffer) == 5
    buffer.push(torch.ones(5, 1, 2, 2))
    assert len(buffer) == 8
    assert buffer.data.sum().item() == 5 * 4  # 3 appended, 2 overwrote random old (zero) entries...
    assert (buffer.data.flatten(1).sum(1) == 4).sum().item() == 5  # ...so five entries are ones


def test_history_buffer_mixes_half_old_half_new():
    buffer = HistoryBuffer(20, torch.Generator().manual_seed(0))
    batch = buffer.mix(torch.ones(10, 1, 2, 2))  # empty buffer: the batch is all fresh
    assert batch.shape == (10, 1, 2, 2) and batch.sum().item() == 10 * 4
    buffer.push(torch.ones(15, 1, 2, 2))  # now full of old (ones) samples
    assert len(buffer) == 20
    batch = buffer.mix(torch.zeros(10, 1, 2, 2))
    per_sample = batch.flatten(1).sum(1)
    assert per_sample[:5].tolist() == [0] * 5  # half new
    assert per_sample[5:].tolist() == [4] * 5  # half from the history
    assert (buffer.data.flatten(1).sum(1) == 0).sum().item() == 5  # half of the fresh ones went in


def test_discriminator_batches_come_from_the_history(digits):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**{**TINY, "history_size": 40}))
    refiner.fit(x, real)
    assert len(refiner.history) == 40  # 5 + 10 discriminator steps, 8 refined samples each, capped


def test_load_weights_refuses_foreign_files(digits, tmp_path):
    x, _, real = digits
    refiner = SimGANRefiner(SimGANConfig(**TINY))
    refiner.fit(x, real)
    path = save_weights(refiner, tmp_path / "w.npz")
    with pytest.raises(ValueError, match="holds weights of refiner 'simgan', not 'none'"):
        load_weights(IdentityRefiner(), path)
    with pytest.raises(ValueError, match="has shape"):
        load_weights(SimGANRefiner(SimGANConfig(**{**TINY, "channels": 4})), path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read refiner weights"):
        load_weights(refiner, pickled)
    with pytest.raises(ValueError, match="cannot read refiner weights"):
        load_weights(refiner, tmp_path / "missing.npz")


def test_refinement_grid_writes_a_png_and_returns_the_figure(digits, tmp_path):
    from matplotlib.figure import Figure

    from feedback_loop.refiners.grid import refinement_grid

    x, _, real = digits
    fig = refinement_grid(x, np.clip(x + 1, 0, 16), real, tmp_path / "grid.png", columns=5, rows=1, title="t")
    assert isinstance(fig, Figure)
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refinement_grid_scales_to_the_images_so_0_to_1_images_are_not_washed_out():
    from feedback_loop.refiners.grid import refinement_grid

    eyes = np.random.default_rng(0).uniform(0.0, 0.8, size=(10, 1, 6, 10)).astype(np.float32)
    fig = refinement_grid(eyes, eyes * 0.5, eyes, None, columns=5, rows=1, cmap="gray")
    shown = [ax.images[0] for sub in fig.subfigs for ax in sub.axes if ax.images]
    raw = shown[0]
    assert raw.norm.vmax == pytest.approx(float(eyes[:5].max())) and raw.get_cmap().name == "gray"  # the 5 shown


# -- the actor ---------------------------------------------------------------------------------------------
def test_refiner_actor_refines_a_stream_of_shards(ray_session, digits, tmp_path):
    ray = ray_session
    from feedback_loop.envs.digits import DigitsEnv
    from feedback_loop.refiners.actor import RefinerActor

    _, _, real = digits
    env = DigitsEnv()
    shards = [ray.put(env.sample_batch(env.nominal_params, 24, seed=s)) for s in range(4)]
    # A logical GPU share: without CUDA the actor runs on CPU.
    actor = RefinerActor.options(num_cpus=0.5, num_gpus=0.5).remote("simgan", TINY, num_cpus=1)
    summary = ray.get(actor.fit.remote(shards[0], shards[1], real))
    assert summary["samples"] == 48 and summary["real_samples"] == len(real) and "disc_loss" in summary
    assert ray.get(actor.device_name.remote()) == ("cuda" if torch.cuda.is_available() else "cpu")

    refined_refs = [actor.refine.remote(ref) for ref in shards]  # ObjectRefs in, ObjectRefs out
    for ref, refined_ref in zip(shards, refined_refs):
        (x, y), (xr, yr) = ray.get(ref), ray.get(refined_ref)
        assert xr.shape == x.shape and xr.dtype == np.float32 and xr.min() >= 0 and xr.max() <= 16
        np.testing.assert_array_equal(yr, y)

    realism = ray.get(actor.realism.remote(refined_refs[0]))
    assert isinstance(realism, float) and 0 <= realism <= 1
    losses = ray.get(actor.losses.remote())
    assert len(losses) == TINY["pretrain_refiner_steps"] + TINY["pretrain_disc_steps"] + TINY["steps"]
    assert all("step" in r for r in losses)

    weights = ray.get(actor.get_weights.remote())
    assert weights and all(isinstance(v, np.ndarray) for v in weights.values())
    local = SimGANRefiner(SimGANConfig(**{**TINY, "seed": 9}))
    local.load_state_dict(weights)  # the actor's weights are complete: the same refinement here
    np.testing.assert_array_equal(local.refine(ray.get(shards[2])[0]), ray.get(refined_refs[2])[0])
    path = save_state(weights, "simgan", tmp_path / "refiner.npz")  # as the driver checkpoints them
    name, loaded = load_state(path)
    assert name == "simgan"
    ray.get(actor.set_weights.remote(loaded))
    with pytest.raises(ray.exceptions.RayTaskError, match="shard"):
        ray.get(actor.refine.remote(np.zeros((2, 1, 8, 8), dtype=np.float32)))
    ray.kill(actor)
