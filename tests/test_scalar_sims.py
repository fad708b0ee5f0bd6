"""Scalar-only simulators (``per_sample_params = False``): the loop draws per-sample values and calls
``sample_batch`` once per group of equal values; check-env says which kind a simulator is; the shipped
contract suite runs on them."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_loop.cli import main
from feedback_loop.config import load_config
from feedback_loop.envs.generation import draw, generate_batch
from feedback_loop.testing import SimulatorContract
from tests.scalar_sims import SceneGaussianMixture, UndeclaredSceneGaussianMixture

TARGET = "tests.scalar_sims:SceneGaussianMixture"


@pytest.fixture
def scene():
    return SceneGaussianMixture()


def test_domain_randomization_calls_it_once_per_sample_with_scalars(scene):
    ranges = {"c0_m0_x": (-3.0, 3.0), "c1_m1_y": (-2.0, 2.0)}
    x, y = generate_batch(scene, None, 50, seed=3, ranges=ranges)
    assert x.shape == (50, 2) and y.shape == (50,)
    assert [n for _, n in scene.calls] == [1] * 50  # continuous draws: every sample its own scene
    drawn = [params["c0_m0_x"] for params, _ in scene.calls]
    assert len(set(drawn)) == 50 and all(-3.0 <= v <= 3.0 for v in drawn)
    again = SceneGaussianMixture()
    x2, y2 = generate_batch(again, None, 50, seed=3, ranges=ranges)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # same seed, same batch
    x3, _ = generate_batch(SceneGaussianMixture(), None, 50, seed=4, ranges=ranges)
    assert not np.array_equal(x, x3)


def test_without_per_sample_values_it_is_one_call(scene):
    x, _ = generate_batch(scene, None, 40, seed=0)
    assert len(x) == 40 and [n for _, n in scene.calls] == [40]


def test_equal_values_share_a_call_and_each_sample_keeps_its_place(scene):
    params = {**scene.nominal_params, "c0_m0_x": np.array([0.0, 0.0, 2.0, 2.0, 0.0, 2.0])}
    x, y = draw(scene, params, 6, seed=1)
    assert sorted(n for _, n in scene.calls) == [3, 3]
    calls = {p["c0_m0_x"]: n for p, n in scene.calls}
    assert calls == {0.0: 3, 2.0: 3}
    assert len(x) == len(y) == 6


def test_a_vectorized_simulator_still_gets_one_call_with_arrays():
    from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv

    env = GaussianMixtureEnv()
    seen = []
    original = env.sample_batch
    env.sample_batch = lambda params, n, seed: (seen.append(np.ndim(params["c0_m0_x"])), original(params, n, seed))[1]
    generate_batch(env, None, 30, seed=0, ranges={"c0_m0_x": (-1.0, 1.0)})
    assert seen == [1]


def check_env(capsys, target):
    code = main(["check-env", target])
    return code, capsys.readouterr().out.splitlines()


def test_check_env_says_which_kind_and_passes_a_declared_scalar_only_simulator(capsys):
    code, lines = check_env(capsys, TARGET)
    assert code == 0, lines
    assert any(line.startswith("params: scalar only (per_sample_params = False)") for line in lines), lines
    assert "ok per_sample_params" in lines
    code, lines = check_env(capsys, "feedback_loop/GaussianMixture-v0")
    assert any(line.startswith("params: per sample") for line in lines), lines


def test_check_env_tells_an_undeclared_scalar_only_simulator_what_to_declare(capsys):
    code, lines = check_env(capsys, "tests.scalar_sims:UndeclaredSceneGaussianMixture")
    assert code == 2
    fail = next(line for line in lines if line.startswith("FAIL per_sample_params"))
    assert "per_sample_params = False" in fail, fail


class TestScalarOnlySimulatorContract(SimulatorContract):
    """The shipped contract suite on a scalar-only simulator."""

    distribution_samples = 600

    @pytest.fixture
    def simulator(self):
        return SceneGaussianMixture()


class TestUndeclaredScalarOnlyFailsTheContract:
    def test_per_sample_rule_fails(self):
        from feedback_loop.testing.simulators import sample

        env = UndeclaredSceneGaussianMixture()
        with pytest.raises(TypeError, match="one scene per call"):
            sample(env, {"c0_m0_x": np.linspace(-1, 1, 8)}, 8, seed=0)


@pytest.mark.parametrize("policy", ["uniform", "random"])
def test_a_short_loop_runs_on_a_scalar_only_simulator(tmp_path, policy):
    from feedback_loop.executors import InProcessExecutor
    from feedback_loop.loop import LoopRunner
    from feedback_loop.preflight import prepare_run

    config = load_config("examples/gaussian_mixture.yaml", [
        f"simulator.id={TARGET}", f"policy.name={policy}", "learner.samples=120", "learner.epochs=2",
        "budget.evaluations=2", "tracking.tracking_uri=none", "name=test-scalar-only"])
    prepared = prepare_run(config)
    summary = LoopRunner(config, tmp_path / "run", executor=InProcessExecutor.for_run(prepared),
                         prepared=prepared).run(progress=False)
    assert summary["status"] == "finished" and summary["failed_evaluations"] == 0, summary.get("errors")
