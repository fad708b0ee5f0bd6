"""``RefinerContract``: the rules every refiner must follow, as a pytest test class.

Override the ``make_refiner`` fixture with a factory ``make_refiner(seed) -> Refiner`` (keep it
small: every test fits one or two refiners). ``refiner_data`` gives ``(synthetic, labels,
real_unlabeled)`` batches ``(N, C, H, W)``, by default 64 synthetic and 64 real optdigits (counts
0..16); ``value_range`` is the inputs' valid range, ``(0.0, 16.0)`` by default. Override both for
other data.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from feedback_loop.refiners.base import Refiner, load_weights, save_weights

RefinerFactory = Callable[[int], Refiner]


class RefinerContract:
    """Base of a pytest test class: every rule of the Refiner contract, run on ``make_refiner``'s refiner."""

    @pytest.fixture
    def make_refiner(self) -> RefinerFactory:
        """Override: return ``lambda seed: MyRefiner(seed=seed)``."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'make_refiner' fixture of RefinerContract"
        )

    @pytest.fixture(scope="class")
    def refiner_data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """64 synthetic digits (nominal parameters), their labels, and 64 unlabeled real validation digits."""
        from feedback_loop.envs.digits import DigitsEnv

        env = DigitsEnv()
        x, y = env.sample_batch(env.nominal_params, 64, seed=0)
        return x, y, env.real_data().x_val[:64]

    @pytest.fixture
    def value_range(self) -> tuple[float, float]:
        """The valid range of the inputs, which ``refine`` must keep."""
        return 0.0, 16.0

    def test_is_a_refiner(self, make_refiner):
        """Rule: a refiner subclasses feedback_loop.refiners.Refiner, with a name and a bool has_discriminator."""
        refiner = make_refiner(0)
        assert isinstance(refiner, Refiner), f"{type(refiner).__name__} must subclass feedback_loop.refiners.Refiner"
        assert isinstance(refiner.name, str) and refiner.name, "Refiner.name must be a non-empty string"
        assert isinstance(refiner.has_discriminator, bool), "Refiner.has_discriminator must be a bool"

    def test_refine_keeps_shape_dtype_and_range(self, make_refiner, refiner_data, value_range):
        """Rule: refine returns the same shape, float32, finite, inside the inputs' valid range (also for 1 and 0 samples)."""
        x, _, real = refiner_data
        low, high = value_range
        refiner = make_refiner(0)
        refiner.fit(x, real)
        for batch in (x, x[:1], x[:0]):
            out = refiner.refine(batch)
            assert out.shape == batch.shape and out.dtype == np.float32, (
                f"refine must keep the shape {batch.shape} and return float32; got {out.shape}, {out.dtype}"
            )
            assert np.isfinite(out).all(), "refine returned NaN or infinite values"
            if len(out):
                assert out.min() >= low and out.max() <= high, (
                    f"refine must stay inside [{low}, {high}]; got [{out.min()}, {out.max()}]"
                )

    def test_refine_does_not_modify_its_input(self, make_refiner, refiner_data):
        """Rule: refine never writes into the batch it is given."""
        x, _, real = refiner_data
        refiner = make_refiner(0)
        refiner.fit(x, real)
        before = x.copy()
        refiner.refine(x)
        np.testing.assert_array_equal(x, before, err_msg="refine modified its input batch")

    def test_realism_is_per_sample_in_unit_interval(self, make_refiner, refiner_data):
        """Rule: realism returns one value per sample, each in [0, 1] (0.5 everywhere without a discriminator)."""
        x, _, real = refiner_data
        refiner = make_refiner(0)
        refiner.fit(x, real)
        for batch in (x, real[:7], x[:0]):
            score = refiner.realism(batch)
            assert score.shape == (len(batch),), f"realism must have shape ({len(batch)},); got {score.shape}"
            assert np.all((score >= 0) & (score <= 1)), "realism must lie in [0, 1]"
            if not refiner.has_discriminator:
                assert np.all(score == 0.5), "a refiner without a discriminator must say realism 0.5"

    def test_fit_returns_the_loss_records_it_adds_to_losses(self, make_refiner, refiner_data):
        """Rule: fit returns its per-step records (dicts of finite floats), the last ones of ``losses``."""
        x, _, real = refiner_data
        refiner = make_refiner(0)
        records = refiner.fit(x, real)
        assert isinstance(records, list), f"fit must return a list of loss records; got {type(records).__name__}"
        assert all(isinstance(r, dict) and all(np.isfinite(v) for v in r.values()) for r in records), (
            "every loss record must be a dict of finite numbers"
        )
        losses = refiner.losses
        assert losses[len(losses) - len(records):] == records, "fit's records must be the last entries of losses"

    def test_weights_round_trip_through_a_checkpoint_file(self, make_refiner, refiner_data, tmp_path):
        """Rule: state_dict holds numpy arrays only, and a refiner (other seed) loading them refines and judges identically."""
        x, _, real = refiner_data
        refiner = make_refiner(0)
        refiner.fit(x, real)
        state = refiner.state_dict()
        assert all(isinstance(v, np.ndarray) for v in state.values()), "state_dict values must be numpy arrays"
        path = save_weights(refiner, tmp_path / "refiner.npz")
        restored = make_refiner(123)
        load_weights(restored, path)
        np.testing.assert_array_equal(restored.refine(x), refiner.refine(x),
                                      err_msg="a reloaded refiner must refine identically")
        np.testing.assert_array_equal(restored.realism(real), refiner.realism(real),
                                      err_msg="a reloaded refiner must give the same realism")

    def test_same_seed_same_refinement(self, make_refiner, refiner_data):
        """Rule: two refiners with the same seed fitted on the same data refine identically."""
        x, _, real = refiner_data
        a, b = make_refiner(0), make_refiner(0)
        a.fit(x, real)
        b.fit(x, real)
        np.testing.assert_array_equal(a.refine(x), b.refine(x), err_msg="the same seed must give the same refinement")

    def test_bad_batches_are_refused_with_the_reason(self, make_refiner, refiner_data):
        """Rule: fit/refine refuse non-(N, C, H, W) batches and NaN values with a ValueError saying why."""
        x, _, real = refiner_data
        refiner = make_refiner(0)
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            refiner.fit(x.reshape(len(x), -1), real)
        refiner.fit(x, real)
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            refiner.refine(x.reshape(len(x), -1))
        bad = x.copy()
        bad[0, 0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            refiner.refine(bad)
