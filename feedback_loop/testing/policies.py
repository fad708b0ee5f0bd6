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
MAX_TELLS = 400  # enough for ADR's defaults to fill a boundary buffer (8 of 16 sides' samples)
TELLS_AFTER_CHANGE = 4  # outcomes told after the first change, before the state is saved
ROUND_TRIP_ASKS = 8  # asks (each told the same outcome) the original and the restored policy must agree on


def fake_score(candidate: Candidate) -> float:
    """A fixed synthetic reward: higher near the middle of every continuous range."""
    values = np.array([v for v in candidate.params.values() if isinstance(v, float)])
    return float(-np.sum(values**2))


def moving_outcome(simulator: Any, candidate: Candidate) -> Outcome:
    """An outcome that moves any learning policy: a score in [0, 1] that is high near the nominal
    parameters and low far from them (so scores fall on both sides of thresholds such as ADR's
    ``t_low``/``t_high``), a ``train_loss`` (for loss-driven policies) that grows away from nominal,
    and the score as ``fresh_score`` (what a persistent learner reports)."""
    distances = []
    for name, space in simulator.param_space.spaces.items():
        value = candidate.params.get(name, simulator.nominal_params.get(name))
        if hasattr(space, "low") and np.size(space.low) == 1 and isinstance(value, (int, float)):
            low, high = float(np.asarray(space.low).item()), float(np.asarray(space.high).item())
            nominal = float(simulator.nominal_params.get(name, (low + high) / 2))
            distances.append(abs(float(value) - nominal) / max(high - low, 1e-12))
    score = float(np.clip(1.0 - 2.0 * np.mean(distances), 0.0, 1.0)) if distances else 0.5
    return Outcome(score=score, train_loss=1.0 - score, metrics={"fresh_score": score})


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


def _asks(candidates: list[Candidate]) -> list[tuple[Any, ...]]:
    """What a policy asked, without ids (a twin's ids match anyway)."""
    return [(json.dumps(c.params, sort_keys=True, default=float), json.dumps(c.ranges, sort_keys=True, default=float),
             c.member, c.copy_from) for c in candidates]


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
    def learns_from_outcomes(self) -> bool:
        """Override to False for a policy whose asks never depend on what it is told (random search,
        uniform DR); the state round trip then does not require the outcomes to change its state."""
        return True

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

    def test_state_round_trip_continues_identically(self, make_policy, simulator, learns_from_outcomes, tmp_path):
        """Rule: a policy restored from its JSON state_dict asks exactly what the original asks next,
        after outcomes that changed its state (what it asks differs from an untold twin's)."""
        original = build_policy(make_policy, 3, tmp_path / "a")
        untold = build_policy(make_policy, 3, tmp_path / "untold")  # asked the same, told nothing
        told, changed_at = 0, None
        while told < MAX_TELLS and (changed_at is None or told < changed_at + TELLS_AFTER_CHANGE):
            asked, twin = original.ask(1), untold.ask(1)
            if changed_at is None and _asks(asked) != _asks(twin):
                changed_at = told  # the outcomes so far changed what the policy asks
            if not asked:
                break
            original.tell(asked[0], moving_outcome(simulator, asked[0]))
            told += 1
        if learns_from_outcomes:
            assert changed_at is not None, (
                f"after {told} outcomes (scores 0..1 around the nominal parameters, with train_loss) the policy "
                "still asks what a twin told nothing asks: its state never changed, so the round trip proves "
                "nothing. A policy that never learns overrides the learns_from_outcomes fixture to False")
        try:
            state = json.loads(json.dumps(original.state_dict()))  # must survive JSON
        except TypeError as err:
            pytest.fail(f"state_dict() must be JSON-serializable: {err}")
        # State kept outside state_dict (a journal file) is resumed from a copy, as a resumed run finds it.
        shutil.copytree(tmp_path / "a", tmp_path / "b")
        restored = build_policy(make_policy, 3, tmp_path / "b")
        restored.load_state_dict(state)
        for step in range(ROUND_TRIP_ASKS):  # a few asks: one draw may hide a state that was not restored
            a, b = original.ask(1)[0], restored.ask(1)[0]
            assert a.id == b.id, f"a restored policy must continue the candidate ids; {a.id} != {b.id}"
            assert a.params == pytest.approx(b.params), f"a restored policy must ask what the original asks (ask #{step})"
            assert a.ranges == b.ranges, f"a restored policy must propose the ranges the original proposes (ask #{step})"
            outcome = moving_outcome(simulator, a)
            original.tell(a, outcome)
            restored.tell(b, outcome)
