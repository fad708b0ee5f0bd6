"""Racing candidates over common seeds (``search.repeats``), with Optuna's ``WilcoxonPruner``.

The scheduler is tested alone with a toy policy whose order is known and with a real Optuna study;
the whole loop runs on the in-process executor (no Ray, no MLflow). Resume in the middle of a race is
``tests/test_equal_compute.py::test_resume_in_a_rung_or_in_the_final_training_loses_nothing[mid-race]``.
"""

from __future__ import annotations

import optuna
import pytest

from feedback_loop.config import BudgetConfig, ConfigError, load_config
from feedback_loop.ledger import Ledger
from feedback_loop.preflight import prepare_run
from feedback_loop.schedulers import Budget, RacingScheduler
from feedback_loop.types import Candidate, Fidelity, Outcome, Result
from tests import runs
from tests.test_equal_compute import KnownOrder
from tests.test_loop_logic import in_process

TOP = Fidelity(10, 1)


def unlimited(ledger: Ledger) -> Budget:
    return Budget(BudgetConfig(evaluations=None, seconds=None), ledger, lambda: 0)


def test_racing_gives_every_candidate_the_same_seeds_and_tells_the_mean_once_all_are_in():
    policy = KnownOrder()
    scheduler = RacingScheduler(policy, TOP, 3, unlimited(Ledger()), learner_seed=7)
    jobs = scheduler.next_jobs(6, [])
    assert [(j.candidate.id, j.repeat) for j in jobs] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    for k in range(3):  # common random numbers: repeat k is the same data and the same initial weights
        assert jobs[k].seed_id == jobs[3 + k].seed_id and jobs[k].model_seed == jobs[3 + k].model_seed
    assert len({j.seed_id for j in jobs}) == 3 and all(j.seed_id < 0 for j in jobs)  # never a candidate's own
    scores = {0: [0.80, 0.90, 0.70], 1: [0.60, 0.65, 0.70]}
    for job in jobs[:5]:
        scheduler.tell(Result(job, Outcome(scores[job.candidate.id][job.repeat])))
    assert policy.told == [(0, pytest.approx(0.80))]  # candidate 1 still waits for its last seed
    scheduler.tell(Result(jobs[5], Outcome(0.70)))
    assert policy.told[1] == (1, pytest.approx(0.65))


def test_a_failed_repeat_is_told_at_once_and_the_candidates_other_repeats_are_dropped():
    policy = KnownOrder()
    scheduler = RacingScheduler(policy, TOP, 3, unlimited(Ledger()), learner_seed=0)
    first = scheduler.next_jobs(1, [])[0]
    scheduler.tell(Result(first, Outcome.failed("candidate 0: boom")))
    assert len(policy.told) == 1 and policy.told[0][1] is None
    assert [(j.candidate.id, j.repeat) for j in scheduler.next_jobs(1, [])] == [(1, 0)]  # not 0's repeats


@pytest.mark.parametrize("budget_config", [BudgetConfig(evaluations=None, train_samples=100),
                                           BudgetConfig(evaluations=6, train_samples=None)])
def test_a_candidate_enters_a_race_only_if_the_budget_leaves_room_for_all_its_seeds(budget_config):
    # 100 visits - 40 kept for the later stages = 6 jobs of 10; or 6 evaluations: one race of 4 seeds
    # fits, a second would be cut short (its seeds spent, never told)
    budget = Budget(budget_config, Ledger(), lambda: 0, reserve=40 if budget_config.train_samples else 0)
    scheduler = RacingScheduler(KnownOrder(), TOP, 4, budget, learner_seed=0)
    assert [(j.candidate.id, j.repeat) for j in scheduler.next_jobs(10, [])] == [(0, 0), (0, 1), (0, 2), (0, 3)]


def test_the_ranking_prefers_more_seeds_then_the_best_mean_not_the_luckiest_score():
    ledger = Ledger()
    for cid, scores in [(0, [0.99]), (1, [0.90, 0.92, 0.91]), (2, [0.97, 0.80, 0.85])]:
        for k, score in enumerate(scores):
            ledger.record(Candidate(cid, {"q": float(cid)}), Outcome(score), 0.0, extra={"rung": 0, "repeat": k})
    assert [c.id for c in ledger.ranking()] == [1, 2, 0]


def optuna_racer(gm_env, repeats: int, p_threshold: float = 0.1):
    from feedback_loop.policies import OptunaPolicy

    policy = OptunaPolicy(param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0,
                          pruner="wilcoxon", p_threshold=p_threshold)
    return policy, RacingScheduler(policy, TOP, repeats, unlimited(Ledger()), learner_seed=0)


def race(scheduler: RacingScheduler, scores: list[float]) -> list[int]:
    """Race one new candidate, serving it alone: its repeats' scores come from ``scores``; returns the
    repeats it ran."""
    ran = []
    (job,) = scheduler.next_jobs(1, [])
    cid = job.candidate.id
    while job is not None and job.candidate.id == cid:
        ran.append(job.repeat)
        scheduler.tell(Result(job, Outcome(scores[job.repeat])))
        job = scheduler.queue[0] if scheduler.queue and scheduler.queue[0].candidate.id == cid else None
        if job is not None:
            scheduler.queue.pop(0)
    return ran


def test_wilcoxon_stops_a_candidate_worse_than_the_best_on_the_same_seeds(gm_env):
    policy, scheduler = optuna_racer(gm_env, repeats=6)
    best = [0.90, 0.80, 0.95, 0.85, 0.92, 0.88]
    assert race(scheduler, best) == [0, 1, 2, 3, 4, 5]  # the first candidate has no one to lose to
    # worse on every seed: one-sided signed-rank p is 1/16 = 0.0625 < 0.1 after 4 seeds, not before
    assert race(scheduler, [s - 0.01 for s in best]) == [0, 1, 2, 3]
    # better on every seed: never stopped, and its mean becomes the best trial's value
    assert race(scheduler, [s + 0.02 for s in best]) == [0, 1, 2, 3, 4, 5]
    trials = policy.study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "COMPLETE"]
    assert trials[0].value == pytest.approx(sum(best) / 6) and trials[2].value == pytest.approx(sum(best) / 6 + 0.02)
    assert sorted(trials[1].intermediate_values) == [0, 1, 2, 3]  # the seeds are the pruner's steps


def test_a_looser_p_threshold_stops_a_worse_candidate_sooner(gm_env):
    _, scheduler = optuna_racer(gm_env, repeats=6, p_threshold=0.3)
    best = [0.90, 0.80, 0.95, 0.85, 0.92, 0.88]
    race(scheduler, best)
    assert race(scheduler, [s - 0.01 for s in best]) == [0, 1]  # p = 0.25 after two seeds


def racing_gm(*extra: str):
    return load_config("examples/gaussian_mixture.yaml", [
        "learner.samples=200", "learner.epochs=2", "budget.evaluations=null", "budget.train_samples=12000",
        "tracking.tracking_uri=none", "name=racing", "selection.candidates=2", "selection.seeds=1",
        "final.samples=400", "final.epochs=3", "search.rungs=1", "search.repeats=3", *extra])


def test_the_loop_races_candidates_and_the_study_sees_every_seed(tmp_path):
    summary = in_process(racing_gm(), tmp_path / "run").run(progress=False)
    search = [h for h in runs.history(tmp_path / "run") if h["stage"] == "search"]
    assert {h["repeat"] for h in search} == {0, 1, 2}
    seeds_of = {}
    for h in search:
        seeds_of.setdefault(h["repeat"], set()).add(h["job"].rsplit(":", 1)[1])
    assert all(len(seeds) == 1 for seeds in seeds_of.values())  # every candidate's repeat k: one data seed
    study = optuna.load_study(study_name="feedback-loop", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "optuna.journal"))))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete and all(sorted(t.intermediate_values) == [0, 1, 2] for t in complete)
    for trial in complete:  # the study's value is the mean of its seeds
        assert trial.value == pytest.approx(sum(trial.intermediate_values.values()) / 3)
    assert summary["delivered_val_score"] is not None and summary["train_samples"] <= 12_000
    best = max(complete, key=lambda t: t.value)  # the summary's race winner is the best mean, not one lucky seed
    assert summary["race_best"]["mean_score"] == pytest.approx(best.value) and summary["race_best"]["seeds"] == 3


@pytest.mark.parametrize("overrides, message", [
    (["search.repeats=0"], r"search\.repeats: value 0 is out of range; allowed: 1 to 100"),
    (["search.repeats=101"], r"search\.repeats: value 101 is out of range; allowed: 1 to 100"),
    (["search.rungs=3"], r"search\.repeats: value 3 races candidates at one fidelity, which successive halving's "
                          r"rungs contradict \(allowed: 1, or search\.rungs 1\)"),
    (["policy.options={pruner: successive_halving}"], r"policy\.options\.pruner: 'successive_halving' prunes over "
                                                      r"fidelity rungs.*allowed: wilcoxon or none"),
    (["policy.options={pruner: wilcoxon, p_threshold: 1.5}"], r"p_threshold: value 1\.5 is out of range"),
    (["policy.name=pbt"], r"search\.repeats: value 3 needs a per-candidate policy"),
    (["policy.options={p_threshold: 1.5}"], r"p_threshold: value 1\.5 is out of range"),  # the default pruner's
    (["budget.train_samples=2000"], r"budget\.train_samples: value 2000 leaves no room for the search: .*"
                                    r"one race of 3 seeds 1200; allowed: >= 3200"),
    (["budget.train_samples=null", "budget.evaluations=2"], r"budget\.evaluations: value 2 cannot finish one race "
                                                            r"of search\.repeats 3 seeds; allowed: >= 3"),
])
def test_racing_settings_out_of_range_are_refused_by_name(overrides, message):
    with pytest.raises(ConfigError, match=message):
        prepare_run(racing_gm(*overrides))


def test_a_p_threshold_without_the_wilcoxon_pruner_is_refused_by_name():
    config = racing_gm("search.repeats=1", "policy.options={p_threshold: 0.3}")
    with pytest.raises(ConfigError, match=r"policy\.options\.p_threshold: value 0\.3 is used only by the pruner "
                                          r"'wilcoxon' \(search\.repeats >= 2\), but the pruner is 'successive_halving'"):
        prepare_run(config)


def test_the_wilcoxon_pruner_without_racing_is_refused_by_name():
    config = racing_gm("search.repeats=1", "policy.options={pruner: wilcoxon}")
    with pytest.raises(ConfigError, match=r"policy\.options\.pruner: 'wilcoxon' compares a candidate's seeds, "
                                          r"but search\.repeats is 1"):
        prepare_run(config)
