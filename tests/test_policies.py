"""The policy contract suite (``feedback_loop.testing.PolicyContract``) over every policy, then specifics."""

from __future__ import annotations

import numpy as np
import pytest

from feedback_loop.policies import POLICIES, Outcome, make_policy
from feedback_loop.testing import PolicyContract
from feedback_loop.testing.policies import fake_score


def policy_options(name, workdir):
    """Optuna keeps its study in a journal file: in the policy's own folder."""
    return {"storage_path": str(workdir / "study.journal")} if name == "optuna" else {}


def build(name, env, tmp_path, seed=0):
    return make_policy(name, param_space=env.param_space, nominal_params=env.nominal_params, seed=seed,
                       **policy_options(name, tmp_path))


class TestBuiltinPolicies(PolicyContract):
    """Every rule of the contract, for every policy in ``POLICIES``."""

    @pytest.fixture(params=sorted(POLICIES))
    def policy_name(self, request):
        return request.param

    @pytest.fixture
    def learns_from_outcomes(self, policy_name):
        return policy_name not in ("random", "uniform")  # these two never look at an outcome

    @pytest.fixture
    def make_policy(self, policy_name, simulator):
        return lambda seed, workdir: make_policy(
            policy_name, param_space=simulator.param_space, nominal_params=simulator.nominal_params, seed=seed,
            **policy_options(policy_name, workdir))


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
