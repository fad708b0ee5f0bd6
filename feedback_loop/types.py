"""The loop's vocabulary: what a policy proposes, what an evaluation costs and what it returns.

Nothing heavy is imported here (no optuna, torch or ray): every actor process imports this module,
and a policy, an executor or a test can use these types alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class Candidate:
    """One proposal: parameters inside ``param_space`` and, optionally, per-sample ranges.

    ``ranges`` (``{name: [low, high]}``) asks the generator to draw those parameters afresh for
    every sample, uniformly within the range (domain randomization); ``params`` holds the values
    of all other parameters. ``info`` is the policy's own bookkeeping (JSON-serializable).

    A population policy (``Policy.members > 1``) names the ``member`` whose persistent learner
    trains on the candidate, and ``copy_from`` another member whose whole training state (weights,
    optimizer state, random state) that learner takes over just before (PBT's exploit).
    """

    id: int
    params: dict[str, Any]
    ranges: dict[str, list[float]] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    member: int | None = None
    copy_from: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Candidate":
        return cls(**data)


Status = Literal["ok", "failed"]


@dataclass
class Outcome:
    """How a candidate did. ``score`` is the task's validation score (``Objective`` says its name and
    whether higher or lower is better: accuracy is maximized, a regression's error minimized).

    ``train_loss`` is the learner's loss on the candidate's fresh batch *before* training on it
    (the adversarial signal); ``metrics`` holds extras such as per-class accuracy. A failed
    evaluation has ``status="failed"`` and ``error`` set; its score is ``None``. ``samples`` counts
    the generated samples, ``train_samples`` the sample visits spent training (samples × epochs).
    """

    score: float | None
    train_loss: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    status: Status = "ok"
    error: str | None = None
    samples: int = 0
    seconds: float = 0.0
    train_samples: int = 0

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
    def failed(cls, error: str, samples: int = 0, seconds: float = 0.0, train_samples: int = 0) -> "Outcome":
        return cls(score=None, status="failed", error=error, samples=samples, seconds=seconds,
                   train_samples=train_samples)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        return cls(**data)


@dataclass(frozen=True)
class Objective:
    """What the loop optimizes: the name of the score and whether higher is better (the task's)."""

    name: str = "val_accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"

    def utility(self, score: float) -> float:
        """``score`` turned so that higher is better (its negative when minimized): sort keys use it."""
        return float(score) if self.direction == "maximize" else -float(score)

    def better(self, score: float, than: float | None) -> bool:
        """Whether ``score`` beats ``than`` (anything beats None)."""
        if than is None:
            return True
        return score > than if self.direction == "maximize" else score < than


@dataclass(frozen=True)
class Fidelity:
    """How much one evaluation trains: ``samples`` fresh generated samples for ``epochs`` epochs."""

    samples: int
    epochs: int

    @property
    def train_samples(self) -> int:
        """Training sample visits, the unit of the compute budget."""
        return self.samples * self.epochs


@dataclass
class Job:
    """One unit of work for an executor: train on ``fidelity`` fresh samples of ``candidate``.

    ``kind`` is ``"evaluate"`` (a fresh model) or ``"step"`` (the persistent model trains on).
    ``stage`` is ``"search"``, ``"selection"`` (re-scoring with fresh seeds) or ``"final"`` (the
    delivered model, whose weights come back with the result); ``rung`` the search's fidelity rung.
    ``seed_id`` names the data randomness, so that a resumed run regenerates exactly the same batch;
    ``model_seed`` the fresh model's (None: ``learner.seed``); ``with_test`` also scores the test half
    (reporting only, never fed back). ``member`` routes a persistent step to that member's learner
    (0: the single persistent learner); ``copy_from``: that learner first takes the last told state
    of member ``copy_from`` (the executor clears it once done, so a redone job never copies twice).
    ``fresh_epochs``: every epoch trains on ``fidelity.samples`` newly rendered samples (none seen
    twice), and the epoch whose model scores best on validation is the one kept (``final.fresh_epochs``).
    ``repeat``: which of a raced candidate's seeds this is (``search.repeats``; 0 otherwise).
    """

    candidate: Candidate
    fidelity: Fidelity
    seed_id: int
    kind: Literal["evaluate", "step"] = "evaluate"
    with_test: bool = False
    model_seed: int | None = None
    stage: str = "search"
    rung: int = 0
    member: int = 0
    copy_from: int | None = None
    fresh_epochs: bool = False
    repeat: int = 0

    @property
    def key(self) -> str:
        """Names the job among all of a run's (its MLflow child run carries it)."""
        return f"{self.stage}:{self.candidate.id}:{self.rung}:{self.seed_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate.to_dict(), "fidelity": asdict(self.fidelity), "seed_id": self.seed_id,
                "kind": self.kind, "with_test": self.with_test, "model_seed": self.model_seed, "stage": self.stage,
                "rung": self.rung, "member": self.member, "copy_from": self.copy_from, "fresh_epochs": self.fresh_epochs,
                "repeat": self.repeat}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Job":
        return cls(Candidate.from_dict(data["candidate"]), Fidelity(**data["fidelity"]), int(data["seed_id"]),
                   data.get("kind", "evaluate"), bool(data.get("with_test", False)), data.get("model_seed"),
                   data.get("stage", "search"), int(data.get("rung", 0)), int(data.get("member", 0)),
                   data.get("copy_from"), bool(data.get("fresh_epochs", False)), int(data.get("repeat", 0)))


@dataclass
class Result:
    """A finished job: its outcome and, for a persistent learner, the training state after it."""

    job: Job
    outcome: Outcome
    state: dict[str, Any] | None = None
    lost: bool = False  # failed because an actor or node was lost under it, not by the candidate
