"""The loop serves a regression and a segmentation task with every policy, and resumes them exactly.

In-process runs (no Ray, no MLflow): a regression (``tests.task_sims:SignalSim``, score ``mae``,
minimized) and a segmentation (``feedback_loop/Shapes-v0``, score ``miou``, maximized).
"""

from __future__ import annotations

import pytest

from feedback_loop.config import load_config
from feedback_loop.loop import resume_loop
from tests import runs
from tests.test_loop_logic import Crash, _with_in_process, crash_at, in_process

TASKS = {
    "regression": ["simulator.id=tests.task_sims:SignalSim", "learner.model=mlp", "learner.samples=200",
                   "learner.epochs=3", "learner.persistent_samples=200", "learner.lr=0.003"],
    "segmentation": ["simulator.id=feedback_loop/Shapes-v0", "learner.model=fcn", "learner.hidden=8",
                     "learner.samples=100", "learner.epochs=2", "learner.persistent_samples=100", "learner.lr=0.01"],
}
# ADR's thresholds are in the score's units: a mean absolute error, or an IoU
ADR = {"regression": "policy.options={t_high: 0.3, t_low: 1.0, buffer_size: 1}",
       "segmentation": "policy.options={t_high: 0.5, t_low: 0.2, buffer_size: 1}"}
POLICIES = {
    "random": [], "uniform": [], "optuna": ["search.rungs=2", "search.eta=2", "selection.candidates=2"],
    "reinforce": ["policy.options={population: 2}"], "adversarial": [], "adr": None,
    "pbt": ["policy.options={population: 2, interval: 1}"],
}


def config(task: str, policy: str, evaluations: int = 4, *extra: str):
    options = POLICIES[policy] if POLICIES[policy] is not None else [ADR[task]]
    return load_config("examples/gaussian_mixture.yaml", [
        *TASKS[task], f"policy.name={policy}", f"budget.evaluations={evaluations}", "tracking.tracking_uri=none",
        f"name={task}-{policy}", "selection.seeds=1", *options, *extra])


# the default suite runs one per-candidate and one population policy per task; `-m slow` runs them all
QUICK = {("regression", "optuna"), ("regression", "pbt"), ("segmentation", "random"), ("segmentation", "adr")}


@pytest.mark.parametrize("task,policy", [
    pytest.param(task, policy, marks=() if (task, policy) in QUICK else pytest.mark.slow)
    for task in TASKS for policy in POLICIES])
def test_every_policy_runs_the_task_and_keeps_the_best_in_its_direction(tmp_path, task, policy):
    summary = in_process(config(task, policy), tmp_path / "run").run(progress=False)
    assert summary["status"] == "finished", summary.get("errors")
    assert summary["failed_evaluations"] == 0, summary["errors"]
    expected = {"regression": ("mae", "minimize"), "segmentation": ("miou", "maximize")}[task]
    assert (summary["score_name"], summary["score_direction"]) == expected
    scores = [e["score"] for e in runs.history(tmp_path / "run") if e["stage"] == "search" and e["score"] is not None]
    assert summary["best_score"] == (min(scores) if expected[1] == "minimize" else max(scores))
    assert summary["delivered_test_score"] is not None
    assert summary["delivered_test_metrics"][expected[0]] == pytest.approx(summary["delivered_test_score"], abs=1e-5)
    assert summary["delivered_test_diagnostics"]  # per-target errors, or per-class IoU
    assert (tmp_path / "run" / "delivered_diagnostics.png").is_file()


@pytest.mark.parametrize("task,policy", [("regression", "optuna"), ("regression", "pbt"), ("segmentation", "adr"),
                                         pytest.param("segmentation", "reinforce", marks=pytest.mark.slow)])
def test_a_stopped_run_resumes_to_the_same_result(tmp_path, monkeypatch, task, policy):
    import feedback_loop.loop as loop_module

    cfg = config(task, policy, 6)
    straight = in_process(cfg, tmp_path / "straight").run(progress=False)
    with pytest.raises(Crash):
        in_process(cfg, tmp_path / "stopped").run(progress=False, on_outcome=crash_at(3))
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = resume_loop(tmp_path / "stopped", progress=False)

    def trace(run_dir):
        return [(h["id"], h["params"], h["score"]) for h in runs.history(run_dir)]

    assert trace(tmp_path / "stopped") == trace(tmp_path / "straight")
    assert (resumed["best_score"], resumed["delivered_test_score"], resumed["train_samples"]) == (
        straight["best_score"], straight["delivered_test_score"], straight["train_samples"])


def test_the_segmentation_example_runs_through_the_cli(tmp_path):
    """``examples/shapes.yaml`` on the real command line (Ray actors, an MLflow store), on a small budget."""
    import json
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "feedback_loop.cli", "run", "examples/shapes.yaml", "--run-dir", str(run_dir),
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--no-progress",
         "--set", "budget.train_samples=8000", "--set", "learner.samples=500", "--set", "policy.options.interval=2"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["evaluations"] == 16
    assert (summary["task"]["name"], summary["score_name"]) == ("segmentation", "miou")
    assert 0.0 <= summary["delivered_test_score"] <= 1.0
    assert len(summary["delivered_test_diagnostics"]["per_class_iou"]) == 3
    assert "miou (higher is better; task segmentation)" in proc.stdout
    assert (run_dir / "delivered_diagnostics.png").is_file() and (run_dir / "model.npz").is_file()
