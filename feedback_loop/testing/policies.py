"""``PolicyContract``: the ask/tell/state rules every policy must follow, as a pytest test class.

Override the ``make_policy`` fixture with a factory ``make_policy(seed)`` or
``make_policy(seed, workdir)`` that builds a fresh policy for the ``simulator`` fixture's
``param_space``/``nominal_params``. ``workdir`` is an empty folder of the policy's own: a policy that
keeps state outside ``state_dict`` (Optuna's journal file) puts it there. The resume test copies
the original policy's folder into the restored one's before building it, as a resumed run finds
its run directory. The ``simulator`` fixture defaults to the built-in GaussianMixture simulator.
"""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from feedback_loop.envs.base import validate_params
from feedback_loop.policies import Candidate, Outcome, Policy

PolicyFactory = Callable[..., Policy]


def fake_score(candidate: Candidate) -> float:
    """A fixed synthetic reward: higher near the middle of every continuous range."""
    values = np.array([v for v in candidate.params.values() if isinstance(v, float)])
    return float(-np.sum(values**2))


def assert_in_space(simulator: Any, candidate: Candidate) -> bool:
    """Fail unless the candidate's params (and both ends of each range) lie inside ``param_space``."""
    try:
        validate_params(simulator.param_space, simulator.nominal_params, candidate.params)
        for name, (low, high) in (candidate.ranges or {}).items():
            validate_params(simulator.param_space, simulator.nominal_params, {name: low})
            validate_params(simulator.param_space, simulator.nominal_params, {name: high})
    except (ValueError, TypeError) as err:
        pytest.fail(f"ask() must propose candidates inside param_space; candidate {candidate.id}: {err}")
    return True


def build_policy(make_policy: PolicyFactory, seed: int, workdir: Path) -> Policy:
    """Call the author's factory as ``(seed, workdir)``, or as ``(seed)`` when it takes one argument."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        inspect.signature(make_policy).bind(seed, workdir)
    except TypeError:
        return make_policy(seed)
    except ValueError:  # no signature to inspect (a builtin): pass both
        pass
    return make_policy(seed, workdir)


class PolicyContract:
    """Base of a pytest test class: every rule of the Policy contract, run on ``make_policy``'s policy."""

    @pytest.fixture
    def simulator(self):
        """The simulator whose ``param_space``/``nominal_params`` the policy tunes (override to change)."""
        import gymnasium as gym

        import feedback_loop.envs  # noqa: F401  (registers the ids)

        return gym.make("feedback_loop/GaussianMixture-v0").unwrapped

    @pytest.fixture
    def make_policy(self, simulator) -> PolicyFactory:
        """Override: return ``lambda seed[, workdir]: MyPolicy(param_space=..., nominal_params=..., seed=seed)``."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'make_policy' fixture of PolicyContract"
        )

    def test_is_a_policy(self, make_policy, tmp_path):
        """Rule: a policy subclasses feedback_loop.policies.Policy and names a valid learner_mode."""
        policy = build_policy(make_policy, 0, tmp_path / "a")
        assert isinstance(policy, Policy), f"{type(policy).__name__} must subclass feedback_loop.policies.Policy"
        assert policy.learner_mode in ("per_candidate", "persistent"), (
            f"learner_mode must be 'per_candidate' or 'persistent'; got {policy.learner_mode!r}"
        )

    def test_ask_returns_distinct_candidates_inside_the_space(self, make_policy, simulator, tmp_path):
        """Rule: ask(n) returns n candidates with distinct ids, all inside param_space."""
        policy = build_policy(make_policy, 0, tmp_path / "a")
        candidates = policy.ask(3)
        assert len(candidates) == 3, f"ask(3) must return 3 candidates; got {len(candidates)}"
        ids = [c.id for c in candidates]
        assert len(set(ids)) == 3, f"ask(n) must return candidates with distinct ids; got ids {ids}"
        assert all(assert_in_space(simulator, c) for c in candidates)

    def test_tell_accepts_ok_and_failed_outcomes(self, make_policy, simulator, tmp_path):
        """Rule: tell() accepts ok and failed outcomes, and ask() still proposes candidates inside the space."""
        policy = build_policy(make_policy, 0, tmp_path / "a")
        for step in range(4):
            (candidate,) = policy.ask(1)
            if step == 1:
                policy.tell(candidate, Outcome.failed("simulator exploded"))
            else:
                policy.tell(candidate, Outcome(score=fake_score(candidate), train_loss=0.5))
        assert assert_in_space(simulator, policy.ask(1)[0])

    def test_nan_score_is_a_failed_outcome(self, make_policy, tmp_path):
        """Rule: a NaN score is a failed outcome (score None), and tell() accepts it."""
        outcome = Outcome(score=float("nan"))
        assert outcome.status == "failed" and outcome.score is None, "Outcome(score=nan) must be a failed outcome"
        policy = build_policy(make_policy, 0, tmp_path / "a")
        (candidate,) = policy.ask(1)
        policy.tell(candidate, outcome)

    def test_same_seed_same_candidates(self, make_policy, tmp_path):
        """Rule: two policies built with the same seed and told the same outcomes ask the same candidates."""
        first = build_policy(make_policy, 7, tmp_path / "one")
        second = build_policy(make_policy, 7, tmp_path / "two")
        for step in range(3):
            a, b = first.ask(1)[0], second.ask(1)[0]
            assert a.params == b.params and a.ranges == b.ranges, (
                f"the same seed must give the same candidates; ask #{step}: {a.params, a.ranges} "
                f"!= {b.params, b.ranges}"
            )
            first.tell(a, Outcome(score=fake_score(a)))
            second.tell(b, Outcome(score=fake_score(b)))

    def test_state_round_trip_continues_identically(self, make_policy, tmp_path):
        """Rule: a policy restored from its JSON state_dict asks exactly what the original asks next."""
        original = build_policy(make_policy, 3, tmp_path / "a")
        for _ in range(12):  # past Optuna's random start-up trials
            (candidate,) = original.ask(1)
            original.tell(candidate, Outcome(score=fake_score(candidate)))
        try:
            state = json.loads(json.dumps(original.state_dict()))  # must survive JSON
        except TypeError as err:
            pytest.fail(f"state_dict() must be JSON-serializable: {err}")
        # State kept outside state_dict (a journal file) is resumed from a copy, as a resumed run finds it.
        shutil.copytree(tmp_path / "a", tmp_path / "b")
        restored = build_policy(make_policy, 3, tmp_path / "b")
        restored.load_state_dict(state)
        a, b = original.ask(1)[0], restored.ask(1)[0]
        assert a.id == b.id, f"a restored policy must continue the candidate ids; {a.id} != {b.id}"
        assert a.params == pytest.approx(b.params), "a restored policy must ask what the original asks next"
        assert a.ranges == b.ranges, "a restored policy must propose the ranges the original proposes next"
