"""What the loop feeds back (``objective`` config section): the task score on labelled real data, a
realism distance to unlabeled real data (``realism.py``, measured on ``features.py``), or both.

Everything downstream (ledger, halving, selection, PBT's ranking, policies) sees one score and its
direction through ``Objective``: ``fed_back_objective`` says which. Realism is lower-is-better; ``both``
keeps the task's direction and moves the task score against it by ``weight`` × realism (Meta-Sim adds
its MMD to the task loss the same way). ``pareto`` keeps the two apart: a multi-objective Optuna study
is told both, and the delivered point is the front's knee (``pareto.py``); the one score the rest sees
is the task score.
"""

from __future__ import annotations

from typing import Any

from ..types import Objective
from .realism import REALISMS, c2st, mmd2, realism

SCORES = ("task", "realism", "both", "pareto")
NEEDS_LABELS = ("task", "both", "pareto")  # scores that read the task score on labelled samples


def check_objective_config(config: Any) -> None:
    """Refuse names and combinations no run can use, naming the key, the value and what is allowed
    (``config`` is a ``Config``; policy combinations are ``check_policy``'s)."""
    from ..config import ConfigError

    objective, labels = config.objective, config.data.labels
    if objective.score not in SCORES:
        raise ConfigError(f"objective.score: unknown score {objective.score!r}; allowed: {', '.join(SCORES)}")
    if objective.realism not in REALISMS:
        raise ConfigError(f"objective.realism: unknown distance {objective.realism!r}; allowed: {', '.join(REALISMS)}")
    if not (objective.features in ("raw", "learner") or ":" in objective.features):
        raise ConfigError(f"objective.features: unknown features {objective.features!r}; allowed: raw, learner "
                          "or an import path 'module:function'")
    if not objective.weight >= 0:
        raise ConfigError(f"objective.weight: value {objective.weight!r} is out of range; allowed: >= 0")
    if labels == 0 and objective.score in NEEDS_LABELS:
        raise ConfigError(f"objective.score: value {objective.score!r} needs labelled real samples, but data.labels "
                          "is 0; allowed: realism (or data.labels >= 1)")
    if config.final.finetune and labels is not None and labels < 2:
        raise ConfigError(f"final.finetune: true needs at least 2 labelled samples to cross-validate its epochs, "
                          f"but data.labels is {labels}; allowed: data.labels >= 2 (or null), or final.finetune: false")


def check_policy(config: Any, policy_cls: type) -> None:
    """A policy steered by its learner's own signal (``Policy.signal``, e.g. adversarial's loss) ignores
    the fed-back score: with anything but ``score: task`` the objective would steer nothing."""
    from ..config import ConfigError
    from ..policies import POLICIES

    signal = getattr(policy_cls, "signal", "score")
    if config.objective.score == "pareto" and not getattr(policy_cls, "multi_objective", False):
        able = ", ".join(sorted(n for n, c in POLICIES.items() if getattr(c, "multi_objective", False)))
        raise ConfigError(f"objective.score: value 'pareto' needs a policy that searches two objectives at once, "
                          f"and policy {config.policy.name!r} takes one score; allowed: policy {able}")
    if config.objective.score != "task" and signal != "score":
        steered = ", ".join(sorted(n for n, c in POLICIES.items() if getattr(c, "signal", "score") == "score"))
        raise ConfigError(f"objective.score: value {config.objective.score!r} cannot steer policy "
                          f"{config.policy.name!r}, whose signal is the learner's {signal}; allowed: objective.score "
                          f"task, or a policy steered by the score ({steered})")


def check_run(config: Any, policy_cls: type) -> None:
    """Preflight's check of the objective: the policy can be steered by it (``check_policy``) and a user's
    feature function (``objective.features: module:function``) imports, before any learner starts."""
    from ..config import ConfigError
    from .features import resolve_features

    check_policy(config, policy_cls)
    if config.objective.score != "task":
        try:
            resolve_features(config.objective.features)
        except ValueError as err:
            raise ConfigError(str(err)) from err


def latest_state_only(score: str) -> bool:
    """Whether choices between states of one training take the latest state (the last fresh epoch, a
    single learner's latest state, PBT's ``best_member``) instead of the best-scoring one. True under
    ``realism`` alone: realism compares data, and an undertrained network's features make synthetic and
    real inputs look alike, so an early state would win; a task score keeps its say otherwise."""
    return score == "realism"


def fed_back_objective(objective: Any, task: Any) -> Objective:
    """The score fed back and its direction: the task's (also under ``pareto``, whose realism reaches
    the study beside it), ``realism_<kind>`` (minimized), or the task score penalized by realism (the
    task's direction)."""
    if objective.score in ("task", "pareto"):  # pareto: realism is told to the study beside it
        return task.objective
    if objective.score == "realism":
        return Objective(f"realism_{objective.realism}", "minimize")
    return Objective(f"{task.score}_with_realism_{objective.realism}", task.direction)


def chosen_on(objective: Any, task: Any) -> str:
    """What every choice (best epoch, best state, ranking, selection, halving) is made on, in words."""
    what = f"{objective.realism}, {objective.features}"
    if objective.score == "task":
        return f"validation {task.score}"
    if objective.score == "realism":
        return f"realism ({what})"
    if objective.score == "pareto":
        return f"the Pareto front of validation {task.score} and realism ({what}), knee rule"
    return f"validation {task.score} with {objective.weight} x realism ({what})"


def combine(task_score: float, realism_value: float, weight: float, direction: str) -> float:
    """``both``: the task score moved against its direction by ``weight`` × realism."""
    penalty = weight * realism_value
    return task_score - penalty if direction == "maximize" else task_score + penalty


__all__ = ["REALISMS", "SCORES", "c2st", "check_objective_config", "check_policy", "check_run",
           "chosen_on", "combine", "fed_back_objective", "latest_state_only", "mmd2", "realism"]
