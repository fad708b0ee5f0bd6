"""Runs without labels (``data.labels: 0``, ``objective.score: realism``): every choice that read the
validation score reads the objective instead (PBT's ranking and delivered state, the best epoch, the
selection stage), the summary says so, and the run finishes with ``delivered_val_score: null`` and the
realism it reached; the combinations that cannot work are refused by name before anything starts."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest

from feedback_loop.config import ConfigError
from feedback_loop.learners import TaskLearner
from feedback_loop.loop import LoopRunner, resume_loop
from feedback_loop.objectives import mmd2
from feedback_loop.preflight import prepare_run
from tests import runs
from tests.test_loop_logic import Crash, _with_in_process, crash_at, in_process, tiny

LABEL_FREE = ("data.labels=0", "objective.score=realism")
POPULATION = "policy.options={population: 3, interval: 2}"


def _realism_history(run_dir):
    return [h for h in runs.history(run_dir) if h["stage"] == "search" and h["status"] == "ok"]


def _latest_per_member(history):
    latest = {}
    for h in history:
        latest[h["member"]] = h
    return latest


def test_a_label_free_pbt_run_ranks_and_delivers_by_realism_and_finishes(tmp_path):
    summary = in_process(tiny("pbt", 12, POPULATION, *LABEL_FREE), tmp_path / "run", capacity=3).run(progress=False)
    history = _realism_history(tmp_path / "run")
    assert summary["status"] == "finished" and summary["delivered_val_score"] is None
    assert summary["chosen_on"] == "realism (mmd, raw)" and summary["objective"]["direction"] == "minimize"
    assert all(h["task_score"] is None and h["realism"] == h["score"] for h in history)  # no labels read
    # under realism a population delivers the member whose *latest* state is the most realistic: states
    # trained for different lengths are not compared (an early state's features look like anything)
    assert summary["population"]["deliver"] == "best_member"
    chosen = min(_latest_per_member(history).values(), key=lambda h: (h["score"], h["member"]))
    assert summary["delivered_member"] == chosen["member"]
    assert summary["delivered_realism"] == chosen["score"]
    assert summary["best_score"] == min(h["score"] for h in history)  # the search's best, reported apart
    assert np.isfinite(summary["delivered_test_score"])  # the test half is still reported
    lineage = summary["population"]["lineage"]
    assert lineage  # the population exploited at least once, and always copied a lower (better) realism
    assert all(e["source_score"] < e["member_score"] for e in lineage)
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved["delivered_realism"] == chosen["score"]


def test_an_explicit_best_state_under_realism_is_warned_and_delivers_the_lowest_state(tmp_path):
    config = tiny("pbt", 12, "policy.options={population: 3, interval: 2, deliver: best_state}", *LABEL_FREE)
    summary = in_process(config, tmp_path / "run", capacity=3).run(progress=False)
    history = _realism_history(tmp_path / "run")
    assert any(w.startswith("policy.options.deliver: value 'best_state' compares realism") for w in summary["warnings"])
    best = min(history, key=lambda h: h["score"])
    assert summary["population"]["deliver"] == "best_state"
    assert summary["delivered_realism"] == best["score"] == summary["best_score"]
    assert summary["delivered_member"] == best["member"]


def test_a_single_persistent_learner_under_realism_delivers_its_latest_state(tmp_path):
    config = tiny("uniform", 8, "policy.options={persistent: true}", *LABEL_FREE)
    summary = in_process(config, tmp_path / "run").run(progress=False)
    history = _realism_history(tmp_path / "run")
    assert len(history) == 8 and history[-1]["score"] != min(h["score"] for h in history)  # latest is not the best
    assert summary["status"] == "finished" and summary["delivered_state"] == "latest"
    assert summary["delivered_realism"] == history[-1]["score"]
    assert summary["delivered_objective_score"] == history[-1]["score"]
    assert summary["best_score"] == min(h["score"] for h in history)


def test_a_label_free_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    import feedback_loop.loop as loop_module

    config = tiny("pbt", 8, POPULATION, *LABEL_FREE)
    straight = in_process(config, tmp_path / "straight", capacity=3).run(progress=False)
    with pytest.raises(Crash):
        in_process(config, tmp_path / "stopped", capacity=3).run(progress=False, on_outcome=crash_at(4))
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = resume_loop(tmp_path / "stopped", progress=False)
    assert resumed["status"] == "finished"
    for key in ("best_score", "delivered_realism", "delivered_member", "delivered_test_score", "chosen_on"):
        assert resumed[key] == straight[key], key


def test_per_candidate_search_selection_and_best_epoch_use_realism(tmp_path):
    config = tiny("optuna", 6, *LABEL_FREE, "search.rungs=2", "selection.candidates=2", "final.fresh_epochs=true")
    summary = in_process(config, tmp_path / "run", capacity=2).run(progress=False)
    assert summary["status"] == "finished" and summary["delivered_val_score"] is None
    selection = summary["selection"]
    assert len(selection) == 2
    assert summary["selected_candidate_id"] == min(selection, key=lambda r: r["mean"])["candidate_id"]
    assert summary["delivered_realism"] is not None and summary["delivered_best_epoch"] is not None


def test_under_realism_fresh_epochs_deliver_the_last_epoch_not_the_most_realistic():
    """Realism compares data: between epochs of one training it would favour an undertrained state, so
    the last epoch is kept even where an earlier one's batch was closer to the real inputs."""
    prepared = prepare_run(tiny("optuna", 2, *LABEL_FREE))
    learner = TaskLearner({**prepared.config.learner.__dict__, "objective": {"score": "realism"}},
                          prepared.input_shape, prepared.task,
                          real=(prepared.real.x_val, prepared.real.y_val, None, None, prepared.real.x_unlabeled))
    x, y = prepared.env.sample_batch(prepared.env.nominal_params, 300, seed=0)
    x[200:] += 3.0  # the last of 3 epochs is far from the real data, the first two are not
    per_epoch = [mmd2(part.reshape(100, -1), prepared.real.x_unlabeled) for part in np.split(x, 3)]
    assert int(np.argmin(per_epoch)) != 2
    outcome = learner.evaluate(x, y, epochs=3, fresh_epochs=True)
    assert outcome.metrics["best_epoch"] == 3
    assert outcome.metrics["realism"] == outcome.score and "val_accuracy" not in outcome.metrics


def test_both_penalizes_the_task_score_by_the_weighted_realism(tmp_path):
    prepared = prepare_run(tiny("optuna", 2, "data.labels=40", "objective.score=both", "objective.weight=2"))
    learner = TaskLearner({**prepared.config.learner.__dict__, "objective": {"score": "both", "weight": 2.0}},
                          prepared.input_shape, prepared.task,
                          real=(prepared.real.x_val, prepared.real.y_val, None, None, prepared.real.x_unlabeled))
    x, y = prepared.env.sample_batch(prepared.env.nominal_params, 200, seed=0)
    outcome = learner.evaluate(x, y, epochs=2)
    assert outcome.score == pytest.approx(outcome.metrics["val_accuracy"] - 2.0 * outcome.metrics["realism"])


@pytest.mark.parametrize("policy, extra, match", [
    ("adversarial", LABEL_FREE, r"objective\.score: value 'realism' cannot steer policy 'adversarial', whose signal "
                                r"is the learner's train_loss; allowed: objective\.score task, or a policy steered "
                                r"by the score \(.*pbt.*\)"),
    ("adr", ("objective.score=both", "data.labels=10"), r"objective\.score: value 'both' cannot steer policy 'adr'"),
    ("pbt", ("data.labels=0",), r"objective\.score: value 'task' needs labelled real samples, but data\.labels is 0; "
                                r"allowed: realism"),
    ("optuna", ("objective.score=fid",), r"objective\.score: unknown score 'fid'; allowed: task, realism, both"),
    ("optuna", ("objective.realism=kid",), r"objective\.realism: unknown distance 'kid'; allowed: mmd, c2st"),
    ("optuna", ("objective.features=pixels",), r"objective\.features: unknown features 'pixels'"),
    ("optuna", ("data.labels=100", "objective.score=realism", "objective.features=no_such_module:features"),
     r"objective\.features"),
    ("optuna", ("objective.weight=-1",), r"objective\.weight: value -1(\.0)? is out of range; allowed: >= 0"),
])
def test_combinations_that_cannot_work_are_refused_by_name_before_ray(policy, extra, match):
    with pytest.raises(ConfigError, match=match):
        prepare_run(tiny(policy, 4, *extra))


@pytest.mark.slow
def test_a_label_free_pbt_run_on_ray_with_mlflow_finishes_and_resumes(ray_session, tracking_uri, tmp_path):
    """On Ray actors with MLflow: a label-free population, stopped after 4 steps and resumed, finishes
    as the uninterrupted run does, and each child run logged its realism."""
    from tests.test_loop import children_of
    from tests.test_pbt import ray_config

    config = ray_config(8, *LABEL_FREE)
    straight = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)
    with pytest.raises(Crash):
        LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri).run(progress=False, on_outcome=crash_at(4))
    resumed = resume_loop(tmp_path / "run", progress=False)
    assert resumed["status"] == straight["status"] == "finished"
    assert resumed["delivered_val_score"] is None and resumed["chosen_on"] == "realism (mmd, raw)"
    assert sorted(h["score"] for h in runs.history(tmp_path / "run")) == sorted(
        h["score"] for h in runs.history(tmp_path / "straight"))
    assert resumed["delivered_realism"] == straight["delivered_realism"]
    children = children_of(tracking_uri, resumed["mlflow_run_id"])
    assert len(children) == 8 and all("realism" in c.data.metrics for c in children)
    parent = mlflow.MlflowClient(tracking_uri).get_run(resumed["mlflow_run_id"])
    assert parent.data.metrics["final_delivered_realism"] == pytest.approx(resumed["delivered_realism"])
