"""Settings that do nothing, or contradict each other, in one declared table.

Each ``Rule`` names a key path, the condition under which setting it does nothing or conflicts
(``when``, in words, and ``applies``, the same as a predicate), the ``action`` (``refuse``: preflight
raises ``ConfigError`` before Ray starts; ``warn``: one console line, ``summary.json``'s ``warnings``
and the MLflow tag ``config_warnings``) and the ``reason``. A key is *set* when its value differs
from the dataclass default (a dict entry: when present), so a config written back by a run (every
key, defaults included) raises nothing new on resume. The configuration reference renders ``RULES``.

Conditions ask the policy class (``learner_mode_for``, ``searches``, ``uses_sampler``), never its name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal

from .config import Config, ConfigError

_MISSING = object()


@dataclass(frozen=True)
class Facts:
    """What a config makes of a run, as the rules ask it (from the policy class's hooks)."""

    policy: str
    persistent: bool  # the policy trains persistent learners (ADR, VADRA, PBT, persistent uniform DR)
    searches: bool  # per-candidate with a search (not uniform DR's one model under budget.train_samples)
    one_model: bool  # per-candidate, nothing to search, budget.train_samples: the budget is one model
    nothing_to_search: bool  # per-candidate and the policy has nothing to search (uniform DR)
    uses_sampler: bool  # the policy reads policy.sampler (Optuna)
    builtin_model: bool  # learner.model is one of ours (takes learner.hidden)
    refiner: bool  # a refiner runs between generators and learners

    @classmethod
    def of(cls, config: Config) -> "Facts":
        from .learners.models import BUILTIN_MODELS
        from .policies import POLICIES

        policy = POLICIES[config.policy.name]
        options = config.policy.options if isinstance(config.policy.options, dict) else {}
        persistent = policy.learner_mode_for(options) == "persistent"
        one_model = not persistent and not policy.searches and bool(config.budget.train_samples)
        return cls(policy=config.policy.name, persistent=persistent, searches=not persistent and not one_model,
                   one_model=one_model, nothing_to_search=not persistent and not policy.searches,
                   uses_sampler=policy.uses_sampler,
                   builtin_model=config.learner.model in BUILTIN_MODELS, refiner=config.refiner.name != "none")


@dataclass(frozen=True)
class Rule:
    """One combination the loop refuses or warns about (see the module docstring)."""

    key: str
    when: str
    action: Literal["refuse", "warn"]
    reason: str
    applies: Callable[[Config, Facts], bool] = dataclasses.field(repr=False, compare=False)
    example: tuple[str, ...] = ()
    """``--set`` assignments that, on an example config, set ``key`` under ``when`` (tests and docs)."""


def _persistent(c: Config, f: Facts) -> bool:
    return f.persistent


def _latest_state_only(c: Config) -> bool:
    from .objectives import latest_state_only  # here: it imports torch, which a config check does not need

    return latest_state_only(c.objective.score)


_PERSISTENT = "with a persistent policy (adr, adversarial, pbt, uniform with persistent: true)"
_DELIVERS = "the policy trains its own learners and delivers a state they reached; there is no searched winner"
_ONE_MODEL = "with a policy that has nothing to search (uniform) and budget.train_samples"
_NO_SEARCH = "the whole budget trains one model on fresh data; there is no search"

RULES: list[Rule] = [
    # -- one way to say each thing ---------------------------------------------------------------
    Rule("policy.options.sampler", "always", "refuse",
         "says policy.sampler a second time; set policy.sampler instead",
         lambda c, f: True, ("policy.options={sampler: cmaes}",)),
    Rule("policy.sampler", "with a policy that uses no sampler (every policy but optuna)", "warn",
         "is ignored: only Optuna reads a sampler",
         lambda c, f: not f.uses_sampler, ("policy.name=random", "policy.sampler=cmaes")),
    Rule("policy_options", "with feedback-loop run (compare moves each entry into its runs' policy.options)", "warn",
         "is read only by 'feedback-loop compare'; a run takes its policy's options from policy.options",
         lambda c, f: True, ("policy_options={pbt: {population: 2}}",)),
    # -- the search and its stages against the policy's topology --------------------------------
    Rule("search.rungs", _PERSISTENT, "refuse",
         "needs a per-candidate policy: a persistent policy trains one model (allowed: 1)",
         _persistent, ("policy.name=adr", "search.rungs=3")),
    Rule("search.repeats", _PERSISTENT, "refuse",
         "needs a per-candidate policy: a persistent policy trains one model (allowed: 1)",
         _persistent, ("policy.name=adr", "search.repeats=3")),
    Rule("search.repeats", "with search.rungs above 1", "refuse",
         "races candidates at one fidelity, which successive halving's rungs contradict (allowed: 1, or search.rungs 1)",
         lambda c, f: c.search.rungs > 1, ("search.rungs=2", "search.repeats=3")),
    Rule("search.rungs", "with objective.score: pareto", "refuse",
         "needs intermediate scores to prune on, and Optuna prunes no two-objective trial (allowed: 1)",
         lambda c, f: c.objective.score == "pareto", ("objective.score=pareto", "search.rungs=2")),
    Rule("search.repeats", "with objective.score: pareto", "refuse",
         "races candidates on one score, and a Pareto search keeps two (allowed: 1)",
         lambda c, f: c.objective.score == "pareto", ("objective.score=pareto", "search.repeats=3")),
    Rule("policy.sampler", "with objective.score: pareto", "refuse",
         "is CMA-ES, which searches one objective only (allowed: tpe, gp, random, qmc)",
         lambda c, f: c.objective.score == "pareto" and f.uses_sampler and c.policy.sampler == "cmaes",
         ("objective.score=pareto", "policy.sampler=cmaes")),
    Rule("policy.options.pruner", "with search.rungs 1 and search.repeats 1", "warn",
         "is ignored: a pruner stops a candidate on the intermediate scores of successive-halving rungs or a race, "
         "and this search reports one score per candidate",
         lambda c, f: f.uses_sampler and f.searches and c.search.rungs <= 1 and c.search.repeats <= 1,
         ("policy.options={pruner: none}",)),
    Rule("policy.options.deliver", "best_state with objective.score: realism", "warn",
         "compares realism between states trained for different lengths: an undertrained network's features make "
         "synthetic and real inputs look alike, so an early state tends to win (under realism the default is "
         "best_member: the members' latest states)",
         lambda c, f: _latest_state_only(c) and (c.policy.options or {}).get("deliver") == "best_state",
         ("policy.name=pbt", "objective.score=realism", "data.labels=0", "policy.options={deliver: best_state}")),
    Rule("search.eta", "with search.rungs 1", "warn",
         "is ignored: it is the factor between successive-halving rungs, and there is one rung",
         lambda c, f: c.search.rungs <= 1, ("search.eta=4",)),
    Rule("search.rungs", _ONE_MODEL, "warn", f"is ignored: {_NO_SEARCH}",
         lambda c, f: f.one_model, ("policy.name=uniform", "budget.train_samples=200000", "search.rungs=2")),
    Rule("search.repeats", _ONE_MODEL, "warn", f"is ignored: {_NO_SEARCH}",
         lambda c, f: f.one_model, ("policy.name=uniform", "budget.train_samples=200000", "search.repeats=2")),
    Rule("selection.candidates", _PERSISTENT, "warn", f"is ignored: {_DELIVERS} to re-score",
         _persistent, ("policy.name=adr", "selection.candidates=3")),
    Rule("selection.seeds", _PERSISTENT, "warn", f"is ignored: {_DELIVERS} to re-score",
         _persistent, ("policy.name=adr", "selection.seeds=3")),
    Rule("selection.candidates", _ONE_MODEL, "warn", f"is ignored: {_NO_SEARCH}, so nothing to re-score",
         lambda c, f: f.one_model, ("policy.name=uniform", "budget.train_samples=200000", "selection.candidates=3")),
    Rule("selection.seeds", "with selection.candidates 0 (re-scoring off)", "warn",
         "is ignored: no candidate is re-scored; set selection.candidates to re-score",
         lambda c, f: not f.persistent and c.selection.candidates == 0, ("selection.seeds=3",)),
    Rule("final.fresh_epochs", _PERSISTENT, "warn", f"is ignored: {_DELIVERS} to train a final model for",
         _persistent, ("policy.name=adr", "final.fresh_epochs=true")),
    Rule("final.widen", _PERSISTENT, "warn", f"is ignored: it widens a searched winner, and {_DELIVERS}",
         _persistent, ("policy.name=adr", "final.widen=0.5")),
    Rule("final.samples", _PERSISTENT, "warn",
         f"sizes only the oracle reference (a simulator that knows its true parameters): {_DELIVERS}",
         _persistent, ("policy.name=adr", "final.samples=500")),
    Rule("final.epochs", _PERSISTENT, "warn",
         f"sizes only the oracle reference (a simulator that knows its true parameters): {_DELIVERS}",
         _persistent, ("policy.name=adr", "final.epochs=5")),
    Rule("final.widen", "with a policy that has nothing to search (uniform)", "warn",
         "is ignored: uniform DR's intervals are already the whole bounds",
         lambda c, f: f.nothing_to_search, ("policy.name=uniform", "final.widen=0.5")),
    Rule("final.samples", _ONE_MODEL, "warn",
         "is ignored: the one model trains budget.train_samples / final.epochs samples",
         lambda c, f: f.one_model, ("policy.name=uniform", "budget.train_samples=200000", "final.samples=500")),
    # -- learners ---------------------------------------------------------------------------------
    Rule("learner.epochs", _PERSISTENT, "warn",
         "sizes only the oracle reference (a simulator that knows its true parameters): a persistent learner's "
         "steps train learner.persistent_epochs",
         _persistent, ("policy.name=adr", "learner.epochs=7")),
    Rule("learner.persistent_samples", "with a per-candidate policy", "warn",
         "is ignored: it sizes a persistent learner's steps, and this policy trains a fresh model per candidate",
         lambda c, f: not f.persistent, ("learner.persistent_samples=200",)),
    Rule("learner.persistent_epochs", "with a per-candidate policy", "warn",
         "is ignored: it sizes a persistent learner's steps, and this policy trains a fresh model per candidate",
         lambda c, f: not f.persistent, ("learner.persistent_epochs=2",)),
    Rule("learner.hidden", "with a user's model (learner.model: module:function)", "refuse",
         "is passed only to the built-in models (mlp, cnn, convnet, fcn); size your model in its own builder",
         lambda c, f: not f.builtin_model, ("learner.model=tests.plugins:tiny_model", "learner.hidden=8")),
    Rule("resources.learners", _PERSISTENT, "warn",
         "is ignored: a persistent policy has one learner per member (pbt: policy.options.population; else 1)",
         _persistent, ("policy.name=adr", "resources.learners=3")),
    Rule("resources.generators", "with resources.placement: pack", "warn",
         "is ignored: pack places one generator beside each learner",
         lambda c, f: c.resources.placement == "pack", ("resources.placement=pack", "resources.generators=3")),
    # -- the objective -----------------------------------------------------------------------------
    *[Rule(f"objective.{key}", "with objective.score: task", "warn",
           "is ignored: the task score alone is fed back, and no realism is measured (set objective.score: "
           "realism, both or pareto)",
           lambda c, f: c.objective.score == "task", (f"objective.{key}={value}",))
      for key, value in (("realism", "c2st"), ("features", "learner"))],
    Rule("objective.weight", "with objective.score other than both", "warn",
         "is ignored: it weighs realism against the task score only under objective.score: both",
         lambda c, f: c.objective.score != "both", ("objective.weight=0.5",)),
    # -- the refiner -------------------------------------------------------------------------------
    *[Rule(f"refiner.{key}", "with refiner.name: none", "warn",
           "is ignored: no refiner runs (set refiner.name: simgan to refine)",
           lambda c, f: not f.refiner, (f"refiner.{key}={value}",))
      for key, value in (("fit_samples", 500), ("refresh_every", 5), ("refresh_steps", 10), ("cpus", 0.25),
                         ("gpus", 0.25))],
    Rule("refiner.options", "with refiner.name: none", "refuse",
         "is refused: refiner 'none' takes no options (set refiner.name: simgan to refine)",
         lambda c, f: not f.refiner, ("refiner.options={steps: 5}",)),
    Rule("refiner.refresh_steps", "with refiner.refresh_every null (fit once)", "warn",
         "is ignored: the refiner is fitted once and never refreshed; set refiner.refresh_every",
         lambda c, f: f.refiner and c.refiner.refresh_every is None, ("refiner.name=simgan", "refiner.refresh_steps=10")),
    # -- tracking ----------------------------------------------------------------------------------
    Rule("tracking.experiment", "with tracking.tracking_uri: none", "warn",
         "is ignored: nothing is tracked", lambda c, f: c.tracking.tracking_uri == "none",
         ("tracking.tracking_uri=none", "tracking.experiment=x")),
]


def value_at(config: Any, key: str) -> Any:
    """The value at a dotted key path (a dict entry too); ``_MISSING`` where there is none."""
    node = config
    for part in key.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        else:
            node = getattr(node, part, _MISSING)
        if node is _MISSING:
            return _MISSING
    return node


def is_set(config: Config, key: str) -> bool:
    """Whether ``key`` differs from its default (a dict entry: whether it is present)."""
    value = value_at(config, key)
    if value is _MISSING:
        return False
    default = value_at(Config(), key)
    return default is _MISSING or value != default


def message(rule: Rule, config: Config) -> str:
    """One line: the key, its value and why (as refusals and warnings print it)."""
    return f"{rule.key}: value {value_at(config, rule.key)!r} {rule.reason} (policy {config.policy.name!r})"


def check_rules(config: Config, facts: Facts | None = None) -> list[str]:
    """Raise ``ConfigError`` for the first refused rule that applies; return the warnings' lines."""
    facts = facts or Facts.of(config)
    warnings: list[str] = []
    for rule in RULES:
        if not is_set(config, rule.key) or not rule.applies(config, facts):
            continue
        if rule.action == "refuse":
            raise ConfigError(message(rule, config))
        line = message(rule, config)
        if line not in warnings:
            warnings.append(line)
    return warnings


# Policy options that a config key already says (one way to say each thing): option -> that key.
SAID_ELSEWHERE = {"sampler": "policy.sampler"}


def refuse_said_elsewhere(options: Any, path: str) -> None:
    """Refuse a policy option that a config key already says (``compare``'s ``policy_options`` too)."""
    for option, key in SAID_ELSEWHERE.items():
        if isinstance(options, dict) and option in options:
            raise ConfigError(f"{path}.{option}: value {options[option]!r} says {key} a second time; "
                              f"set {key} instead")


def rows() -> list[dict[str, str]]:
    """The table as plain rows (key, when, action, reason, example) for the configuration reference."""
    return [{"key": r.key, "when": r.when, "action": r.action, "reason": r.reason, "example": " ".join(r.example)}
            for r in RULES]
