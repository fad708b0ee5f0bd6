"""Fault injection: killed drivers and actors, Ctrl-C, failing and NaN candidates, corrupt checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from mlflow import MlflowClient

from feedback_loop.cli import main
from feedback_loop.checkpoint import VERSION
from feedback_loop.executors import LearnerLostError
from feedback_loop.loop import EarlyFailureError, LoopRunner, resume_loop
from tests import runs
from tests.test_loop import SimulatedCrash, children_of, tiny_config

pytestmark = pytest.mark.faults

SMALL = ["--set", "learner.samples=300", "--set", "learner.epochs=3", "--set", "budget.evaluations=10",
         "--set", "resources.learners=1", "--set", "resources.learner_cpus=1", "--set", "name=test-faults",
         # paced: on a fast machine all 10 evaluations finished before the signal arrived
         "--set", "simulator.id=tests.plugins:SlowGaussianMixture", "--no-progress"]


def start_cli(run_dir: Path, tracking_uri: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "feedback_loop.cli", "run", "examples/gaussian_mixture.yaml", "--run-dir",
         str(run_dir), "--tracking-uri", tracking_uri, *SMALL, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)


def wait_for_evaluations(run_dir: Path, count: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early:\n{proc.stdout.read()}")
        try:
            if runs.evaluations(run_dir) >= count:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError("the run made no progress")


def resume_cli(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "feedback_loop.cli", "resume", str(run_dir), "--no-progress"],
                          capture_output=True, text=True, timeout=600)


def assert_exactly_once(run_dir: Path, tracking_uri: str, count: int) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["evaluations"] == count
    assert runs.completed_ids(run_dir) == list(range(count))
    ids = sorted(int(c.data.tags["candidate_id"]) for c in children_of(tracking_uri, summary["mlflow_run_id"]))
    assert ids == list(range(count))  # one MLflow child per evaluation, no duplicates
    import optuna

    study = optuna.load_study(study_name="feedback-loop", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(run_dir / "optuna.journal"))))
    assert sum(t.state.name == "COMPLETE" for t in study.trials) == count


@pytest.mark.parametrize("kill_after", [1, 4, 10], ids=["early", "mid-run", "during-final-scoring"])
def test_driver_sigkill_then_resume_keeps_every_evaluation_once(tracking_uri, tmp_path, kill_after):
    run_dir = tmp_path / "run"
    proc = start_cli(run_dir, tracking_uri)
    wait_for_evaluations(run_dir, kill_after, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    state = runs.checkpoint(run_dir)
    # killed before the run ended: after 10 evaluations it is still retraining the best and the oracle
    assert state["status"] == "running" and not (run_dir / "summary.json").exists()
    result = resume_cli(run_dir)
    assert result.returncode == 0, result.stderr
    assert_exactly_once(run_dir, tracking_uri, 10)
    assert json.loads((run_dir / "summary.json").read_text())["test_score"] is not None


def test_ctrl_c_checkpoints_marks_killed_and_resumes(tracking_uri, tmp_path):
    run_dir = tmp_path / "run"
    proc = start_cli(run_dir, tracking_uri)
    wait_for_evaluations(run_dir, 3, proc)
    os.kill(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert f"feedback-loop resume {run_dir}" in output
    state = runs.checkpoint(run_dir)
    assert state["status"] == "interrupted"
    assert MlflowClient(tracking_uri).get_run(state["mlflow_run_id"]).info.status == "KILLED"
    result = resume_cli(run_dir)
    assert result.returncode == 0, result.stderr
    assert_exactly_once(run_dir, tracking_uri, 10)
    assert MlflowClient(tracking_uri).get_run(state["mlflow_run_id"]).info.status == "FINISHED"


def test_learner_killed_mid_evaluation_is_restarted_and_retried(ray_session, tracking_uri, tmp_path):
    config = tiny_config(6, "learner.epochs=30", "resources.learners=1", "resources.learner_cpus=1",
                         name="test-kill-actor")
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)
    killed = []

    def kill_learner_once(candidate, outcome):
        if not killed:
            ray.kill(runner.executor.learners[0], no_restart=False)  # the next evaluation is in flight
            killed.append(candidate.id)

    summary = runner.run(progress=False, on_outcome=kill_learner_once)
    assert killed and summary["evaluations"] == 6 and summary["status"] == "finished"
    assert summary["failed_evaluations"] == 0  # the interrupted evaluation was retried, not lost


def test_nan_candidates_are_recorded_failed_and_a_run_of_only_failures_stops(ray_session, tracking_uri, tmp_path):
    """NaN batches fail their evaluations (recorded, never a best score); when the first ones all fail
    the run stops at once with the first error instead of spending its budget, and stays resumable."""
    config = tiny_config(8, "simulator.id=tests.plugins:NaNGaussianMixture", "policy.name=random",
                         name="test-nan")
    with pytest.raises(EarlyFailureError, match="the first 3 evaluations all failed.*NaN"):
        LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)
    state = runs.checkpoint(tmp_path / "run")
    assert state["status"] == "interrupted" and state["ledger"]["best"] is None
    assert state["ledger"]["evaluations"] == state["ledger"]["failed"] == 3
    children = children_of(tracking_uri, state["mlflow_run_id"])
    assert len(children) == 3 and all("NaN" in c.data.tags["error"] for c in children)
    assert all(c.info.status == "FAILED" for c in children)
    assert MlflowClient(tracking_uri).get_run(state["mlflow_run_id"]).info.status == "FAILED"


def test_corrupt_checkpoint_is_refused_by_resume(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("name: x\n")
    (run_dir / "checkpoint.json").write_text(
        json.dumps({"format": "feedback-loop-checkpoint", "version": VERSION, "sha256": "00", "state": {}}))
    assert main(["resume", str(run_dir)]) == 2
    assert "checksum mismatch" in capsys.readouterr().err


def _scores(run_dir: Path) -> list[tuple[int, float | None]]:
    return [(h["id"], h["score"]) for h in runs.history(run_dir)]


@pytest.mark.parametrize("driver_pause", [0.0, 5.0], ids=["death-seen-at-once", "death-seen-late"])
def test_killed_persistent_learner_gets_its_model_back(ray_session, tracking_uri, tmp_path, driver_pause):
    """Killed with steps in flight (prefetch 1), the learner is restored once to its last told state
    and the lost steps are redone in order: the run must equal one whose learner never died. With
    the driver paused after the kill, Ray has restarted the learner before its next call arrives:
    that call must not train a fresh model silently."""
    config = tiny_config(10, "policy.name=adr", "learner.persistent_samples=500", "learner.epochs=3",
                         "learner.persistent_epochs=3", "resources.prefetch=1", name="test-kill-persistent")
    never_killed = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)
    outcomes = []

    def kill_after_five(candidate, outcome):
        outcomes.append(outcome)
        if len(outcomes) == 5:
            ray.kill(runner.executor.learners[0], no_restart=False)
            time.sleep(driver_pause)

    summary = runner.run(progress=False, on_outcome=kill_after_five)
    assert summary["evaluations"] == 10 and summary["status"] == "finished"
    assert summary["failed_evaluations"] == 0  # the lost steps were redone on the restored model
    assert runner.executor.restores == 1  # one death, one restore, however many steps were in flight
    assert _scores(tmp_path / "run") == _scores(tmp_path / "straight")
    assert summary["test_score"] == never_killed["test_score"]


def kill_for_good(actor) -> None:
    """``ray.kill`` only starts the kill: calls made just after it can still run on the actor (seen
    under load in CI). Return once the actor answers no more calls."""
    ray.kill(actor, no_restart=True)
    while True:
        try:
            ray.get(actor.device_name.remote())
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)


def test_dead_generators_fail_persistent_steps_not_the_learner(ray_session, tracking_uri, tmp_path):
    """A generator that dies for good fails the steps it should feed (recorded as failed); it is not
    mistaken for a learner death, which would retry the same candidates until the run stops."""
    config = tiny_config(6, "policy.name=adr", "learner.persistent_samples=300", "resources.prefetch=0",
                         name="test-generators-dead")
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)

    def kill_generators_after_two(candidate, outcome):
        if runner.ledger.evaluations == 2:
            for generator in runner.executor.generators:
                kill_for_good(generator)

    summary = runner.run(progress=False, on_outcome=kill_generators_after_two)
    # the step asked before the kill may already have its data: 3 or 4 of the last 4 fail
    assert summary["evaluations"] == 6 and summary["failed_evaluations"] in (3, 4)
    assert runner.executor.restores == 0
    assert summary["best_score"] is not None
    assert summary["oracle_score"] is None  # the final re-scoring needs generators: None, not a crash


def test_persistent_learner_dying_too_often_stops_resumably(ray_session, tracking_uri, tmp_path):
    """With resources.max_task_retries=0 a dead persistent learner is not silently replaced by a fresh
    model: the run stops with a clear error, the MLflow run is KILLED, and resume finishes it exactly."""
    config = tiny_config(6, "policy.name=adr", "learner.persistent_samples=300", "resources.max_task_retries=0",
                         name="test-learner-lost")
    never_killed = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)

    def kill_after_two(candidate, outcome):
        if runner.ledger.evaluations == 2:
            ray.kill(runner.executor.learners[0], no_restart=False)

    with pytest.raises(LearnerLostError, match="resources.max_task_retries: the persistent learner died"):
        runner.run(progress=False, on_outcome=kill_after_two)
    state = runs.checkpoint(tmp_path / "run")
    assert state["status"] == "interrupted" and runs.pending(tmp_path / "run")
    assert MlflowClient(tracking_uri).get_run(state["mlflow_run_id"]).info.status == "KILLED"
    resumed = resume_loop(tmp_path / "run", progress=False)
    assert resumed["evaluations"] == 6 and resumed["failed_evaluations"] == 0
    assert _scores(tmp_path / "run") == _scores(tmp_path / "straight")
    assert resumed["test_score"] == never_killed["test_score"]


@pytest.mark.parametrize("prefetch", [0, 1])
def test_kill_between_persistent_weights_and_checkpoint_resumes_as_if_never_stopped(
        ray_session, tracking_uri, tmp_path, monkeypatch, prefetch):
    """The learner's state after step 3 is on disk, the checkpoint counting step 3 is not: resume
    must redo step 3 from the state after step 2, neither training twice on its batch nor skipping it.
    The persistent loop is deterministic (steps are taken in the order the learner trains them), so
    it must match a run that never stopped, score for score and weight for weight."""
    import feedback_loop.checkpoint as checkpoint_module

    config = tiny_config(6, "policy.name=adr", "learner.persistent_samples=300", f"resources.prefetch={prefetch}",
                         name="test-kill-weights")
    never_stopped = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)

    real_save = checkpoint_module.save_checkpoint

    def crash_before_counting_step_3(path, state):
        if state["ledger"]["evaluations"] == 3:
            raise SimulatedCrash  # as if SIGKILLed right after the weights file was written
        real_save(path, state)

    run_dir = tmp_path / "stopped"
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", crash_before_counting_step_3)
    with pytest.raises(SimulatedCrash):
        LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=False)
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    stopped = runs.checkpoint(run_dir)
    assert stopped["ledger"]["evaluations"] == 2
    assert (run_dir / "learner_weights-000003.npz").is_file()  # written, never named by a checkpoint
    (run_dir / "learner_weights-000099.npz").write_bytes(b"")  # an orphan no redone step overwrites
    logged = sorted(int(c.data.tags["candidate_id"]) for c in children_of(tracking_uri, stopped["mlflow_run_id"]))
    assert logged == [0, 1, 2]  # step 3 (candidate 2) reached MLflow, not the checkpoint
    resumed = resume_loop(run_dir, progress=False)

    assert _scores(run_dir) == _scores(tmp_path / "straight")
    # step 3's child run was logged before the crash: resume keeps one child per evaluation
    assert sorted(int(c.data.tags["candidate_id"]) for c in children_of(tracking_uri, resumed["mlflow_run_id"])) \
        == list(range(6))
    assert resumed["best_score"] == never_stopped["best_score"]
    assert resumed["test_score"] == never_stopped["test_score"]

    def final_weights(run_dir):
        with np.load(run_dir / runs.checkpoint(run_dir)["files"]["weights_file"]) as saved:
            return {k: saved[k] for k in saved.files}

    straight, again = final_weights(tmp_path / "straight"), final_weights(run_dir)
    assert straight.keys() == again.keys()
    for key in straight:
        np.testing.assert_array_equal(again[key], straight[key], err_msg=key)
    # files no checkpoint named are gone
    files = runs.checkpoint(run_dir)["files"]
    assert sorted(p.name for p in run_dir.glob("*learner_weights*.npz")) == sorted(
        {files["weights_file"], files["best_weights_file"], "best_learner_weights.npz"})
