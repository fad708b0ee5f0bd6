"""Tasks: the contract suite over every built-in task, the classification path pinned bit for bit,
and the loop's choices following a minimized score."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from feedback_loop.tasks import Classification, Regression, Segmentation, TaskError, task_for
from feedback_loop.testing import TaskContract
from tests import classification_runs

RNG = np.random.default_rng(0)


class TestClassification(TaskContract):
    @pytest.fixture
    def task_case(self):
        return Classification(), SimpleNamespace(num_classes=4), RNG.integers(0, 4, size=64)


class TestRegression(TaskContract):
    @pytest.fixture
    def task_case(self):
        return Regression(), SimpleNamespace(label_names=("pitch", "yaw")), RNG.normal(size=(64, 2)).astype(np.float32)


class TestRegressionOfKeypoints(TaskContract):
    """Keypoints: a regression of a (points, 2) array per sample, scored by RMSE."""

    @pytest.fixture
    def task_case(self):
        return Regression(score="rmse", loss="l1"), SimpleNamespace(), RNG.normal(size=(64, 5, 2)).astype(np.float32)


class TestRegressionOfAScalar(TaskContract):
    """A count or any one number per sample, scored by R²."""

    @pytest.fixture
    def task_case(self):
        return Regression(score="r2"), SimpleNamespace(), RNG.normal(size=64).astype(np.float32)


class TestSegmentation(TaskContract):
    @pytest.fixture
    def task_case(self):
        return Segmentation(), SimpleNamespace(num_classes=3), RNG.integers(0, 3, size=(16, 8, 8))


def test_a_config_or_the_simulator_names_the_task():
    env = SimpleNamespace(task="regression", label_names=("a", "b"))
    assert task_for(None, None, env, np.zeros((3, 2), np.float32)).name == "regression"
    assert task_for(None, None, SimpleNamespace(num_classes=2), np.array([0, 1])).name == "classification"
    assert task_for("regression", {"score": "rmse"}, SimpleNamespace(), np.zeros((3, 2))).direction == "minimize"
    with pytest.raises(TaskError, match="task.name: unknown task 'detection'"):
        task_for("detection", None, env, np.zeros(3))
    with pytest.raises(TaskError, match="task.options.score: unknown score 'mape'"):
        task_for("regression", {"score": "mape"}, env, np.zeros((3, 2)))
    with pytest.raises(TaskError, match="data.real: label value nan is not finite"):
        task_for("regression", None, SimpleNamespace(), np.array([[0.0, np.nan]]))
    with pytest.raises(TaskError, match=r"data.real: labels have shape \(2,\) per sample; classification"):
        task_for("classification", None, SimpleNamespace(num_classes=2), np.zeros((3, 2), np.int64))


def test_the_classification_path_gives_the_same_numbers_as_before_tasks():
    """In-process digits runs (TPE with successive halving, re-scoring and a fresh-epoch final model;
    PBT; ADR): the history and the delivered scores equal, bit for bit, what the loop gave before it
    was made task-generic (tests/data/classification_baseline.json, made at commit 46a38fa)."""
    baseline = json.loads(classification_runs.BASELINE.read_text())
    if baseline["fingerprint"] != classification_runs.fingerprint():
        pytest.skip(f"the baseline was made on {baseline['fingerprint']}, this is {classification_runs.fingerprint()}: "
                    "float results are comparable bit for bit only on the same build and CPU kind")
    assert classification_runs.run_all() == baseline["runs"]


def test_every_seed_stream_is_its_own():
    """The data streams of the search, the oracle, the figures, the refiner, the delivered model,
    re-scoring and races never share an id (feedback_loop/seeds.py), and keep their old values."""
    from feedback_loop import seeds

    ids = {name: set(stream(1000)) for name, stream in seeds.STREAMS.items()}
    names = list(ids)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not ids[a] & ids[b], f"streams {a} and {b} share {sorted(ids[a] & ids[b])[:3]}"
    assert (seeds.FINAL, seeds.selection(3, 1), seeds.race(2), seeds.oracle(1)) == (
        -2_000_000, -2_003_002, -10**12 - 2, -2)
    assert seeds.data_seed(0, 5, 1) != seeds.data_seed(0, 5, 0) != seeds.data_seed(1, 5, 0)


@pytest.mark.parametrize("overrides,expected", [
    (["task=segmentation"], ["data.real:", "segmentation takes a class per pixel"]),
    (["task=regression", "policy.name=adr"], ["policy.options:", "t_high", "minimize"]),
    (["task.options={score: rmse}"], ["task.options:", "without task.name"]),
    (["task=counting"], ["task.name: unknown task 'counting'"]),
    (["simulator.id=feedback_loop/Shapes-v0", "learner.model=mlp"], ["learner.model:", "segmentation", "expected (2, 3, 16, 16)"]),
])
def test_a_task_the_run_cannot_serve_is_refused_by_name(overrides, expected):
    from feedback_loop.config import ConfigError, load_config
    from feedback_loop.preflight import prepare_run

    with pytest.raises(ConfigError) as err:
        prepare_run(load_config("examples/gaussian_mixture.yaml", ["tracking.tracking_uri=none", *overrides]))
    assert all(part in str(err.value) for part in expected), str(err.value)
