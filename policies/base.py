"""The Policy contract: an ask/tell object that turns evaluation outcomes into new parameters.

Shaped like ``optuna.samplers.BaseSampler`` / Ray Tune's ``Searcher``: ``ask`` proposes candidates,
``tell`` reports how one did, and ``state_dict``/``load_state_dict`` make persistence part of the
contract. States must be JSON-serializable (checkpoints are plain JSON, never pickles).
"""

from __future__ import annotations

import abc
from typing import Any, Literal

from gymnasium import spaces

from ..types import Candidate, Outcome  # re-exported: policies are written against these

__all__ = ["Candidate", "Direction", "Outcome", "LearnerMode", "Policy"]


LearnerMode = Literal["per_candidate", "persistent"]
Direction = Literal["maximize", "minimize"]


class Policy(abc.ABC):
    """Base class of all policies. Constructors are keyword-only and take an explicit ``seed``.

    Subclasses implement ``ask``, ``tell``, ``state_dict`` and ``load_state_dict``.
    ``direction`` says whether a higher (``maximize``, accuracy) or lower (``minimize``, an error) score
    is better; the loop passes the task's. A policy compares scores only through ``utility`` (higher
    is better in either direction) or ``direction``, so it serves any task.
    ``learner_mode`` says whether each candidate gets a fresh learner (``"per_candidate"``) or one
    learner trains on while the policy moves the parameters (``"persistent"``).
    """

    learner_mode: LearnerMode = "per_candidate"
    members: int = 1
    """Persistent learners the policy trains at once: more than 1 for a population (PBT), whose
    candidates name their ``member`` (and ``copy_from`` to take another member's training state)."""
    supports_pruning: bool = False
    """True for a policy that judges intermediate results itself (``report``), e.g. Optuna with a pruner."""
    searches: bool = True
    """False for a policy with nothing to search (uniform DR): a per-candidate run then spends its whole
    budget on the one delivered model."""
    signal: str = "score"
    """What steers the policy: ``score`` (the fed-back score, whatever ``objective.score`` makes it), or a
    signal of its own learner (e.g. ``train_loss``), which a label-free objective cannot replace."""
    multi_objective: bool = False
    """True for a policy that can search two objectives at once (``objective.score: pareto``): its ``tell``
    reads the outcome's ``metrics["realism"]`` beside its score."""
    uses_sampler: bool = False
    """True for a policy that reads ``policy.sampler`` (Optuna); reports name the sampler only then."""
    loop_options: frozenset[str] = frozenset()
    """Constructor options the loop sets itself (``loop_kwargs``); a config may not set them."""

    # -- what the loop asks of a policy class before building it (hooks: no name is checked elsewhere) --
    @classmethod
    def default_options(cls, config: Any) -> dict[str, Any]:
        """Options this policy takes from the rest of the config when ``policy.options`` leaves them out."""
        return {}

    @classmethod
    def check_options(cls, options: dict[str, Any], config: Any) -> None:
        """Refuse options that do not fit the rest of the config: ``ValueError`` naming the key."""

    @classmethod
    def loop_kwargs(cls, *, env: Any, config: Any, run_dir: Any) -> dict[str, Any]:
        """The ``loop_options`` values for a run: e.g. where to start, the simulator's ranges, a journal."""
        return {}

    def __init__(self, *, param_space: spaces.Dict, nominal_params: dict[str, Any], seed: int,
                 direction: Direction = "maximize") -> None:
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"direction: value {direction!r} is not allowed; allowed: maximize or minimize")
        self.param_space = param_space
        self.nominal_params = dict(nominal_params)
        self.seed = seed
        self.direction: Direction = direction
        self._next_id = 0

    def utility(self, score: float) -> float:
        """``score`` turned so that higher is better (the score itself, or its negative when minimized)."""
        return float(score) if self.direction == "maximize" else -float(score)

    @classmethod
    def learner_mode_for(cls, options: dict[str, Any]) -> LearnerMode:
        """The ``learner_mode`` a policy built with these (checked) options will have."""
        return cls.learner_mode

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    @abc.abstractmethod
    def ask(self, n: int = 1) -> list[Candidate]:
        """Propose ``n`` candidates to evaluate next (pending ones may still be out). A population
        policy may return fewer (none) while it waits for a generation's outcomes."""

    @abc.abstractmethod
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        """Report the outcome of a candidate returned by ``ask`` (exactly once per candidate)."""

    def report(self, candidate: Candidate, step: int, outcome: Outcome) -> bool:
        """An intermediate result of ``candidate`` at resource ``step`` (1, eta, eta², ... of the cheapest
        fidelity); True: evaluate it further, False: stop it (the policy has then recorded it as
        stopped). Only called when ``supports_pruning``; a candidate that goes all the way is ``tell``-ed."""
        raise NotImplementedError(f"{type(self).__name__} does not judge intermediate results")

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: a JSON-serializable dict."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; later asks continue exactly as without interruption."""
