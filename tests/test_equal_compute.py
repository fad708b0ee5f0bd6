"""The compute budget, multi-fidelity search, noise-aware selection and the delivered model.

Scheduler logic is tested alone with toy policies whose order is known; the whole loop runs on the
in-process executor (no Ray, no MLflow), so these tests are fast and deterministic.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import optuna
import pytest

import feedback_loop
from feedback_loop.config import BudgetConfig, load_config
from feedback_loop.executors import job_shards
from feedback_loop.ledger import Ledger
from feedback_loop.simulators import make_simulator
from feedback_loop.schedulers import Budget, HalvingScheduler, StagedScheduler, rung_fidelities
from feedback_loop.types import Candidate, Fidelity, Job, Outcome, Result
from tests import runs
from tests.test_loop_logic import Crash, _with_in_process, crash_at, in_process


class KnownOrder:
    """Candidate k has quality k (params {"q": k}); remembers what it was told."""

    learner_mode, supports_pruning = "per_candidate", False

    def __init__(self) -> None:
        self.asked, self.told = 0, []

    def ask(self, n: int = 1) -> list[Candidate]:
        self.asked += n
        return [Candidate(self.asked - n + i, {"q": float(self.asked - n + i)}) for i in range(n)]

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        self.told.append((candidate.id, outcome.score))


def test_rungs_grow_by_eta_up_to_the_full_fidelity():
    rungs = rung_fidelities(Fidelity(6000, 15), 3, 3)
    assert rungs[-1] == Fidelity(6000, 15) and rungs[0] == Fidelity(2000, 5)
    ratios = [b.train_samples / a.train_samples for a, b in zip(rungs, rungs[1:])]
    assert all(2.5 < r < 3.5 for r in ratios)


def test_halving_promotes_the_best_of_a_rung():
    policy, ledger = KnownOrder(), Ledger()
    rungs = [Fidelity(10, 1), Fidelity(30, 1), Fidelity(90, 1)]
    scheduler = HalvingScheduler(policy, rungs, 3, Budget(BudgetConfig(evaluations=None, seconds=None), ledger, lambda: 0))
    first = scheduler.next_jobs(9, [])
    assert [j.rung for j in first] == [0] * 9
    for job in first:  # results arrive in any order; quality = candidate id
        scheduler.tell(Result(job, Outcome(score=job.candidate.params["q"] / 10)))
    promoted = scheduler.next_jobs(3, [])
    assert [(j.candidate.id, j.rung) for j in promoted] == [(8, 1), (7, 1), (6, 1)]  # the top third
    assert all(j.fidelity == rungs[1] for j in promoted)
    for job in promoted:
        scheduler.tell(Result(job, Outcome(score=job.candidate.params["q"] / 10)))
    top = scheduler.next_jobs(1, [])
    assert [(j.candidate.id, j.rung) for j in top] == [(8, 2)]
    assert [cid for cid, _ in policy.told] == [j.candidate.id for j in first]  # told once, at the first rung


def test_halving_stops_at_the_training_sample_budget():
    policy, ledger = KnownOrder(), Ledger()
    budget = Budget(BudgetConfig(evaluations=None, train_samples=100), ledger, lambda: 0, reserve=40)
    scheduler = HalvingScheduler(policy, [Fidelity(10, 2), Fidelity(30, 2)], 3, budget)
    assert len(scheduler.next_jobs(10, [])) == 3  # 3 × 20 = 60 = 100 - 40 kept for the later stages


def test_selection_picks_the_best_mean_of_fresh_seeds_not_the_luckiest_single_score():
    ledger = Ledger()
    for cid, lucky in [(0, 0.95), (1, 0.90), (2, 0.85)]:  # candidate 0 was lucky in the search
        ledger.record(Candidate(cid, {"q": float(cid)}), Outcome(lucky), 0.0, extra={"rung": 0})
    stages = StagedScheduler(None, ledger.ranking, candidates=2, seeds=3, top=Fidelity(10, 1), final=Fidelity(20, 1),
                             learner_seed=0)
    stages._begin_selection()
    jobs = stages.next_jobs(10, [])
    assert sorted({j.candidate.id for j in jobs}) == [0, 1] and len(jobs) == 6 and {j.stage for j in jobs} == {"selection"}
    assert len({j.seed_id for j in jobs}) == 6 and all(j.seed_id < 0 for j in jobs)  # fresh data, never the search's
    fresh = {0: [0.80, 0.82, 0.81], 1: [0.88, 0.86, 0.87]}
    for job in jobs:
        stages.tell(Result(job, Outcome(fresh[job.candidate.id].pop())))
    (final,) = stages.next_jobs(10, [])
    assert final.stage == "final" and final.candidate.id == 1 and final.fidelity == Fidelity(20, 1) and final.with_test
    assert StagedScheduler.reserve(2, 3, Fidelity(10, 1), Fidelity(20, 1)) == 80


def gm(*extra: str):
    return load_config("examples/gaussian_mixture.yaml", [
        "learner.samples=200", "learner.epochs=2", "budget.evaluations=null", "budget.train_samples=12000",
        "tracking.tracking_uri=none", "name=equal-compute", "selection.candidates=2", "selection.seeds=2",
        "final.samples=400", "final.epochs=3", *extra])


def test_train_samples_budget_is_spent_and_never_exceeded(tmp_path):
    summary = in_process(gm(), tmp_path / "run").run(progress=False)
    # search 200×2 each, re-scoring 2×2×400, the final model 400×3 = 1,200: all inside 12,000
    assert summary["train_samples"] <= 12_000 and summary["train_samples"] > 12_000 - 400
    assert summary["train_samples_budget"] == 12_000
    history = runs.history(tmp_path / "run")
    assert sum(h["stage"] == "selection" for h in history) == 4 and sum(h["stage"] == "final" for h in history) == 1
    assert summary["train_samples"] == sum(a * b for h in history for a, b in [h["fidelity"]] if h["status"] == "ok")
    assert [r["candidate_id"] for r in summary["selection"]] == [c.id for c in _top2(history)]
    assert summary["selected_candidate_id"] in {r["candidate_id"] for r in summary["selection"]}


def _top2(history):
    search = sorted((h for h in history if h["stage"] == "search" and h["score"] is not None), key=lambda h: -h["score"])
    return [Candidate(h["id"], h["params"]) for h in search[:2]]


def test_the_delivered_model_loads_and_predicts_as_it_scored(tmp_path):
    summary = in_process(gm(), tmp_path / "run").run(progress=False)
    model = feedback_loop.load_model(tmp_path / "run")
    real = make_simulator("feedback_loop/GaussianMixture-v0").real_data()
    assert np.mean(model.predict(real.x_val) == real.y_val) == pytest.approx(summary["delivered_val_score"], abs=1e-6)
    assert np.mean(model.predict(real.x_test) == real.y_test) == pytest.approx(summary["delivered_test_score"], abs=1e-6)
    assert model.meta["params"] == summary["selected_params"] and model.meta["samples"] == 400
    assert (tmp_path / "run" / "model.npz").read_bytes()[:2] == b"PK"  # a zip of arrays, never a pickle
    # where it fails on real data: per-class accuracy and confusions of the same predictions, and their plot
    predicted = model.predict(real.x_test)
    for k, accuracy in enumerate(summary["delivered_test_per_class"]):
        assert accuracy == pytest.approx(np.mean(predicted[real.y_test == k] == k))
    confusion = np.array(summary["delivered_test_confusion"])
    assert confusion.sum() == len(real.y_test) and np.trace(confusion) == np.sum(predicted == real.y_test)
    assert (tmp_path / "run" / "delivered_per_class.png").stat().st_size > 0


def test_fresh_epochs_render_new_data_every_epoch_in_the_same_budget_and_deliver_the_best_epoch(tmp_path):
    job = Job(Candidate(0, {}), Fidelity(10, 3), seed_id=-5, stage="final", fresh_epochs=True)
    assert job_shards(job, 2) == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]  # 3 epochs × 2 shards, all new
    assert job_shards(dataclasses.replace(job, fresh_epochs=False), 2) == [(0, 5), (1, 5)]
    assert Job.from_dict(job.to_dict()) == job  # it survives a checkpoint
    plain = in_process(gm(), tmp_path / "plain").run(progress=False)
    fresh = in_process(gm("final.fresh_epochs=true"), tmp_path / "fresh").run(progress=False)
    # the same training sample visits: the final model's 400 × 3, now 1,200 distinct samples
    assert fresh["train_samples"] == plain["train_samples"]
    assert fresh["samples_generated"] == plain["samples_generated"] + 400 * 2
    assert 1 <= fresh["delivered_best_epoch"] <= 3 and plain["delivered_best_epoch"] is None
    model = feedback_loop.load_model(tmp_path / "fresh")
    real = make_simulator("feedback_loop/GaussianMixture-v0").real_data()
    assert np.mean(model.predict(real.x_val) == real.y_val) == pytest.approx(fresh["delivered_val_score"], abs=1e-6)
    assert model.meta["fresh_epochs"] and model.meta["best_epoch"] == fresh["delivered_best_epoch"]


def test_class_report_counts_confusions_by_true_and_predicted_class():
    from feedback_loop.diagnostics import class_report, nearest

    found = class_report(np.array([0, 1, 1, 2, 1, 0]), np.array([0, 1, 2, 2, 2, 1]), 3, top=2)
    assert found["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 2, 1]]
    assert found["per_class_accuracy"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert found["top_confusions"] == [{"true": 2, "predicted": 1, "count": 2}, {"true": 1, "predicted": 0, "count": 1}]
    assert nearest(np.array([[0.9, 0.0], [5.0, 5.0]]), np.array([[0.0, 0.0], [1.0, 0.0], [4.0, 6.0]])).tolist() == [1, 2]


def tiny_digits(*extra: str):
    """Digits-v0 (it has range factors, so ``final.widen`` has intervals to widen), at seconds' size."""
    return load_config("examples/digits.yaml", [
        "tracking.tracking_uri=none", "name=widen", "policy.name=random", "budget.train_samples=null",
        "budget.evaluations=3", "search.rungs=1", "learner.samples=100", "learner.epochs=1", "selection.candidates=2",
        "selection.seeds=1", "final.samples=200", "final.epochs=1", "final.fresh_epochs=false", *extra])


@pytest.mark.parametrize("when", ["mid-rung", "mid-race", "mid-final", "mid-final-widened"])
def test_resume_in_a_rung_or_in_the_final_training_loses_nothing(tmp_path, monkeypatch, when):
    import feedback_loop.loop as loop_module

    config = {"mid-final-widened": lambda: tiny_digits("final.widen=0.5"),
              "mid-race": lambda: gm("search.repeats=3", "policy.name=random")}.get(
        when, lambda: gm("search.rungs=2", "policy.name=random"))()
    straight = in_process(config, tmp_path / "straight").run(progress=False)
    history = runs.history(tmp_path / "straight")
    # stop just before a promoted (rung 1) job, a raced candidate's second seed, or the final model comes back
    if when in ("mid-rung", "mid-race"):
        field = "rung" if when == "mid-rung" else "repeat"
        crash_after = next(i for i, h in enumerate(history) if h["stage"] == "search" and h[field] == 1)
    else:
        crash_after = len(history) - 1
        assert history[crash_after]["stage"] == "final"
    with pytest.raises(Crash):
        in_process(config, tmp_path / "stopped").run(progress=False, on_outcome=crash_at(crash_after))
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = loop_module.resume_loop(tmp_path / "stopped", progress=False)

    def trace(run_dir):
        return [(h["job"], h["score"]) for h in runs.history(run_dir)]

    assert trace(tmp_path / "stopped") == trace(tmp_path / "straight")
    for key in ("train_samples", "delivered_val_score", "delivered_test_score", "selected_candidate_id",
                "selected_params", "searched_params"):
        assert resumed[key] == straight[key], key
    if when == "mid-final-widened":  # widened exactly once, before and after the stop
        assert_widened_once(resumed, 0.5)


def test_optuna_prunes_through_its_own_pruner_and_sees_every_rung(tmp_path):
    summary = in_process(gm("search.rungs=3", "search.eta=2", "learner.samples=300", "learner.epochs=4"),
                         tmp_path / "run").run(progress=False)
    study = optuna.load_study(study_name="feedback-loop", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "run" / "optuna.journal"))))
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states and "COMPLETE" in states
    assert any(len(t.intermediate_values) >= 1 for t in study.trials)  # trial.report reached the study
    rungs = {h["rung"] for h in runs.history(tmp_path / "run") if h["stage"] == "search"}
    assert rungs == {0, 1, 2} and summary["delivered_val_score"] is not None


def test_uniform_dr_spends_the_whole_budget_on_one_model(tmp_path):
    summary = in_process(gm("policy.name=uniform"), tmp_path / "run").run(progress=False)
    history = runs.history(tmp_path / "run")
    assert [h["stage"] for h in history] == ["final"]
    assert history[0]["fidelity"] == [12_000 // 3, 3] and summary["train_samples"] == 12_000
    assert summary["selected_ranges"] is not None  # every sample drawn over the whole space


def test_a_candidate_pruned_just_before_a_stop_stays_pruned_after_resume(tmp_path, gm_env):
    """The pruner's answer is in the study's journal as soon as it is given; a job redone after a
    resume must get the same answer (a promoted pruned trial would crash every later resume)."""
    from feedback_loop.policies import OptunaPolicy

    def make():
        return OptunaPolicy(param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0,
                            storage_path=str(tmp_path / "optuna.journal"), reduction_factor=3, max_resource=9)

    policy = make()
    candidates = policy.ask(6)
    went_on = [policy.report(c, 1, Outcome(0.9)) for c in candidates[:5]]
    state = policy.state_dict()  # the last checkpoint before the stop
    assert policy.report(candidates[5], 1, Outcome(0.1)) is False  # pruned, then the driver is killed
    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.report(candidates[5], 1, Outcome(0.1)) is False  # redone: still pruned, no error
    assert [resumed.report(c, 1, Outcome(0.9)) for c in candidates[:5]] == went_on  # the same answers
    assert resumed.study.trials[candidates[5].info["trial_number"]].state.name == "PRUNED"


def test_the_search_starts_at_nominal_and_at_uniform_dr(tmp_path):
    """TPE's first candidates are the simulator's nominal parameters and the widest member of its
    family (every declared factor over its whole bounds): the search starts from the baselines."""
    from feedback_loop.preflight import build_policy, prepare_run

    prepared = prepare_run(load_config("examples/digits.yaml", ["tracking.tracking_uri=none"]))
    nominal, widest = build_policy(prepared, tmp_path).ask(2)
    env = prepared.env
    assert nominal.params == pytest.approx(env.nominal_params)
    assert all(widest.params[spec.width] == 1.0 for spec in env.ranges.values())


def test_widening_keeps_every_searched_interval_inside_the_delivered_one():
    from feedback_loop.envs.digits.env import RANGES, DigitsEnv
    from feedback_loop.schedulers import widen_candidate

    space = DigitsEnv().param_space
    rng = np.random.default_rng(0)
    params = {name: float(rng.uniform()) for spec in RANGES.values() for name in (spec.position, spec.width)}
    searched = Candidate(7, params, ranges={"w0_oval": [0.2, 0.4]})
    assert widen_candidate(searched, 0.0, space, RANGES) is searched
    half, whole = widen_candidate(searched, 0.5, space, RANGES), widen_candidate(searched, 1.0, space, RANGES)
    low, high = float(space["w0_oval"].low), float(space["w0_oval"].high)
    assert half.ranges["w0_oval"] == pytest.approx([0.2 - 0.5 * (0.2 - low), 0.4 + 0.5 * (high - 0.4)])
    for spec in RANGES.values():
        w = params[spec.width]
        assert half.params[spec.width] == pytest.approx(w + 0.5 * (1 - w))
        a, b = spec.interval(params[spec.position], w)
        a2, b2 = spec.interval(half.params[spec.position], half.params[spec.width])
        assert a2 <= a + 1e-12 and b <= b2 + 1e-12  # the searched interval stays covered
        assert spec.interval(whole.params[spec.position], whole.params[spec.width]) == pytest.approx((spec.low, spec.high))
    assert half.id == 7 and half.info["searched_params"] == params and half.info["widen"] == 0.5
    assert Candidate.from_dict(half.to_dict()) == half  # it survives a checkpoint


def assert_widened_once(summary: dict, fraction: float) -> None:
    for name, value in summary["searched_params"].items():
        expected = value + fraction * (1 - value) if name.endswith("_width") else value
        assert summary["selected_params"][name] == pytest.approx(expected), name


def test_the_delivered_model_trains_on_the_widened_winner_and_the_summary_keeps_both(tmp_path):
    summary = in_process(tiny_digits("final.widen=0.5"), tmp_path / "run").run(progress=False)
    history = runs.history(tmp_path / "run")
    searched = next(h for h in history if h["stage"] == "search" and h["id"] == summary["selected_candidate_id"])
    final = next(h for h in history if h["stage"] == "final")
    assert summary["searched_params"] == searched["params"] and summary["final_widen"] == 0.5
    assert final["params"] == summary["selected_params"] != searched["params"]
    assert_widened_once(summary, 0.5)
    assert feedback_loop.load_model(tmp_path / "run").meta["params"] == summary["selected_params"]


def test_final_widen_is_reported_only_where_it_widened_something(tmp_path):
    """GaussianMixture-v0 declares no range factors and TPE's candidates carry no per-sample ranges:
    nothing to widen, so the summary does not claim it."""
    summary = in_process(gm("final.widen=0.5"), tmp_path / "run").run(progress=False)
    assert summary["final_widen"] == 0.0 and summary["selected_params"] == summary["searched_params"]


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_final_widen_outside_zero_to_one_is_refused_by_name(value):
    from feedback_loop.config import ConfigError

    with pytest.raises(ConfigError, match=r"final\.widen: value .* out of range; allowed: 0 to 1"):
        load_config("examples/gaussian_mixture.yaml", [f"final.widen={value}"])


def equal_compute_bench():
    """``bench/equal_compute.py`` as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("equal_compute", "bench/equal_compute.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_benchmark_never_reads_back_a_run_made_with_other_settings(tmp_path):
    """bench/equal_compute.py keeps its runs to read them back; a run of a changed config is refused."""
    from feedback_loop.config import dump_config

    bench = equal_compute_bench()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dump_config(load_config("examples/gaussian_mixture.yaml", ["final.widen=0.5"]), run_dir / "config.yaml")
    (run_dir / "summary.json").write_text('{"delivered_test_score": 0.9}')
    with pytest.raises(SystemExit, match=r"holds a run made with other settings \(final\.widen: 0\.5 -> 0\.0\)"):
        bench.run_loop("examples/gaussian_mixture.yaml", [], run_dir, None)
    # what cannot change a result (the quoted references) does not count
    same = bench.run_loop("examples/gaussian_mixture.yaml", ["final.widen=0.5", "references={a: b}"], run_dir, None)
    assert same == {"delivered_test_score": 0.9}
    # a persistent policy has no final stage: its final.* settings do not count, its own do
    dump_config(load_config("examples/gaussian_mixture.yaml", ["policy.name=adr"]), run_dir / "config.yaml")
    assert bench.run_loop("examples/gaussian_mixture.yaml", ["policy.name=adr", "final.widen=0.5"], run_dir, None) == same
    with pytest.raises(SystemExit, match=r"learner\.lr: 0\.003 -> 0\.02"):
        bench.run_loop("examples/gaussian_mixture.yaml", ["policy.name=adr", "learner.lr=0.02"], run_dir, None)


def test_the_benchmark_adds_uniform_dr_seeds_without_training_the_stored_ones_again(ray_session, tmp_path, monkeypatch):
    """The one-model uniform DR stage keeps its split and each seed apart: ``--seeds 2`` after
    ``--seeds 1`` trains seed 1 only and reads seed 0 and the split back."""
    import argparse

    from feedback_loop.final_eval import learner_dict

    bench = equal_compute_bench()
    config = load_config("examples/digits.yaml", ["learner.batch_size=64"])
    env = make_simulator(config.simulator.id, config.simulator.kwargs)
    args = argparse.Namespace(uniform_epochs="1,2")
    learner = learner_dict(config.learner)
    first = bench.uniform_and_nominal(args, env, config.simulator, learner, 400, [0], tmp_path)
    assert first["uniform_dr_split"]["samples"] * first["uniform_dr_split"]["epochs"] == 400
    stored_files = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert set(stored_files) == {"uniform-split.json", "uniform-and-nominal-seed0.json"}

    trained: list[int] = []
    remote = bench.synthetic_accuracy.remote
    monkeypatch.setattr(bench.synthetic_accuracy, "remote", lambda *a: trained.append(a[5]) or remote(*a))
    both = bench.uniform_and_nominal(args, env, config.simulator, learner, 400, [0, 1], tmp_path)
    assert trained == [101, 101]  # seed 1's uniform DR and nominal models, nothing else
    assert both["uniform_dr_test_acc_per_seed"][0] == first["uniform_dr_test_acc_per_seed"][0]
    assert both["nominal_test_acc_per_seed"][0] == first["nominal_test_acc_per_seed"][0]
    assert all(stored_files[name] == (tmp_path / name).read_text() for name in stored_files)
    # another split to choose among is another setting: nothing stored is read back for it
    trained.clear()
    bench.uniform_and_nominal(argparse.Namespace(uniform_epochs="1"), env, config.simulator, learner, 400, [0], tmp_path)
    assert trained == [0, 100, 100]


def test_the_benchmark_adds_oracle_seeds_without_fitting_the_references_again(ray_session, tmp_path, monkeypatch):
    """The oracle's cross-validated epochs and the SVM are stored apart from each seed's converged
    learner: ``--seeds 2`` after ``--seeds 1`` trains seed 1's oracle only."""
    import argparse

    from feedback_loop.final_eval import learner_dict

    bench = equal_compute_bench()
    config = load_config("examples/digits.yaml", ["learner.batch_size=256"])
    args = argparse.Namespace(oracle_epochs="1,2")
    learner = learner_dict(config.learner)
    first = bench.references(args, config.simulator, learner, [0], tmp_path, "v")
    assert first["oracle_epochs"] in (1, 2) and set(first["oracle_cv_by_epochs"]) == {"1", "2"}
    assert 0 < first["oracle_test_acc"] <= 1 and 0.9 < first["svm_test_acc"] <= 1
    assert {p.name for p in tmp_path.iterdir()} == {"oracle-choice.json", "oracle-seed0.json"}

    trained: list[int] = []
    remote = bench.real_test_accuracy.remote
    monkeypatch.setattr(bench.real_test_accuracy, "remote", lambda *a: trained.append(a[3]) or remote(*a))
    monkeypatch.setattr(bench, "oracle_choice", lambda *a: pytest.fail("fitted the references again"))
    both = bench.references(args, config.simulator, learner, [0, 1], tmp_path, "v")
    assert trained == [1]
    assert both["oracle_test_acc_per_seed"][0] == first["oracle_test_acc_per_seed"][0]
    assert both["svm_test_acc"] == first["svm_test_acc"] and both["oracle_epochs"] == first["oracle_epochs"]


def test_the_benchmark_reads_back_the_oracle_stored_in_the_older_all_seeds_file(tmp_path, monkeypatch):
    """Run directories made before the oracle was stored per seed keep it: nothing is fitted again."""
    import argparse
    import json

    bench = equal_compute_bench()
    learner = {"samples": 6000, "epochs": 15}
    old_key = {"seeds": [0, 1], "oracle_epochs": "1,2", "learner": learner, "simulator": "v"}
    fields = {"oracle_test_acc": 0.98, "oracle_test_acc_std": 0.001, "oracle_test_acc_per_seed": [0.979, 0.981],
              "oracle_epochs": 2, "oracle_cv_by_epochs": {"1": 0.9, "2": 0.95}, "svm_test_acc": 0.988, "svm_c": 10}
    (tmp_path / "oracle.json").write_text(json.dumps({"key": old_key, "fields": fields}))
    monkeypatch.setattr(bench, "oracle_choice", lambda *a: pytest.fail("fitted the references again"))
    monkeypatch.setattr(bench.real_test_accuracy, "remote", lambda *a: pytest.fail(f"trained again: {a}"))
    result = bench.references(argparse.Namespace(oracle_epochs="1,2"), load_config("examples/digits.yaml").simulator,
                              learner, [0, 1], tmp_path, "v")
    assert result["oracle_test_acc_per_seed"] == [0.979, 0.981] and result["oracle_epochs"] == 2
    assert result["svm_test_acc"] == 0.988 and result["svm_c"] == 10


def test_the_benchmark_reads_back_uniform_dr_stored_in_the_older_all_seeds_file(tmp_path, monkeypatch):
    """Run directories made before per-seed storage keep their one-model uniform DR: nothing retrains."""
    import argparse
    import json

    from feedback_loop.final_eval import learner_dict
    from feedback_loop.simulators import simulator_version

    bench = equal_compute_bench()
    config = load_config("examples/digits.yaml")
    env = make_simulator(config.simulator.id, config.simulator.kwargs)
    learner = learner_dict(config.learner)
    old_key = {"budget": 400, "seeds": [0, 1], "uniform_epochs": "1,2", "learner": learner,
               "simulator": simulator_version(env, config.simulator.id)}
    fields = {"uniform_dr_split": {"epochs": 2, "samples": 200, "validation_by_epochs": {"1": 0.5, "2": 0.6}},
              "uniform_dr_test_acc_per_seed": [0.61, 0.62], "nominal_test_acc_per_seed": [0.51, 0.52]}
    (tmp_path / "uniform-and-nominal.json").write_text(json.dumps({"key": old_key, "fields": fields}))
    monkeypatch.setattr(bench.synthetic_accuracy, "remote", lambda *a: pytest.fail(f"trained again: {a}"))
    result = bench.uniform_and_nominal(argparse.Namespace(uniform_epochs="1,2"), env, config.simulator, learner, 400,
                                       [0, 1], tmp_path)
    assert result["uniform_dr_split"] == fields["uniform_dr_split"]
    assert result["uniform_dr_test_acc_per_seed"] == [0.61, 0.62]
    assert result["nominal_test_acc_per_seed"] == [0.51, 0.52]


def test_the_speed_up_is_the_multi_fidelity_search_given_the_single_fidelity_runs_compute(tmp_path, monkeypatch):
    """``speedup_to_single_fidelity_result``: the single-fidelity search's seconds to its best full-fidelity
    score over the multi-fidelity search's, each given the same compute; the loop's own kept beside."""
    import argparse

    bench = equal_compute_bench()
    config = load_config("examples/digits.yaml")
    args = argparse.Namespace(single_fidelity_evaluations=120, seeds=5, set=[], config="examples/digits.yaml",
                              tracking_uri=None, rescore_seeds=0)
    multi = bench.multi_fidelity_runs(args, tmp_path, "-sim5", config)
    assert [d.name for _, d in multi] == [f"multi-fidelity-120-sim5-seed{s}" for s in range(3)]
    # 120 evaluations of 6,000 × 15 and the delivered model's 60,000 × 15: the single-fidelity run's compute
    assert "budget.train_samples=11700000" in multi[0][0] and "selection.candidates=0" in multi[0][0]
    assert load_config("examples/digits.yaml", multi[0][0]).search.rungs == 3

    full, low = [6000, 15], [2000, 5]
    histories = {  # run directory name -> (elapsed, score, fidelity) of its search evaluations
        "single": [(10.0, 0.90, full), (100.0, 0.95, full), (200.0, 0.93, full)],
        "multi-fidelity-120-sim5-seed0": [(5.0, 0.99, low), (20.0, 0.95, full)],  # a low rung does not count
        "multi-fidelity-120-sim5-seed1": [(50.0, 0.96, full)],
        "multi-fidelity-120-sim5-seed2": [(50.0, 0.94, full)],
        "loop": [(40.0, 0.951, full)],
    }
    monkeypatch.setattr(bench, "read_history", lambda d: [
        {"stage": "search", "elapsed": e, "score": s, "fidelity": f} for e, s, f in histories[Path(d).name]])
    monkeypatch.setattr(bench, "run_loop", lambda *a: {"delivered_test_score": 0.9, "wall_seconds": 300.0,
                                                       "train_samples": 11_700_000, "evaluations": 120})
    out = bench.single_fidelity_speedup(args, ([], tmp_path / "single"), multi, [tmp_path / "loop"], full,
                                        config.simulator, {})
    assert out["single_fidelity_best_val"] == 0.95 and out["single_fidelity_seconds_to_best"] == 100.0
    assert out["speedup_to_single_fidelity_result"] == [5.0, 2.0, None]
    assert out["multi_fidelity_seconds_to_single_fidelity_result"] == [20.0, 50.0, None]
    assert out["loop_speedup_to_single_fidelity_result"] == [2.5]
    assert out["multi_fidelity_delivered_test_acc"] == 0.9 and out["single_fidelity_train_samples"] == 11_700_000


def test_the_noise_robust_speed_up_times_each_search_to_an_incumbent_that_re_scores_as_well(tmp_path, monkeypatch):
    """``rescored_speedup_to_single_fidelity_result``: the target is the single-fidelity search's final
    incumbent re-scored with fresh seeds, and a search reaches it when its incumbent first re-scores as
    high; the re-scores are stored, so a rerun trains nothing again."""
    import types

    bench = equal_compute_bench()
    full, low = [6000, 15], [2000, 5]
    histories = {  # run directory -> (elapsed, candidate id, single score, fidelity) of its search evaluations
        "single": [(10.0, 1, 0.90, full), (100.0, 2, 0.95, full), (200.0, 3, 0.93, full)],  # 3: never the incumbent
        "multi0": [(5.0, 10, 0.99, low), (20.0, 11, 0.95, full)],  # a low rung is never the incumbent
        "multi1": [(10.0, 21, 0.91, full), (50.0, 22, 0.96, full)],
        "multi2": [(50.0, 31, 0.97, full)],
        "multi3": [(5.0, 41, 0.99, low)],  # never reached full fidelity: nothing to re-score
    }
    rescored = {1: 0.90, 2: 0.93, 11: 0.935, 21: 0.90, 22: 0.94, 31: 0.91}  # each candidate's mean over fresh seeds
    monkeypatch.setattr(bench, "read_history", lambda d: [
        {"stage": "search", "elapsed": e, "id": c, "params": {"c": c}, "ranges": None, "score": s, "fidelity": f}
        for e, c, s, f in histories[Path(d).name]])
    trained = []

    def remote(sim_id, kwargs, params, ranges, learner, seed, split):
        assert split == "validation" and seed in (900, 901, 902, 903)
        trained.append(params["c"])
        return rescored[params["c"]] + (0.01 if seed % 2 else -0.01)  # the seeds' noise averages out

    monkeypatch.setattr(bench, "synthetic_accuracy", types.SimpleNamespace(remote=remote))
    monkeypatch.setattr(bench, "ray", types.SimpleNamespace(get=lambda refs: refs))
    sim = load_config("examples/digits.yaml").simulator
    dirs = [tmp_path / f"multi{s}" for s in range(4)]
    for d in [tmp_path / "single", *dirs]:
        d.mkdir()
    out = bench.rescored_speedup(tmp_path / "single", dirs, full, sim, {"samples": 6000}, 4)
    assert out["single_fidelity_rescored_result"] == 0.93 and out["single_fidelity_seconds_to_rescored_result"] == 100.0
    assert out["multi_fidelity_seconds_to_rescored_result"] == [20.0, 50.0, None, None]
    assert out["rescored_speedup_to_single_fidelity_result"] == [5.0, 2.0, None, None]
    assert out["multi_fidelity_final_incumbent_rescored"] == [0.935, 0.94, 0.91, None]
    assert out["single_fidelity_incumbents"] == 2 and out["multi_fidelity_incumbents"] == [1, 2, 1, 0]
    assert sorted(set(trained)) == [1, 2, 11, 21, 22, 31] and len(trained) == 6 * 4
    trained.clear()
    assert bench.rescored_speedup(tmp_path / "single", dirs, full, sim, {"samples": 6000}, 4) == out
    assert trained == []


@pytest.mark.parametrize("value", ["-1", "101"])
def test_the_benchmark_refuses_rescore_seeds_outside_its_range_by_name(value):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "bench/equal_compute.py", "--rescore-seeds", value],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"--rescore-seeds: {value} is outside 0 to 100 (0 skips the re-scoring)" in result.stderr


def test_the_benchmark_refuses_to_time_a_raced_search_by_name():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "bench/equal_compute.py", "--single-fidelity-evaluations", "120",
                             "--set", "search.rungs=1", "--set", "search.repeats=3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--single-fidelity-evaluations: the speed-up stages cannot read a raced search (search.repeats 3)" in result.stderr
