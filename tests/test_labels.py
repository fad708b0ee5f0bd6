"""The labels budget (``data.labels``): exactly N labelled validation samples, stratified by class,
the same N for every run with one seed, every other validation input unlabeled, the test half untouched."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_loop.config import ConfigError, load_config
from feedback_loop.envs import RealData
from feedback_loop.labels import apply_labels_budget, kept_indices
from feedback_loop.preflight import prepare_run


def _real(n: int = 300, classes: int = 10, seed: int = 0) -> RealData:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(n, 1, 4, 4)).astype(np.float32) + y[:, None, None, None]
    return RealData(x, y, x[:50] * 0 + 7, y[:50].copy())


@pytest.mark.parametrize("n", [0, 1, 10, 37, 299, 300])
def test_exactly_n_labels_are_kept_and_the_rest_is_unlabeled(n):
    real = _real()
    kept = apply_labels_budget(real, n, run_seed=3)
    assert len(kept.x_val) == len(kept.y_val) == n
    assert len(kept.unlabeled()) == 300 - n
    # every validation input is either labelled or unlabeled, none lost or doubled
    both = np.concatenate([kept.x_val, kept.unlabeled()]).reshape(300, -1)
    assert sorted(map(tuple, both)) == sorted(map(tuple, real.x_val.reshape(300, -1)))
    # the test half is the same arrays, untouched
    assert kept.x_test is real.x_test and kept.y_test is real.y_test


def test_labels_null_keeps_everything_as_it_was():
    real = _real()
    assert apply_labels_budget(real, None, run_seed=0) is real


def test_the_budget_is_stratified_by_class():
    y = np.repeat(np.arange(10), [90, 89, 91, 90, 88, 92, 90, 90, 89, 89])
    for n in (10, 50, 100):
        counts = np.bincount(y[kept_indices(y, n, seed=1)], minlength=10)
        assert counts.sum() == n and counts.max() - counts.min() <= 1, counts
    # fewer labels than classes: no class twice
    assert np.bincount(y[kept_indices(y, 7, seed=1)], minlength=10).max() == 1


def test_the_same_seed_keeps_the_same_samples_and_another_seed_others():
    real = _real()
    a, b = apply_labels_budget(real, 20, 5), apply_labels_budget(real, 20, 5)
    c = apply_labels_budget(real, 20, 6)
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_val, c.x_val)


def test_unlabeled_inputs_the_real_data_brings_are_kept_first():
    real = _real()
    extra = np.full((5, 1, 4, 4), -1.0, dtype=np.float32)
    real = RealData(real.x_val, real.y_val, real.x_test, real.y_test, extra)
    kept = apply_labels_budget(real, 10, 0)
    assert len(kept.unlabeled()) == 5 + 290 and np.array_equal(kept.unlabeled()[:5], extra)


def test_regression_targets_are_drawn_uniformly():
    y = np.random.default_rng(0).normal(size=(100, 2))
    idx = kept_indices(y, 10, seed=0)
    assert len(np.unique(idx)) == 10


def test_preflight_applies_the_budget_with_the_run_seed(tmp_path):
    def prepared(*extra):
        return prepare_run(load_config("examples/digits.yaml", ["tracking.tracking_uri=none", *extra]))

    full = prepared()
    run = prepared("data.labels=50", "seed=4")
    assert len(run.real.x_val) == 50 and len(run.real.unlabeled()) == len(full.real.x_val) - 50
    assert np.bincount(run.real.y_val, minlength=10).min() == 5
    assert np.array_equal(run.real.x_test, full.real.x_test) and np.array_equal(run.real.y_test, full.real.y_test)
    assert np.array_equal(prepared("data.labels=50", "seed=4").real.y_val, run.real.y_val)
    unlabeled = prepared("data.labels=0", "objective.score=realism")
    assert len(unlabeled.real.x_val) == 0 and unlabeled.objective.direction == "minimize"
    assert unlabeled.task.num_classes == 10  # from the simulator, no labels read


def test_an_npz_may_bring_x_unlabeled(tmp_path):
    from feedback_loop.simulators import load_real_data

    real = _real()
    path = tmp_path / "real.npz"
    np.savez(path, x=real.x_val, y=real.y_val, x_unlabeled=real.x_val[:9])
    assert len(load_real_data(None, str(path)).unlabeled()) == 9


@pytest.mark.parametrize("extra, match", [
    (["data.labels=-1"], r"data\.labels: value -1 is out of range; allowed: >= 0"),
    (["data.labels=0"], r"objective\.score: value 'task' needs labelled real samples, but data\.labels is 0"),
    (["data.labels=0", "objective.score=both"], r"objective\.score: value 'both' needs labelled"),
    (["data.labels=100000"], r"data\.labels: value 100000 is out of range; allowed: 0 to 898"),
    (["data.labels=1", "final.finetune=true"], r"final\.finetune: true needs at least 2 labelled samples"),
    (["objective.score=realism"], r"objective\.score: value 'realism' compares synthetic data with unlabeled real "
                                  r"inputs, and there are 0"),
])
def test_impossible_label_settings_are_refused_by_name(extra, match):
    with pytest.raises(ConfigError, match=match):
        prepare_run(load_config("examples/digits.yaml", ["tracking.tracking_uri=none", *extra]))


def test_the_few_labels_example_passes_preflight_as_written():
    prepared = prepare_run(load_config("examples/digits_pbt_few_labels.yaml", ["tracking.tracking_uri=none"]))
    assert len(prepared.real.x_val) == 50 and prepared.objective.name == "realism_mmd"
    assert prepared.config.objective.features == "learner"
    assert prepared.config.final.finetune and prepared.config.policy.name == "pbt"
