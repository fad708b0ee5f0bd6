"""Population Based Training (``pbt``): exploit copies the whole training state, explore stays inside
``param_space``, a population resumes exactly in the middle of a generation, and a killed member's
learner is restored. In-process tests run in seconds; the Ray tests start actors."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from gymnasium import spaces

from feedback_loop import load_model
from feedback_loop.envs.base import validate_params
from feedback_loop.executors import InProcessExecutor
from feedback_loop.loop import LoopRunner, resume_loop
from feedback_loop.policies import Outcome, PBTPolicy
from feedback_loop.preflight import prepare_run
from feedback_loop.types import Candidate, Fidelity, Job
from tests import runs
from tests.test_loop_logic import Crash, _with_in_process, crash_at, in_process, tiny

POPULATION = "policy.options={population: 3, interval: 2}"


def test_explore_stays_inside_param_space_and_exploit_copies_a_better_member():
    space = spaces.Dict({"x": spaces.Box(-5.0, 5.0, (), np.float32), "w": spaces.Box(0.0, 1.0, (), np.float32),
                         "k": spaces.Discrete(4, start=1)})
    nominal = {"x": 4.9, "w": 0.99, "k": 4}
    policy = PBTPolicy(param_space=space, nominal_params=nominal, seed=0, population=4, interval=2, resample_prob=0.1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        asked = policy.ask(8)  # a generation's steps are all asked; no more until they are told
        assert len(asked) <= 8
        for candidate in asked:
            validate_params(space, nominal, candidate.params)  # raises outside the space
            assert candidate.member in range(4)
            assert candidate.copy_from is None or candidate.info["step"] == 0
        for candidate in asked:
            policy.tell(candidate, Outcome(score=float(rng.uniform())))
        if not asked:
            break
    report = policy.report()
    assert report["generations"] == 30
    assert len(report["lineage"]) > 10
    for event in report["lineage"]:
        assert event["source_score"] > event["member_score"]  # only ever copies a strictly better member
        validate_params(space, nominal, event["params"])
    assert {e["member"] for e in report["schedule"]} == set(range(4))
    # multiplying by 1.2 near the upper bound clips there, never beyond
    assert max(e["params"]["x"] for e in report["schedule"]) <= 5.0


def test_a_generation_waits_for_its_outcomes_and_copiers_go_first():
    space = spaces.Dict({"x": spaces.Box(0.0, 1.0, (), np.float32)})
    policy = PBTPolicy(param_space=space, nominal_params={"x": 0.5}, seed=1, population=4, interval=1)
    first = policy.ask(10)
    assert [c.member for c in first] == [0, 1, 2, 3] and policy.ask(1) == []
    for candidate, score in zip(first, [0.9, 0.1, 0.5, 0.6]):
        policy.tell(candidate, Outcome(score=score))
    second = policy.ask(4)
    assert (second[0].member, second[0].copy_from) == (1, 0)  # the worst copies the best, asked first
    assert [c.copy_from for c in second[1:]] == [None, None, None]
    assert policy.report()["lineage"][0] | {"params": None} == {
        "generation": 1, "member": 1, "copied_from": 0, "member_score": 0.1, "source_score": 0.9, "params": None}


def _state_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _step(member, seed_id, copy_from=None):
    return Job(Candidate(id=seed_id, params={}, member=member), Fidelity(150, 2), seed_id=seed_id, kind="step",
               member=member, copy_from=copy_from)


def test_exploit_copies_the_full_training_state_in_process(tmp_path):
    """After the copy, the copier's next step equals the source's on the same batch: same outcome,
    same weights, Adam moments and generators (dropout and minibatch order)."""
    prepared = prepare_run(tiny("pbt"))
    executor = InProcessExecutor.for_run(prepared)
    executor.start()
    for job in (_step(0, 1), _step(1, 2), _step(0, 3)):  # the members drift apart
        executor.submit(job)
    first = executor.drain()
    assert first[1].outcome.score != first[2].outcome.score
    executor.submit(_step(1, 10, copy_from=0))  # copiers go first, as the policy asks them
    executor.submit(_step(0, 10))
    copier, source = executor.drain()
    assert executor.take_copies().keys() == {1} and copier.job.copy_from is None
    assert copier.outcome.score == source.outcome.score and copier.outcome.train_loss == source.outcome.train_loss
    assert copier.outcome.metrics == source.outcome.metrics
    _state_equal(copier.state, source.state)


def test_pbt_run_delivers_the_best_member_with_lineage_and_schedule(tmp_path):
    config = tiny("pbt", 16, "policy.options={population: 3, interval: 2, deliver: best_member}")
    summary = in_process(config, tmp_path / "run", capacity=4).run(progress=False)
    population = summary["population"]
    assert summary["status"] == "finished" and summary["evaluations"] == 16
    assert summary["train_samples"] == 16 * 150  # every step is persistent_samples × persistent_epochs
    assert population["population"] == 3 and population["generations"] == 2 and population["lineage"]
    member = summary["delivered_member"]
    latest = [m["latest_score"] for m in population["members"]]
    assert summary["delivered_val_score"] == max(latest) == latest[member]
    assert summary["test_score"] is not None
    model = load_model(tmp_path / "run")
    assert model.meta["params"] == population["members"][member]["params"]
    assert (tmp_path / "run" / "population_schedule.png").is_file()
    history = runs.history(tmp_path / "run")
    assert sorted({h["member"] for h in history}) == [0, 1, 2]
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["population"]["lineage"] == population["lineage"]


def test_pbt_delivers_the_best_state_any_member_reached_by_default(tmp_path):
    """The default ``deliver: best_state``: the step with the best validation score of the whole run
    (model selection on validation, as a persistent learner's), its member and parameters."""
    summary = in_process(tiny("pbt", 16, POPULATION), tmp_path / "run", capacity=4).run(progress=False)
    history = [h for h in runs.history(tmp_path / "run") if h["score"] is not None]
    best = max(history, key=lambda h: h["score"])  # the first of equals is the ledger's best
    assert summary["population"]["deliver"] == "best_state"
    assert summary["delivered_val_score"] == best["score"] == summary["best_score"]
    assert summary["delivered_member"] == best["member"]
    model = load_model(tmp_path / "run")
    real = prepare_run(tiny("pbt", 16, POPULATION)).real
    assert np.mean(model.predict(real.x_val) == real.y_val) == pytest.approx(best["score"], abs=1e-6)
    assert np.mean(model.predict(real.x_test) == real.y_test) == pytest.approx(summary["delivered_test_score"],
                                                                              abs=1e-6)


@pytest.mark.parametrize("crash_after", [3, 6, 8])
def test_resume_in_the_middle_of_a_generation_loses_and_repeats_nothing(tmp_path, monkeypatch, crash_after):
    """Stopped mid-generation (3: before the first exploit; 6: just after it, the copy made and its step
    in flight; 8: in the second generation), the resumed
    run equals one that never stopped: the same steps of the same members, the same scores, the
    same lineage, every member's final training state bit for bit."""
    import feedback_loop.loop as loop_module

    config = tiny("pbt", 16, POPULATION)
    straight = in_process(config, tmp_path / "straight", capacity=4).run(progress=False)
    with pytest.raises(Crash):
        in_process(config, tmp_path / "stopped", capacity=4).run(progress=False, on_outcome=crash_at(crash_after))
    assert runs.evaluations(tmp_path / "stopped") == crash_after and runs.pending(tmp_path / "stopped")
    monkeypatch.setattr(loop_module.LoopRunner, "__init__", _with_in_process(loop_module.LoopRunner.__init__))
    resumed = resume_loop(tmp_path / "stopped", progress=False)

    def trace(run_dir):
        return [(h["id"], h["member"], h["params"], h["score"]) for h in runs.history(run_dir)]

    assert trace(tmp_path / "stopped") == trace(tmp_path / "straight")
    assert resumed["population"] == straight["population"]
    for key in ("best_score", "test_score", "train_samples", "delivered_member", "delivered_val_score"):
        assert resumed[key] == straight[key], key
    files = [runs.checkpoint(d)["files"] for d in (tmp_path / "straight", tmp_path / "stopped")]
    for field in ("weights_file", "member1_weights_file", "member2_weights_file"):
        with np.load(tmp_path / "straight" / files[0][field]) as a, np.load(tmp_path / "stopped" / files[1][field]) as b:
            _state_equal(dict(a), dict(b))


def test_preflight_checks_pbt_options(tmp_path):
    from feedback_loop.config import ConfigError

    with pytest.raises(ConfigError, match="population must be at least 2"):
        prepare_run(tiny("pbt", 4, "policy.options={population: 1}"))
    with pytest.raises(ConfigError, match="policy.options.enqueue: set by the loop itself"):
        prepare_run(tiny("pbt", 4, "policy.options={enqueue: []}"))
    with pytest.raises(ConfigError, match="deliver must be one of best_state, best_member, got 'last'"):
        prepare_run(tiny("pbt", 4, "policy.options={deliver: last}"))


# -- on Ray actors ---------------------------------------------------------------------------------

def ray_config(evaluations: int, *extra: str, interval: int = 2):
    from tests.test_loop import tiny_config

    return tiny_config(evaluations, "policy.name=pbt", f"policy.options={{population: 2, interval: {interval}}}",
                       "learner.persistent_samples=200", "resources.learner_cpus=0.5", "resources.prefetch=1",
                       *extra, name="test-pbt")


def test_exploit_copies_the_full_training_state_between_ray_learners(ray_session, tmp_path):
    """The same check as in process, across two learner actors (the state travels through the driver)."""
    from feedback_loop.executors.ray_pool import RayExecutor
    from feedback_loop.topology import Topology

    prepared = prepare_run(ray_config(4))
    executor = RayExecutor(prepared.config, prepared.real, input_shape=prepared.input_shape,
                           task=prepared.task, topology=Topology(persistent=True, members=2), run_id="pbt-copy",
                           run_dir=tmp_path, nominal_params=prepared.env.nominal_params)
    executor.start()
    try:
        assert len(executor.learners) == 2
        for job in (_step(0, 1), _step(1, 2), _step(0, 3)):
            executor.submit(job)
        first = {r.job.seed_id: r for r in executor.drain()}
        assert first[2].outcome.score != first[3].outcome.score
        executor.submit(_step(1, 10, copy_from=0))
        executor.submit(_step(0, 10))
        results = {r.job.member: r for r in executor.drain()}
        assert executor.take_copies().keys() == {1}
        copier, source = results[1], results[0]
        assert copier.outcome.score == source.outcome.score and copier.outcome.metrics == source.outcome.metrics
        _state_equal(copier.state, source.state)
    finally:
        executor.close()


def _scores(run_dir):
    """Members train side by side, so their results are told in whichever order they finish."""
    return sorted((h["id"], h["member"], h["score"]) for h in runs.history(run_dir))


def test_killed_member_is_restored_and_the_run_equals_one_never_killed(ray_session, tracking_uri, tmp_path):
    """Member 1's learner is killed with steps in flight: Ray restarts it, the executor gives it
    member 1's last told state and redoes its lost steps; the other member trains on undisturbed."""
    import ray

    config = ray_config(12, interval=6)  # no exploit before the end: a copy would also restore the learner
    never_killed = LoopRunner(config, tmp_path / "straight", tracking_uri=tracking_uri).run(progress=False)
    runner = LoopRunner(config, tmp_path / "run", tracking_uri=tracking_uri)
    told = []

    def kill_member_1(candidate, outcome):
        told.append(candidate.id)
        if len(told) == 3:
            ray.kill(runner.executor.learners[1], no_restart=False)
            time.sleep(2.0)

    summary = runner.run(progress=False, on_outcome=kill_member_1)
    assert summary["evaluations"] == 12 and summary["failed_evaluations"] == 0
    assert runner.executor.restores == 1
    assert _scores(tmp_path / "run") == _scores(tmp_path / "straight")
    assert summary["population"]["lineage"] == never_killed["population"]["lineage"]
    assert summary["test_score"] == never_killed["test_score"]
