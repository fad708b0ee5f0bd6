"""``objective.score: pareto``: a two-objective Optuna study over (task score, realism), the front and
the knee rule that delivers one of its points, the front logged (JSON and plot, run directory and
MLflow), a stopped run resumed to the same delivery, and the combinations that cannot work refused."""

from __future__ import annotations

import json
import random

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from feedback_loop.config import ConfigError
from feedback_loop.executors import InProcessExecutor
from feedback_loop.loop import LoopRunner, resume_loop
from feedback_loop.objectives import pareto
from feedback_loop.objectives.pareto import Point
from feedback_loop.policies import make_policy
from feedback_loop.preflight import prepare_run
from feedback_loop.types import Outcome
from tests.test_loop_logic import Crash, _with_in_process, crash_at, in_process, tiny

PARETO = ("data.labels=40", "objective.score=pareto")


# -- the front and the rule ------------------------------------------------------------------------

POINTS = [Point(0, 0.90, 0.30), Point(1, 0.80, 0.10), Point(2, 0.85, 0.12), Point(3, 0.70, 0.40),
          Point(4, 0.95, 0.90), Point(5, 0.85, 0.20)]


def _brute_front(points, direction):
    sign = 1 if direction == "maximize" else -1
    return {p.id for p in points
            if not any(sign * q.task >= sign * p.task and q.realism <= p.realism
                       and (sign * q.task > sign * p.task or q.realism < p.realism) for q in points)}


def test_the_front_is_the_points_no_other_beats_on_both():
    assert {p.id for p in pareto.front(POINTS, "maximize")} == {0, 1, 2, 4}  # 3 and 5 are dominated
    rng = random.Random(0)
    for direction in ("maximize", "minimize"):
        for _ in range(50):
            points = [Point(i, rng.choice([0.1, 0.2, 0.3, rng.random()]), rng.random()) for i in range(12)]
            assert {p.id for p in pareto.front(points, direction)} == _brute_front(points, direction)


def test_the_knee_is_the_front_point_nearest_the_ideal_corner_after_scaling():
    # scaled over every point: task best 0.95, worst 0.70; realism best 0.10, worst 0.90
    ordered = pareto.knee_order(POINTS, "maximize")
    # the front scaled: 0 (0.2, 0.25), 2 (0.4, 0.025), 1 (0.6, 0), 4 (0, 1)
    assert [p.id for p in ordered] == [0, 2, 1, 4]
    # neither objective's units matter: realism in other units, the same knee
    scaled = [Point(p.id, p.task, 1000 * p.realism + 5) for p in POINTS]
    assert [p.id for p in pareto.knee_order(scaled, "maximize")] == [0, 2, 1, 4]
    # the next layers follow the front, each in knee order: {3, 5} after it (5 dominates 3)
    assert [p.id for p in pareto.layers_in_knee_order(POINTS, "maximize")] == [0, 2, 1, 4, 5, 3]


def test_realism_can_overturn_the_best_task_score_on_a_two_point_front():
    """Scaled over the front's own two points, both sit at distance 1 and the task score alone would
    decide; in the search's frame a point that gives up 0.8 of realism for 0.001 of accuracy loses."""
    means = {0: (0.951, 0.9), 1: (0.950, 0.1)}
    assert pareto.pick_rescored(means, "maximize", POINTS) == 1
    assert pareto.knee([Point(0, 0.951, 0.9), Point(1, 0.950, 0.1), Point(2, 0.5, 0.95)], "maximize").id == 1
    # a lower-is-better task score (an error) reverses which end is best
    errors = [Point(0, 1.0, 0.5), Point(1, 2.0, 0.1), Point(2, 1.1, 0.45), Point(3, 5.0, 0.0)]
    assert pareto.knee(errors, "minimize").id == 1


def test_ties_go_to_the_better_task_score_then_the_earlier_candidate():
    one_objective = [Point(3, 0.9, 0.2), Point(1, 0.9, 0.2), Point(2, 0.8, 0.2)]
    assert pareto.knee(one_objective, "maximize").id == 1  # 1 and 3 equal on both; 2 is dominated
    symmetric = [Point(0, 1.0, 1.0), Point(1, 0.0, 0.0)]  # both at distance 1 from the corner
    assert pareto.knee(symmetric, "maximize").id == 0


def test_a_failed_rescoring_makes_a_candidate_ineligible():
    means = {0: (0.9, 0.1), 1: (None, 0.05), 2: (0.95, None), 3: (0.8, 0.3)}  # a failure: either mean None
    assert pareto.pick_rescored(means, "maximize") == 0
    assert pareto.pick_rescored({1: (None, 0.1)}, "maximize") is None


# -- the policy ------------------------------------------------------------------------------------

def _pareto_policy(tmp_path, **kwargs):
    prepared = prepare_run(tiny("optuna", 6, *PARETO))
    return make_policy("optuna", param_space=prepared.env.param_space, nominal_params=prepared.env.nominal_params,
                       seed=0, pareto=True, storage_path=str(tmp_path / "optuna.journal"), **kwargs)


def test_the_optuna_study_is_told_both_objectives(tmp_path):
    policy = _pareto_policy(tmp_path)
    assert [d.name for d in policy.study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert not policy.supports_pruning  # Optuna prunes no multi-objective trial
    first, second = policy.ask(2)
    policy.tell(first, Outcome(0.9, metrics={"realism": 0.3}))
    policy.tell(second, Outcome(0.8, metrics={"realism": 0.1}))
    assert [t.values for t in policy.study.trials] == [[0.9, 0.3], [0.8, 0.1]]
    assert {t.number for t in policy.study.best_trials} == {0, 1}  # Optuna's own front agrees: both on it
    third = policy.ask(1)[0]
    with pytest.raises(ValueError, match="needs the outcome's realism"):
        policy.tell(third, Outcome(0.7))


# -- a run ---------------------------------------------------------------------------------------

def test_a_pareto_run_logs_its_front_and_delivers_the_knee(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = tiny("random", 8, *PARETO, "selection.candidates=3", "selection.seeds=2",
                  f"tracking.tracking_uri={uri}")
    prepared = prepare_run(config)
    runner = LoopRunner(config, tmp_path / "run", prepared=prepared,
                        executor=InProcessExecutor.for_run(prepared, capacity=2))
    summary = runner.run(progress=False)
    assert summary["status"] == "finished"
    assert summary["chosen_on"].startswith("the Pareto front of validation accuracy and realism")
    front = json.loads((tmp_path / "run" / "pareto_front.json").read_text())
    points = [Point(p["candidate_id"], p["task_score"], p["realism"]) for p in front["points"]]
    assert len(points) == 8  # every searched candidate, with both objectives
    assert {p["candidate_id"] for p in front["front"]} == _brute_front(points, "maximize")
    assert front["knee_candidate_id"] == pareto.knee(points, "maximize").id
    # the shortlist is the fronts in knee order; the knee of the re-scored means (search frame) is delivered
    shortlisted = [row["candidate_id"] for row in summary["selection"]]
    assert shortlisted == [p.id for p in pareto.layers_in_knee_order(points, "maximize")][:3]
    assert shortlisted[:len(front["front"])] == [p["candidate_id"] for p in front["front"]][:3]
    means = {row["candidate_id"]: (row["mean"], row["mean_realism"]) for row in summary["selection"]}
    chosen = pareto.pick_rescored(means, "maximize", points)
    assert summary["selected_candidate_id"] == front["delivered_candidate_id"] == chosen
    assert summary["delivered_val_score"] is not None and summary["delivered_realism"] is not None
    assert (tmp_path / "run" / "pareto_front.png").stat().st_size > 0
    artifacts = {a.path for a in MlflowClient(uri).list_artifacts(summary["mlflow_run_id"])}
    assert {"pareto_front.json", "pareto_front.png"} <= artifacts
    mlflow.set_tracking_uri(None)


def test_a_stopped_pareto_run_resumes_to_the_same_delivery(tmp_path, monkeypatch):
    import feedback_loop.loop as loop_module

    config = tiny("optuna", 8, *PARETO, "selection.candidates=2", "selection.seeds=2")
    straight = in_process(config, tmp_path / "straight").run(progress=False)
    with pytest.raises(Crash):  # stopped in the selection stage, after the search's 8 and one re-scoring
        in_process(config, tmp_path / "stopped").run(progress=False, on_outcome=crash_at(9))
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = resume_loop(tmp_path / "stopped", progress=False)
    for key in ("selected_candidate_id", "selection", "delivered_val_score", "delivered_realism", "pareto_front_size"):
        assert resumed[key] == straight[key], key
    assert (json.loads((tmp_path / "stopped" / "pareto_front.json").read_text())
            == json.loads((tmp_path / "straight" / "pareto_front.json").read_text()))


# -- refused combinations ----------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, starts", [
    (("objective.score=pareto", "data.labels=0"), "objective.score: value 'pareto' needs labelled real samples"),
    (("policy.name=pbt", *PARETO), "objective.score: value 'pareto' needs a policy that searches two objectives"),
    (("policy.name=reinforce", *PARETO), "objective.score: value 'pareto' needs a policy that searches two"),
    ((*PARETO, "search.rungs=2"), "search.rungs: value 2 needs intermediate scores"),
    ((*PARETO, "search.repeats=3"), "search.repeats: value 3 races candidates on one score"),
    ((*PARETO, "policy.sampler=cmaes"), "policy.sampler: value 'cmaes' is CMA-ES"),
    (("objective.score=pareto",), "objective.score: value 'pareto' compares synthetic data with unlabeled"),
])
def test_combinations_that_cannot_work_are_refused_by_name(overrides, starts):
    with pytest.raises(ConfigError) as info:
        prepare_run(tiny("optuna", 6, *overrides))
    assert str(info.value).startswith(starts), str(info.value)
