"""The Task contract: what a learner learns from the simulator's labels, and how it is scored.

Everything that differs between classification, regression, segmentation or a user's own task lives
in a ``Task``: the label spec (dtype and per-sample shape, and how a batch is validated), the size
of the model's output, the loss, the named metrics of a prediction, the **score** (one of those
metrics, with its direction), ``predict`` for the delivered model and the diagnostics of a delivered
model on real data. The rest of the loop (policies, schedulers, ledger, stages, PBT) sees only a
score and a direction.

A task is built from a name and options (``task: {name: regression, options: {}}`` in a config, or a
simulator's ``task`` attribute), then *bound* to the simulator and the real labels, which fill in
what the options leave open (the number of classes, the regression targets). ``spec()`` is a JSON
dict that rebuilds the bound task anywhere (``build_task(spec)``): in a Ray actor, or beside a
delivered model.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Literal

import numpy as np

from ..types import Objective

Direction = Literal["maximize", "minimize"]


class TaskError(ValueError):
    """Labels, outputs or options that do not fit a task; the message names what and where."""


class Task(abc.ABC):
    """Base class of tasks. Subclasses set the class attributes and implement the abstract methods.

    Tensors here are torch tensors (``output`` is the model's raw output for a batch, ``target`` the
    labels as :meth:`target_tensor` made them); arrays are numpy.
    """

    name: ClassVar[str]
    """The name a config uses (``classification``); a user's task is named by its import path."""
    label_dtype: ClassVar[Any] = np.int64
    """The dtype labels are validated and stored as."""
    score: str
    """The metric fed back to the policy (one of :meth:`metrics`' names)."""
    direction: Direction
    """Whether a higher (``maximize``) or lower (``minimize``) score is better."""

    # -- binding and the label spec ----------------------------------------------------------------
    @abc.abstractmethod
    def bind(self, env: Any, y_real: np.ndarray) -> None:
        """Fill in what the options left open from the simulator (``env``) and the real labels; raise
        ``TaskError`` naming the field when they do not fit the task."""

    @abc.abstractmethod
    def label_shape(self) -> tuple[int, ...]:
        """The shape of one sample's label (``()`` for a class index)."""

    @abc.abstractmethod
    def check_labels(self, y: np.ndarray, where: str) -> None:
        """Raise ``TaskError`` naming ``where``, the bad value and what is allowed when the labels ``y``
        (a batch, first axis the samples) cannot train or score this task."""

    @abc.abstractmethod
    def outputs(self) -> int:
        """The model builder's second argument: classes, targets or channels per pixel."""

    @abc.abstractmethod
    def output_shape(self, n: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape the model's output must have for ``n`` inputs of ``input_shape``."""

    # -- training and scoring (torch) ---------------------------------------------------------------
    @abc.abstractmethod
    def target_tensor(self, y: np.ndarray, device: Any) -> Any:
        """The labels as the tensor :meth:`loss` and :meth:`metrics` take."""

    @abc.abstractmethod
    def loss(self, output: Any, target: Any) -> Any:
        """The training loss of a minibatch (a scalar tensor)."""

    @abc.abstractmethod
    def metrics(self, output: Any, target: Any) -> dict[str, float]:
        """Named metrics of ``output`` against ``target`` over a whole set: ``loss`` and ``self.score``
        at least."""

    @abc.abstractmethod
    def predict(self, output: Any) -> Any:
        """The prediction of a raw output (a class, a vector, a class per pixel), as a tensor."""

    # -- reporting ----------------------------------------------------------------------------------
    def diagnostics(self, predicted: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Where a delivered model errs on real data (JSON fields for ``summary.json``); none by default."""
        return {}

    def diagnostics_figure(self, report: dict[str, Any], title: str = "") -> Any:
        """A matplotlib figure of :meth:`diagnostics`' report, or None."""
        return None

    def options(self) -> dict[str, Any]:
        """The constructor options that rebuild this task as bound (JSON values)."""
        return {}

    # -- provided -------------------------------------------------------------------------------------
    @property
    def objective(self) -> Objective:
        """The validation score the loop optimizes."""
        return Objective(name=f"val_{self.score}", direction=self.direction)

    def better(self, score: float, than: float | None) -> bool:
        """Whether ``score`` beats ``than`` in this task's direction (anything beats None)."""
        return self.objective.better(score, than)

    def spec(self) -> dict[str, Any]:
        """A JSON dict that rebuilds this bound task (``build_task``)."""
        return {"name": self.ref(), "options": self.options(), "score": self.score, "direction": self.direction}

    def ref(self) -> str:
        """The name ``build_task`` resolves: a built-in's name or ``module:Class``."""
        from . import TASKS

        if TASKS.get(self.name) is type(self):
            return self.name
        return f"{type(self).__module__}:{type(self).__qualname__}"

    def describe(self) -> str:
        """One line for messages and reports."""
        return f"{self.name} (score {self.score}, {'higher' if self.direction == 'maximize' else 'lower'} is better)"
