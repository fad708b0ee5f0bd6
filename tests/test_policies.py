"""The policy contract suite: every policy, through the same ask/tell/state tests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from feedback_loop.policies import POLICIES, Candidate, Outcome, make_policy


def build(name, env, tmp_path, seed=0, tag="a"):
    options = {"storage_path": str(tmp_path / f"{tag}.journal")} if name == "optuna" else {}
    return make_policy(name, param_space=env.param_space, nominal_params=env.nominal_params, seed=seed, **options)


def fake_score(candidate: Candidate) -> float:
    """A fixed synthetic reward: higher near the middle of every continuous range."""
    values = np.array([v for v in candidate.params.values() if isinstance(v, float)])
    return float(-np.sum(values**2))


def in_space(env, candidate: Candidate) -> bool:
    env.check_params(candidate.params)
    if candidate.ranges:
        for name, (low, high) in candidate.ranges.items():
            env.check_params({name: low})
            env.check_params({name: high})
    return True


@pytest.fixture(params=sorted(POLICIES))
def policy_name(request):
    return request.param


def test_ask_returns_distinct_candidates_inside_the_space(policy_name, gm_env, tmp_path):
    policy = build(policy_name, gm_env, tmp_path)
    candidates = policy.ask(3)
    assert len(candidates) == 3
    assert len({c.id for c in candidates}) == 3
    assert all(in_space(gm_env, c) for c in candidates)


def test_tell_accepts_ok_and_failed_outcomes(policy_name, gm_env, tmp_path):
    policy = build(policy_name, gm_env, tmp_path)
    for step in range(4):
        (candidate,) = policy.ask(1)
        if step == 1:
            policy.tell(candidate, Outcome.failed("simulator exploded"))
        else:
            policy.tell(candidate, Outcome(score=fake_score(candidate), train_loss=0.5))
    assert in_space(gm_env, policy.ask(1)[0])


def test_nan_score_is_a_failed_outcome(policy_name, gm_env, tmp_path):
    outcome = Outcome(score=float("nan"))
    assert outcome.status == "failed" and outcome.score is None
    policy = build(policy_name, gm_env, tmp_path)
    (candidate,) = policy.ask(1)
    policy.tell(candidate, outcome)


def test_same_seed_same_candidates(policy_name, gm_env, tmp_path):
    first = build(policy_name, gm_env, tmp_path, seed=7, tag="one")
    second = build(policy_name, gm_env, tmp_path, seed=7, tag="two")
    for _ in range(3):
        a, b = first.ask(1)[0], second.ask(1)[0]
        assert a.params == b.params and a.ranges == b.ranges
        first.tell(a, Outcome(score=fake_score(a)))
        second.tell(b, Outcome(score=fake_score(b)))


def test_state_round_trip_continues_identically(policy_name, gm_env, tmp_path):
    """A policy restored from a JSON state asks exactly what the original asks next."""
    original = build(policy_name, gm_env, tmp_path, seed=3)
    for _ in range(12):  # past Optuna's random start-up trials
        (candidate,) = original.ask(1)
        original.tell(candidate, Outcome(score=fake_score(candidate)))
    state = json.loads(json.dumps(original.state_dict()))  # must survive JSON
    if policy_name == "optuna":  # the study lives in its journal: resume from a copy of it
        shutil.copy(tmp_path / "a.journal", tmp_path / "b.journal")
    restored = build(policy_name, gm_env, tmp_path, seed=3, tag="b")
    restored.load_state_dict(state)
    a, b = original.ask(1)[0], restored.ask(1)[0]
    assert a.id == b.id
    assert a.params == pytest.approx(b.params)
    assert a.ranges == b.ranges


def test_uniform_dr_randomizes_every_parameter_over_its_whole_range(gm_env, tmp_path):
    (candidate,) = build("uniform", gm_env, tmp_path).ask(1)
    assert candidate.ranges == {name: [-5.0, 5.0] for name in gm_env.param_space.spaces}


def test_optuna_moves_towards_better_scores(gm_env, tmp_path):
    policy = build("optuna", gm_env, tmp_path)
    scores = []
    for _ in range(40):
        (candidate,) = policy.ask(1)
        scores.append(fake_score(candidate))
        policy.tell(candidate, Outcome(score=scores[-1]))
    assert max(scores[20:]) > np.median(scores[:10])
    assert np.mean(scores[20:]) > np.mean(scores[:10])


def test_unknown_policy_and_sampler_are_named(gm_env):
    with pytest.raises(ValueError, match="policy.name: unknown policy 'bogus'"):
        make_policy("bogus", param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0)
    with pytest.raises(ValueError, match="policy.sampler: unknown sampler 'nope'"):
        make_policy("optuna", param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0,
                    sampler="nope")


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "gp", "random", "qmc"])
def test_every_optuna_sampler_by_name(sampler, gm_env):
    policy = make_policy("optuna", param_space=gm_env.param_space, nominal_params=gm_env.nominal_params,
                         seed=0, sampler=sampler)
    for _ in range(3):
        (candidate,) = policy.ask(1)
        policy.tell(candidate, Outcome(score=fake_score(candidate)))
    assert len(policy.study.trials) == 3
