"""The loop end to end on the session's Ray: MLflow children, summary, resume without loss or repeats."""

from __future__ import annotations

import json
from typing import Callable

import pytest
from mlflow import MlflowClient

from feedback_loop.config import ConfigError, load_config
from feedback_loop.loop import LoopRunner, resume_loop
from feedback_loop.policies import Candidate, Outcome
from tests import runs

TINY = ["learner.samples=300", "learner.epochs=3", "resources.learners=2", "resources.learner_cpus=0.75",
        "resources.generator_cpus=0.5"]


def tiny_config(evaluations: int, *extra: str, name: str = "test-loop"):
    return load_config("examples/gaussian_mixture.yaml",
                       TINY + [f"budget.evaluations={evaluations}", f"name={name}", *extra])


def children_of(tracking_uri: str, parent_run_id: str, stage: str | None = "search"):
    """The parent's child runs of one stage (``search``: one per evaluation; None: every child)."""
    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'", max_results=1000)
    return [c for c in children if stage is None or c.data.tags.get("stage") == stage]


def test_run_logs_parent_and_one_child_per_evaluation(ray_session, tracking_uri, tmp_path):
    summary = LoopRunner(tiny_config(6), tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)
    for key in ("policy", "simulator", "evaluations", "best_score", "best_params", "oracle_score",
                "wall_seconds", "mlflow_tracking_uri", "mlflow_run_id", "status"):
        assert key in summary
    assert summary["evaluations"] == 6 and summary["status"] == "finished"
    assert summary["mlflow_tracking_uri"].startswith("sqlite:////")
    assert 0.0 <= summary["best_score"] <= 1.0 and summary["oracle_score"] > 0.85
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary
    children = children_of(tracking_uri, summary["mlflow_run_id"])
    assert len(children) == 6
    assert {c.data.tags["candidate_id"] for c in children} == {str(i) for i in range(6)}
    (final,) = children_of(tracking_uri, summary["mlflow_run_id"], "final")  # the delivered model's training
    assert final.data.metrics["score"] == pytest.approx(summary["delivered_val_score"])
    assert all("score" in c.data.metrics and "train_loss" in c.data.metrics for c in children)
    parent = MlflowClient(tracking_uri).get_run(summary["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_score"] == pytest.approx(summary["best_score"])
    history = MlflowClient(tracking_uri).get_metric_history(summary["mlflow_run_id"], "best_score")
    assert [m.step for m in history] == list(range(1, 7))


class SimulatedCrash(RuntimeError):
    pass


def crash_after(count: int) -> tuple[Callable[[Candidate, Outcome], None], list[Outcome]]:
    """An ``on_outcome`` callback that crashes the run at its ``count``-th outcome, and the outcomes it saw."""
    told: list[Outcome] = []

    def on_outcome(candidate: Candidate, outcome: Outcome) -> None:
        told.append(outcome)
        if len(told) == count:
            raise SimulatedCrash

    return on_outcome, told


@pytest.mark.parametrize("policy", ["optuna", "random"])
def test_resume_after_interruption_loses_and_repeats_nothing(ray_session, tracking_uri, tmp_path, policy):
    run_dir = tmp_path / "run"
    config = tiny_config(8, f"policy.name={policy}", name=f"test-resume-{policy}")
    crash_after_three, _ = crash_after(3)
    with pytest.raises(SimulatedCrash):
        LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=False, on_outcome=crash_after_three)
    state = runs.checkpoint(run_dir)
    assert state["ledger"]["evaluations"] == 3 and state["status"] == "running"
    assert len(runs.pending(run_dir)) >= 1  # evaluations were in flight when it stopped

    summary = resume_loop(run_dir, progress=False)
    assert summary["evaluations"] == 8
    assert runs.completed_ids(run_dir) == list(range(8))  # none lost, none repeated
    children = children_of(tracking_uri, summary["mlflow_run_id"])
    assert sorted(int(c.data.tags["candidate_id"]) for c in children) == list(range(8))
    if policy == "optuna":
        import optuna

        study = optuna.load_study(study_name="feedback-loop", storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(run_dir / "optuna.journal"))))
        states = [t.state.name for t in study.trials]
        assert states.count("COMPLETE") == 8 and len(states) == 8


def test_uniform_dr_scores_far_below_the_optimum(ray_session, tracking_uri, tmp_path):
    summary = LoopRunner(tiny_config(4, "policy.name=uniform", name="test-uniform"), tmp_path / "run",
                         tracking_uri=tracking_uri).run(progress=False)
    assert summary["best_score"] < summary["oracle_score"] - 0.2
    assert summary["best_ranges"] is not None


def test_resuming_a_finished_run_returns_its_summary(ray_session, tracking_uri, tmp_path):
    first = LoopRunner(tiny_config(2), tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)
    again = resume_loop(tmp_path / "run", progress=False)
    assert again == first


def test_failing_simulator_fails_the_evaluation_not_the_run(ray_session, tracking_uri, tmp_path):
    # random seed 2 asks candidates 0 and 1 fine, then 2, 4 and 5 explode; one at a time, so the run's
    # first evaluation succeeds and the early stop on all-failed first evaluations does not apply
    config = tiny_config(6, "simulator.id=tests.plugins:ExplodingGaussianMixture", "policy.name=random",
                         "policy.seed=2", "resources.learners=1", "resources.prefetch=0", name="test-failing")
    summary = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)
    assert summary["evaluations"] == 6 and summary["failed_evaluations"] == 3
    children = children_of(tracking_uri, summary["mlflow_run_id"])
    failed = [c for c in children if c.data.tags["status"] == "failed"]
    assert failed and all("exploded" in c.data.tags["error"] for c in failed)
    assert all(c.info.status == "FAILED" for c in failed)


def test_actors_asking_for_too_many_cpus_is_a_clear_error(ray_session, tracking_uri, tmp_path):
    # explicit shares that cannot fit are refused in preflight (nothing written), naming the settings
    # that decide, and how to fit
    with pytest.raises(ConfigError, match=r"cannot fit the 2 CPUs Ray has: 1 generator × 0\.5 .* \+ 8 learners × 1 "
                                          r"\(resources\.learners; resources\.learner_cpus\); lower "):
        LoopRunner(tiny_config(2, "resources.learners=8", "resources.learner_cpus=1"), tmp_path / "run",
                   tracking_uri=tracking_uri)
    assert not (tmp_path / "run").exists()


def test_fractional_gpu_learners_are_scheduled_on_logical_gpus(ray_session, tracking_uri, tmp_path):
    """Two learners sharing one (logical) GPU are packed and run; on a CPU machine they train on CPU."""
    config = tiny_config(2, "resources.learners=2", "resources.learner_gpus=0.5", "resources.learner_cpus=0.5",
                         "name=test-gpu")
    summary = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False)
    assert summary["evaluations"] == 2 and summary["status"] == "finished"


@pytest.mark.parametrize("policy", ["adversarial", "adr"])
def test_persistent_policies_train_one_model_and_resume_it(ray_session, tracking_uri, tmp_path, policy):
    run_dir = tmp_path / "run"
    config = tiny_config(6, f"policy.name={policy}", "learner.persistent_samples=200", name=f"test-{policy}")
    crash_after_three, told = crash_after(3)
    with pytest.raises(SimulatedCrash):
        LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=False, on_outcome=crash_after_three)
    assert all(o.ok and "fresh_accuracy" in o.metrics and o.train_loss is not None for o in told)
    weights_file = runs.checkpoint(run_dir)["files"]["weights_file"]
    assert [p.name for p in run_dir.glob("learner_weights-*.npz")] == [weights_file]  # older ones deleted
    summary = resume_loop(run_dir, progress=False)
    assert summary["evaluations"] == 6 and summary["status"] == "finished"
    assert summary["test_score"] is not None
    assert runs.completed_ids(run_dir) == list(range(6))


def test_persistent_uniform_dr_trains_one_model_on_fresh_batches_and_delivers_its_best_state(
        ray_session, tracking_uri, tmp_path):
    """The baseline for persistent policies: one learner, fresh uniform-DR batches, the best validation
    state delivered; every step is the same uniform-DR candidate with a new data seed."""
    config = tiny_config(4, "policy.name=uniform", "policy.options={persistent: true}", "learner.persistent_samples=200",
                         "search.rungs=1", "selection.candidates=0", name="test-uniform-persistent")
    run_dir = tmp_path / "run"
    summary = LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=False)
    assert summary["evaluations"] == 4 and summary["status"] == "finished"
    steps = runs.history(run_dir)
    assert len({json.dumps(h["params"], sort_keys=True) for h in steps}) == 1  # never adapts
    assert all(h["fidelity"] == [200, 1] for h in steps)  # one persistent step each, not a fresh model
    assert summary["delivered_val_score"] == pytest.approx(max(h["score"] for h in steps))


def test_simgan_refiner_sits_between_generators_and_learners(ray_session, tracking_uri, tmp_path):
    config = load_config("examples/digits.yaml", [
        "budget.evaluations=3", "budget.train_samples=null", "search.rungs=1", "selection.candidates=0",
        "final.samples=200", "final.epochs=1", "learner.samples=200", "learner.epochs=1", "resources.learners=1",
        "resources.learner_cpus=1", "refiner.name=simgan", "refiner.fit_samples=256", "refiner.refresh_every=2",
        "refiner.refresh_steps=3", "name=test-refiner",
        "refiner.options={steps: 5, pretrain_refiner_steps: 3, pretrain_disc_steps: 3, channels: 8, blocks: 1}"])
    run_dir = tmp_path / "run"
    summary = LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=False)
    assert summary["evaluations"] == 3 and summary["status"] == "finished"
    children = children_of(tracking_uri, summary["mlflow_run_id"])
    assert all(0.0 <= c.data.metrics["discriminator_realism"] <= 1.0 for c in children)
    assert (run_dir / "refiner_weights.npz").is_file() and (run_dir / "refinement_grid.png").is_file()
    client = MlflowClient(tracking_uri)
    refiner_metrics = [k for k in client.get_run(summary["mlflow_run_id"]).data.metrics if k.startswith("refiner_")]
    assert refiner_metrics
    artifacts = [a.path for a in client.list_artifacts(summary["mlflow_run_id"])]
    assert {"refinement_grid.png", "best_samples.png"} <= set(artifacts)


@pytest.mark.parametrize("policy", ["optuna", "reinforce", "random"])
def test_resumed_run_matches_one_that_never_stopped(ray_session, tracking_uri, tmp_path, policy):
    """With one evaluation in flight at a time the loop is deterministic, so stopping and resuming must
    change nothing: the same candidates, in the same order, with the same scores."""
    config = tiny_config(8, f"policy.name={policy}", "resources.learners=1", "resources.prefetch=0",
                         name=f"test-resume-equal-{policy}")
    never_stopped = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)
    crash_after_three, _ = crash_after(3)
    with pytest.raises(SimulatedCrash):
        LoopRunner(config, tmp_path / "stopped", tracking_uri=tracking_uri).run(progress=False,
                                                                               on_outcome=crash_after_three)
    resumed = resume_loop(tmp_path / "stopped", progress=False)

    def history(run_dir):
        return [(h["id"], h["params"], h["score"]) for h in runs.history(run_dir)]

    assert history(tmp_path / "stopped") == history(tmp_path / "straight")
    assert (resumed["best_score"], resumed["test_score"]) == (never_stopped["best_score"], never_stopped["test_score"])


def test_racing_on_ray_logs_each_seed_as_a_child_tagged_with_its_repeat(ray_session, tracking_uri, tmp_path):
    summary = LoopRunner(tiny_config(9, "search.repeats=3", "policy.name=random"), tmp_path / "run",
                         tracking_uri=tracking_uri).run(progress=False)
    children = children_of(tracking_uri, summary["mlflow_run_id"])
    assert len(children) == 9 and sorted(int(c.data.tags["repeat"]) for c in children) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    by_candidate: dict[str, list[float]] = {}
    for child in children:
        by_candidate.setdefault(child.data.tags["candidate_id"], []).append(child.data.metrics["score"])
    assert sorted(map(len, by_candidate.values())) == [3, 3, 3]  # three candidates, each raced on 3 seeds
