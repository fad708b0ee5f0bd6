"""The policies from the literature: REINFORCE (Learning to Simulate), VADRA (adversarial) and ADR.

The contract suite (tests/test_policies.py) already runs them through ask/tell/state; these tests
check that each one learns from the signal its paper prescribes, on fixed synthetic rewards.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces

from feedback_loop.policies import (
    ADRPolicy,
    AdversarialPolicy,
    Candidate,
    Outcome,
    ParamCodec,
    ReinforcePolicy,
    make_policy,
)

# One Box and one Discrete (with a non-zero start) parameter, to exercise discrete handling.
MIXED_SPACE = spaces.Dict(
    {
        "size": spaces.Box(0.0, 10.0, shape=(), dtype=np.float32),
        "shape": spaces.Discrete(3, start=1),
    }
)
MIXED_NOMINAL = {"size": 5.0, "shape": 1}


def check_inside(space: spaces.Dict, candidate: Candidate) -> None:
    for name, value in candidate.params.items():
        sub = space.spaces[name]
        if isinstance(sub, spaces.Discrete):
            assert isinstance(value, int) and sub.start <= value < sub.start + sub.n, (name, value)
        else:
            assert float(sub.low) - 1e-6 <= value <= float(sub.high) + 1e-6, (name, value)
    for name, (low, high) in (candidate.ranges or {}).items():
        sub = space.spaces[name]
        assert float(sub.low) - 1e-6 <= low <= high <= float(sub.high) + 1e-6, (name, low, high)


def ask_tell_rounds(policy, rounds: int, outcome_of) -> None:
    for _ in range(rounds):
        (candidate,) = policy.ask(1)
        policy.tell(candidate, outcome_of(candidate))


def assert_same_future(original, restored, outcome_of, rounds: int = 10) -> None:
    """Original and restored policies keep asking the same things, updates included."""
    for _ in range(rounds):
        (a,), (b,) = original.ask(1), restored.ask(1)
        assert a.id == b.id and a.params == b.params and a.ranges == b.ranges and a.info == b.info
        original.tell(a, outcome_of(a))
        restored.tell(b, outcome_of(b))


# -- REINFORCE (Ruiz et al. 2019) --------------------------------------------------------------
def test_reinforce_moves_its_mean_towards_a_target(gm_env):
    codec = ParamCodec(gm_env.param_space)
    target = np.linspace(0.2, 0.8, codec.n_continuous)

    def outcome_of(candidate):  # reward = − distance to the target in normalized space
        unit, _ = codec.encode(candidate.params)
        return Outcome(score=-float(np.linalg.norm(unit - target)))

    policy = ReinforcePolicy(param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0)
    assert policy.learner_mode == "per_candidate"
    start = np.linalg.norm(codec.encode(policy.mean_params())[0] - target)
    for _ in range(40):  # 40 iterations of K = 8, several candidates in flight at a time
        candidates = policy.ask(8)
        for candidate in candidates:
            check_inside(gm_env.param_space, candidate)
            policy.tell(candidate, outcome_of(candidate))
    assert policy.iterations == 40
    end = np.linalg.norm(codec.encode(policy.mean_params())[0] - target)
    assert end < 0.5 * start


def test_reinforce_learns_the_best_category_and_skips_failures():
    def outcome_of(candidate):
        return Outcome(score=1.0 if candidate.params["shape"] == 3 else 0.0)

    policy = ReinforcePolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=1, population=4, lr=0.1)
    for _ in range(30):
        for candidate in policy.ask(4):
            check_inside(MIXED_SPACE, candidate)
            policy.tell(candidate, outcome_of(candidate))
    (failed,) = policy.ask(1)
    policy.tell(failed, Outcome.failed("boom"))  # accepted, not learned from
    assert policy.state_dict()["told"] == []
    assert policy.mean_params()["shape"] == 3
    assert sum(c.params["shape"] == 3 for c in policy.ask(50)) > 30


def test_reinforce_state_round_trip_includes_the_optimizer():
    def outcome_of(candidate):
        return Outcome(score=-abs(candidate.params["size"] - 8.0) + candidate.params["shape"], train_loss=0.3)

    original = ReinforcePolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=2, population=3)
    ask_tell_rounds(original, 10, outcome_of)  # 3 updates done, one outcome pending
    restored = ReinforcePolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=2, population=3)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert_same_future(original, restored, outcome_of)
    assert original.state_dict() == restored.state_dict()


# -- VADRA (Khirodkar et al. 2018) -------------------------------------------------------------
def hard_bin_outcome(candidate: Candidate) -> Outcome:
    """The learner finds bin 3 of ``size`` hard; the validation score says the opposite."""
    hard = candidate.info["bins"][0] == 3
    return Outcome(score=0.1 if hard else 0.9, train_loss=2.0 if hard else 0.5)


def test_adversarial_rewards_the_fresh_batch_loss():
    policy = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=0)
    assert policy.learner_mode == "persistent"
    assert policy.probabilities()["size"] == pytest.approx([0.2] * 5)
    for _ in range(100):  # 25 updates of 4 outcomes
        (candidate,) = policy.ask(1)
        check_inside(MIXED_SPACE, candidate)
        low, high = candidate.ranges["size"]  # the generator samples inside the chosen bin
        assert high - low == pytest.approx(2.0) and low <= candidate.params["size"] <= high
        assert "shape" not in candidate.ranges  # discrete parameters are set, not ranged
        policy.tell(candidate, hard_bin_outcome(candidate))
    probs = policy.probabilities()
    assert probs["size"][3] > 0.35 and probs["size"][3] == max(probs["size"])
    assert sum(probs["shape"]) == pytest.approx(1.0)


def test_adversarial_ignores_the_score():
    """Same losses, different scores: the two policies stay identical."""
    first = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=4)
    second = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=4)
    for step in range(20):
        (a,), (b,) = first.ask(1), second.ask(1)
        assert a.info == b.info
        loss = hard_bin_outcome(a).train_loss
        first.tell(a, Outcome(score=0.0, train_loss=loss))
        second.tell(b, Outcome(score=float(step), train_loss=loss))
    assert first.state_dict() == second.state_dict()
    assert first.probabilities() != {k: [1 / len(v)] * len(v) for k, v in first.probabilities().items()}


def test_adversarial_keeps_a_uniform_share_and_skips_outcomes_without_loss():
    policy = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=5, uniform_share=0.5)
    candidates = policy.ask(200)
    share = np.mean([c.info["uniform"] for c in candidates])
    assert 0.4 < share < 0.6
    for candidate in candidates[:3]:
        policy.tell(candidate, Outcome(score=0.5))  # no train_loss: nothing to learn from
    policy.tell(candidates[3], Outcome.failed("boom"))
    assert policy.state_dict()["told"] == []


def test_adversarial_state_round_trip_after_updates():
    original = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=6, population=3)
    ask_tell_rounds(original, 11, hard_bin_outcome)
    restored = AdversarialPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=6, population=3)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert_same_future(original, restored, hard_bin_outcome)
    assert original.state_dict() == restored.state_dict()


# -- ADR (OpenAI 2019) -------------------------------------------------------------------------
def adr(**options) -> ADRPolicy:
    return ADRPolicy(param_space=MIXED_SPACE, nominal_params=MIXED_NOMINAL, seed=0, **options)


def feed(policy: ADRPolicy, accuracy: float, rounds: int, via_score: bool = False) -> None:
    for _ in range(rounds):
        (candidate,) = policy.ask(1)
        check_inside(MIXED_SPACE, candidate)
        assert candidate.info["adr_entropy"] == pytest.approx(policy.entropy())
        assert candidate.params["shape"] == MIXED_NOMINAL["shape"]  # discrete params stay nominal
        if "boundary" in candidate.info:
            name, side = candidate.info["boundary"]
            value = policy.current_ranges()[name][0 if side == "low" else 1]
            assert candidate.ranges[name] == [value, value]
        outcome = (Outcome(score=accuracy) if via_score
                   else Outcome(score=0.0, metrics={"fresh_accuracy": accuracy}))
        policy.tell(candidate, outcome)


def test_adr_starts_narrow_around_nominal():
    policy = adr()
    assert policy.current_ranges() == {"size": [pytest.approx(4.5), pytest.approx(5.5)]}
    assert policy.entropy() == pytest.approx(np.log(0.1))
    edge = ADRPolicy(param_space=MIXED_SPACE, nominal_params={"size": 0.0, "shape": 2}, seed=0)
    assert edge.current_ranges()["size"] == [0.0, pytest.approx(0.5)]  # clipped to the bounds


def test_adr_widens_above_t_high_and_entropy_grows():
    policy = adr(buffer_size=4)
    before = policy.entropy()
    feed(policy, accuracy=0.95, rounds=60)
    low, high = policy.current_ranges()["size"]
    assert low < 4.5 - 1 and high > 5.5 + 1
    assert policy.entropy() > before


def test_adr_narrows_below_t_low_but_never_inside_the_initial_range():
    policy = adr(buffer_size=4)
    feed(policy, accuracy=0.95, rounds=60, via_score=True)  # score is the fallback signal
    wide = policy.current_ranges()["size"]
    feed(policy, accuracy=0.1, rounds=40)
    low, high = policy.current_ranges()["size"]
    assert wide[0] < low and high < wide[1]  # narrowed ...
    feed(policy, accuracy=0.1, rounds=200)
    assert policy.current_ranges()["size"] == [pytest.approx(4.5), pytest.approx(5.5)]  # ... to the initial range


def test_adr_holds_between_thresholds_and_clears_its_buffers():
    policy = adr(buffer_size=4)
    feed(policy, accuracy=0.65, rounds=40)
    assert policy.current_ranges()["size"] == [pytest.approx(4.5), pytest.approx(5.5)]
    buffers = policy.state_dict()["buffers"]["size"]
    assert all(len(b) < 4 for b in buffers.values())


def test_adr_state_round_trip_after_decisions():
    original = adr(buffer_size=3)
    feed(original, accuracy=0.9, rounds=17)
    restored = adr(buffer_size=3)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))

    def outcome_of(candidate):
        return Outcome(score=0.0, metrics={"fresh_accuracy": 0.9})

    assert_same_future(original, restored, outcome_of)
    assert original.state_dict() == restored.state_dict()


@pytest.mark.parametrize("name", ["reinforce", "adversarial", "adr"])
def test_registered_with_options(name, gm_env):
    options = {"reinforce": {"population": 4, "lr": 0.1}, "adversarial": {"bins": 3, "entropy_coef": 0.0},
               "adr": {"delta": 0.1, "t_high": 0.9}}[name]
    policy = make_policy(name, param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0,
                         **options)
    (candidate,) = policy.ask(1)
    gm_env.check_params(candidate.params)
    with pytest.raises(TypeError):
        make_policy(name, param_space=gm_env.param_space, nominal_params=gm_env.nominal_params, seed=0, bogus=1)
