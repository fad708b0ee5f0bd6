"""The Policy contract: an ask/tell object that turns evaluation outcomes into new parameters.

Shaped like ``optuna.samplers.BaseSampler`` / Ray Tune's ``Searcher``: ``ask`` proposes candidates,
``tell`` reports how one did, and ``state_dict``/``load_state_dict`` make persistence part of the
contract. States must be JSON-serializable (checkpoints are plain JSON, never pickles).
"""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gymnasium import spaces


@dataclass
class Candidate:
    """One proposal: parameters inside ``param_space`` and, optionally, per-sample ranges.

    ``ranges`` (``{name: [low, high]}``) asks the generator to draw those parameters afresh for
    every sample, uniformly within the range (domain randomization); ``params`` holds the values
    of all other parameters.
    """

    id: int
    params: dict[str, Any]
    ranges: dict[str, list[float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        return cls(**data)


Status = Literal["ok", "failed"]


@dataclass
class Outcome:
    """How a candidate did. ``score`` is the validation metric, higher is better.

    ``train_loss`` is the learner's loss on the candidate's fresh batch *before* training on it
    (the adversarial signal); ``metrics`` holds extras such as per-class accuracy. A failed
    evaluation has ``status="failed"`` and ``error`` set; its score is ``None``.
    """

    score: float | None
    train_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    status: Status = "ok"
    error: str | None = None
    samples: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        # A NaN or infinite score is a failed evaluation, never a best score.
        if self.status == "ok" and (self.score is None or not math.isfinite(self.score)):
            self.error = self.error or f"non-finite score {self.score!r}"
            self.status = "failed"
            self.score = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(cls, error: str, samples: int = 0, seconds: float = 0.0) -> "Outcome":
        return cls(score=None, status="failed", error=error, samples=samples, seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        return cls(**data)


LearnerMode = Literal["per_candidate", "persistent"]


class Policy(abc.ABC):
    """Base class of all policies. Constructors are keyword-only and take an explicit ``seed``.

    Subclasses implement ``ask``, ``tell``, ``state_dict`` and ``load_state_dict``.
    ``learner_mode`` says whether each candidate gets a fresh learner (``"per_candidate"``) or one
    learner trains on while the policy moves the parameters (``"persistent"``).
    """

    learner_mode: LearnerMode = "per_candidate"

    def __init__(self, *, param_space: spaces.Dict, nominal_params: dict[str, Any], seed: int) -> None:
        self.param_space = param_space
        self.nominal_params = dict(nominal_params)
        self.seed = seed
        self._next_id = 0

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    @abc.abstractmethod
    def ask(self, n: int = 1) -> list[Candidate]:
        """Propose ``n`` candidates to evaluate next (pending ones may still be out)."""

    @abc.abstractmethod
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        """Report the outcome of a candidate returned by ``ask`` (exactly once per candidate)."""

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: a JSON-serializable dict."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict()``; later asks continue exactly as without interruption."""
