"""The loop's parts alone: ledger and scheduler, and the loop on the in-process executor.

No Ray and no MLflow here (``tracking_uri: none``): these tests pin the loop's logic — exactly-once
accounting, resume, budgets, early failure — where it is fast and deterministic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feedback_loop.checkpoint import CheckpointError
from feedback_loop.config import BudgetConfig, load_config
from feedback_loop.executors import InProcessExecutor
from feedback_loop.ledger import HISTORY_FILE, Ledger, read_history
from feedback_loop.loop import EarlyFailureError, LoopRunner, resume_loop
from feedback_loop.policies import make_policy
from feedback_loop.preflight import prepare_run
from feedback_loop.schedulers import Budget, FifoScheduler
from feedback_loop.types import Candidate, Fidelity, Job, Outcome, Result
from tests import runs


def candidate(i: int) -> Candidate:
    return Candidate(id=i, params={"a": float(i)})


# -- ledger ----------------------------------------------------------------------------------------

def test_ledger_counts_each_outcome_once_and_keeps_the_best():
    ledger = Ledger()
    for i, outcome in enumerate([Outcome(0.5, samples=10, train_samples=30), Outcome.failed("boom", samples=10),
                                 Outcome(0.7, samples=10, train_samples=30), Outcome(0.6, samples=10, train_samples=30)]):
        ledger.record(candidate(i), outcome, elapsed=float(i))
    assert (ledger.evaluations, ledger.failed, ledger.samples_generated, ledger.train_samples) == (4, 1, 40, 90)
    assert ledger.best["candidate"]["id"] == 2 and ledger.best_score == 0.7
    assert [h["best_score"] for h in ledger.history] == [0.5, 0.5, 0.7, 0.7]
    assert ledger.errors == {"boom": 1} and ledger.completed_ids() == {0, 1, 2, 3}
    assert ledger.mean_score() == pytest.approx(0.6)


def test_ledger_journal_round_trip_drops_lines_no_checkpoint_counts(tmp_path):
    ledger = Ledger()
    for i in range(3):
        ledger.record(candidate(i), Outcome(0.1 * i), elapsed=0.0)
    ledger.journal(tmp_path)
    state = json.loads(json.dumps(ledger.state_dict()))  # what a checkpoint holds
    ledger.record(candidate(3), Outcome(0.9), elapsed=0.0)
    ledger.journal(tmp_path)  # journaled, then a crash before the checkpoint that would count it
    assert len(read_history(tmp_path)) == 4

    restored = Ledger()
    restored.load_state_dict(state, tmp_path)
    assert restored.evaluations == 3 and restored.completed_ids() == {0, 1, 2}
    assert restored.best_score == pytest.approx(0.2)
    assert len(read_history(tmp_path)) == 3  # the uncounted line is gone from the journal too
    restored.record(candidate(3), Outcome(0.9), elapsed=0.0)
    restored.journal(tmp_path)
    assert [h["id"] for h in read_history(tmp_path)] == [0, 1, 2, 3]  # redone exactly once


def test_checkpoint_size_does_not_grow_with_the_history(tmp_path):
    ledger = Ledger()
    sizes = []
    for i in range(200):
        ledger.record(candidate(i), Outcome(0.5), elapsed=0.0)
        if i in (99, 198):  # same number of digits in the counters
            sizes.append(len(json.dumps(ledger.state_dict())))
    assert sizes[0] == sizes[1]


def test_a_journal_shorter_than_the_checkpoint_says_is_refused(tmp_path):
    (tmp_path / HISTORY_FILE).write_text(json.dumps({"id": 0}) + "\n")
    with pytest.raises(CheckpointError, match="holds 1 entries but the checkpoint counts 2"):
        read_history(tmp_path, 2)


# -- scheduler -------------------------------------------------------------------------------------

class CountingPolicy:
    """Hands out candidates 0, 1, 2, ... and remembers what it was told."""

    def __init__(self) -> None:
        self.asked, self.told = 0, []

    def ask(self, n: int = 1) -> list[Candidate]:
        self.asked += n
        return [candidate(self.asked - n + k) for k in range(n)]

    def tell(self, cand: Candidate, outcome: Outcome) -> None:
        self.told.append(cand.id)


def fifo(evaluations: int | None = None, seconds: float | None = None, elapsed: float = 0.0):
    policy, ledger = CountingPolicy(), Ledger()
    budget = Budget(BudgetConfig(evaluations=evaluations, seconds=seconds), ledger, lambda: elapsed)
    scheduler = FifoScheduler(policy, Fidelity(10, 2), budget)
    return scheduler, policy, ledger


def test_fifo_counts_jobs_in_flight_against_the_evaluation_budget():
    scheduler, policy, ledger = fifo(evaluations=5)
    first = scheduler.next_jobs(3, [])
    assert [j.candidate.id for j in first] == [0, 1, 2] and all(j.fidelity == Fidelity(10, 2) for j in first)
    assert [j.candidate.id for j in scheduler.next_jobs(3, first)] == [3, 4]  # 5 asked: the budget
    ledger.record(first[0].candidate, Outcome(0.5), 0.0)
    assert scheduler.next_jobs(3, first[1:] + [Job(candidate(3), Fidelity(10, 2), 3), Job(candidate(4), Fidelity(10, 2), 4)]) == []
    assert policy.asked == 5


def test_fifo_stops_asking_when_the_time_budget_is_spent():
    scheduler, policy, _ = fifo(seconds=10, elapsed=11)
    assert scheduler.next_jobs(4, []) == [] and policy.asked == 0


def test_fifo_hands_out_requeued_jobs_first_and_saves_them_pending():
    scheduler, policy, _ = fifo(evaluations=10)
    in_flight = scheduler.next_jobs(2, [])
    state = json.loads(json.dumps(scheduler.state_dict(in_flight)))
    restored, policy2, _ = fifo(evaluations=10)
    restored.load_state_dict(state)
    again = restored.next_jobs(3, [])
    assert [j.candidate.id for j in again] == [0, 1, 0]  # the two pending ones, then a new ask
    assert policy2.asked == 1
    restored.tell(Result(again[0], Outcome(0.3)))
    assert policy2.told == [0]


# -- the loop on the in-process executor --------------------------------------------------------------

def tiny(policy: str = "optuna", evaluations: int = 6, *extra: str):
    return load_config("examples/gaussian_mixture.yaml", [
        "learner.samples=200", "learner.epochs=2", "learner.persistent_samples=150", f"budget.evaluations={evaluations}",
        f"policy.name={policy}", "tracking.tracking_uri=none", "name=logic", *extra])


def in_process(config, run_dir, capacity: int = 1, **kwargs) -> LoopRunner:
    prepared = prepare_run(config)
    return LoopRunner(config, run_dir, executor=InProcessExecutor.for_run(prepared, capacity=capacity),
                      prepared=prepared, **kwargs)


class Crash(RuntimeError):
    pass


def crash_at(count: int):
    seen = []

    def hook(cand, outcome):
        seen.append(cand.id)
        if len(seen) == count:
            raise Crash

    return hook


@pytest.mark.parametrize("policy", ["optuna", "reinforce", "adr"])
def test_resumed_in_process_run_equals_one_that_never_stopped(tmp_path, policy, monkeypatch):
    import feedback_loop.loop as loop_module

    config = tiny(policy)
    straight = in_process(config, tmp_path / "straight").run(progress=False)
    with pytest.raises(Crash):
        in_process(config, tmp_path / "stopped").run(progress=False, on_outcome=crash_at(3))
    assert runs.evaluations(tmp_path / "stopped") == 3
    # resume builds its executor from the run directory: give it the in-process one
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = resume_loop(tmp_path / "stopped", progress=False)

    def trace(run_dir):
        return [(h["id"], h["params"], h["score"]) for h in runs.history(run_dir)]

    assert trace(tmp_path / "stopped") == trace(tmp_path / "straight")
    assert (resumed["best_score"], resumed["test_score"], resumed["train_samples"]) == (
        straight["best_score"], straight["test_score"], straight["train_samples"])


def _with_in_process(init):
    def patched(self, config, run_dir, **kwargs):
        prepared = prepare_run(config)
        kwargs.update(executor=InProcessExecutor.for_run(prepared), prepared=prepared)
        init(self, config, run_dir, **kwargs)
    return patched


def test_a_run_whose_first_evaluations_all_fail_stops_at_once_and_resumably(tmp_path):
    config = tiny("random", 8, "simulator.id=tests.plugins:NaNGaussianMixture")
    runner = in_process(config, tmp_path / "run")
    with pytest.raises(EarlyFailureError, match=r"the first 1 evaluations all failed.*NaN"):
        runner.run(progress=False)
    state = runs.checkpoint(tmp_path / "run")
    assert state["status"] == "interrupted" and state["ledger"]["failed"] == state["ledger"]["evaluations"] == 1
    assert "NaN" in next(iter(state["ledger"]["errors"]))


def test_first_failures_counted_over_everything_in_flight(tmp_path):
    config = tiny("random", 8, "simulator.id=tests.plugins:NaNGaussianMixture")
    prepared = prepare_run(config)
    runner = LoopRunner(config, tmp_path / "run", prepared=prepared,
                        executor=InProcessExecutor.for_run(prepared, capacity=4))
    with pytest.raises(EarlyFailureError, match="the first 3 evaluations all failed"):
        runner.run(progress=False)
    assert runs.evaluations(tmp_path / "run") == 3 and len(runs.pending(tmp_path / "run")) >= 1


def test_summary_lists_distinct_errors_and_counts_train_samples(tmp_path):
    # fails for candidates whose first mean coordinate is positive: some evaluations fail, not all
    config = tiny("random", 8, "simulator.id=tests.plugins:ExplodingGaussianMixture", "policy.seed=1")
    summary = in_process(config, tmp_path / "run", capacity=4).run(progress=False)
    assert 0 < summary["failed_evaluations"] < 8
    assert summary["errors"] == [{"error": "RuntimeError: simulator exploded on purpose",
                                  "count": summary["failed_evaluations"]}]
    # every successful search evaluation and the delivered model trained 200 samples × 2 epochs
    assert summary["train_samples"] == (8 - summary["failed_evaluations"] + 1) * 200 * 2
    assert summary["delivered_val_score"] is not None


def test_the_loop_needs_no_ray_and_no_mlflow(tmp_path):
    """In a fresh process (this one may have the session's Ray): the loop on the in-process executor
    with ``tracking_uri: none`` starts no Ray and writes no MLflow store."""
    code = (
        "import sys, ray\n"
        "from tests.test_loop_logic import in_process, tiny\n"
        f"summary = in_process(tiny('random', 2), {str(tmp_path / 'run')!r}).run(progress=False)\n"
        "print('RAY', ray.is_initialized(), summary['evaluations'])\n")
    root = Path(__file__).resolve().parent.parent
    store = tmp_path / "mlflow.db"  # where MLflow would write, if anything asked it to
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root), "MLFLOW_TRACKING_URI": f"sqlite:///{store}"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "RAY False 2" in result.stdout
    assert not store.exists() and not (tmp_path / "run" / "mlruns").exists()


def test_a_run_stopped_for_early_failures_resumes_past_them(tmp_path, monkeypatch):
    import feedback_loop.loop as loop_module

    config = tiny("random", 4, "simulator.id=tests.plugins:NaNGaussianMixture")
    with pytest.raises(EarlyFailureError):
        in_process(config, tmp_path / "run").run(progress=False)
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    summary = resume_loop(tmp_path / "run", progress=False)  # deliberately resumed: it goes on to the end
    assert summary["evaluations"] == summary["failed_evaluations"] == 4 and summary["status"] == "failed"


def test_a_new_run_into_a_run_directory_is_refused(tmp_path):
    from feedback_loop.config import ConfigError

    in_process(tiny("random", 1), tmp_path / "run").run(progress=False)
    with pytest.raises(ConfigError, match="already holds a run; continue it with 'feedback-loop resume"):
        in_process(tiny("random", 1), tmp_path / "run").run(progress=False)


def test_free_form_reference_names_reach_mlflow_as_valid_param_names(tracking_uri):
    # a config's `references` keys are free text; MLflow refuses "(" in a param name, which once
    # stopped a run before its first evaluation
    from mlflow import MlflowClient

    from feedback_loop.tracking import Tracker

    tracker = Tracker(tracking_uri, "test-param-names")
    run_id = tracker.start_parent("names", {"references": {"this search (fresh epochs), é": "0.95"}}, {})
    assert MlflowClient(tracking_uri).get_run(run_id).data.params == {"references.this search _fresh epochs__ _": "0.95"}
    # keys that differ only in refused characters stay two params (one batch refuses a repeated key)
    run_id = tracker.start_parent("clash", {"references": {"a(b)": "1", "a[b]": "2"}}, {})
    assert MlflowClient(tracking_uri).get_run(run_id).data.params == {"references.a_b_": "1", "references.a_b__1": "2"}
