"""Tasks: what a learner learns and how it is scored (see ``base.Task``).

Built-ins: ``classification`` (the default), ``regression`` and ``segmentation``; a user's own task is
named ``module:Class``. ``task_for(config_task, env, y_real)`` resolves what a run uses: the config's
``task`` section, else the simulator's ``task`` attribute (a name or a ``Task``), else classification;
``build_task(spec)`` rebuilds a bound task from its ``spec()``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Direction, Task, TaskError
from .classification import Classification
from .regression import Regression
from .segmentation import Segmentation

TASKS: dict[str, type[Task]] = {"classification": Classification, "regression": Regression,
                                "segmentation": Segmentation}


def _task_class(name: str, field: str) -> type[Task]:
    from ..imports import import_object, is_import_path

    if name in TASKS:
        return TASKS[name]
    if is_import_path(name):
        cls = import_object(name, field)
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TaskError(f"{field}: {name!r} is not a feedback_loop.tasks.Task subclass")
        return cls
    raise TaskError(f"{field}: unknown task {name!r}; choose one of {', '.join(TASKS)} or an import path 'module:Class'")


def make_task(name: str, options: dict[str, Any] | None = None, field: str = "task.name") -> Task:
    """An unbound task by name (or import path) with its constructor options."""
    cls = _task_class(name, field)
    try:
        return cls(**(options or {}))
    except TypeError as err:
        raise TaskError(f"task.options: task {name!r} rejects {options}: {err}") from err


def declared_task(env: Any) -> Task:
    """The task a simulator declares (its ``task`` attribute: a name or a ``Task``), unbound;
    classification when it declares none."""
    declared = getattr(env, "task", None)
    if declared is None:
        return Classification()
    if isinstance(declared, Task):
        return declared
    if isinstance(declared, str):
        return make_task(declared, field=f"{type(env).__name__}.task")
    raise TaskError(f"{type(env).__name__}.task: expected a task name or a Task, got {type(declared).__name__} {declared!r}")


def task_for(name: str | None, options: dict[str, Any] | None, env: Any, y_real: np.ndarray) -> Task:
    """The bound task of a run: ``task.name`` when set (else the simulator's), bound to ``env`` and the real labels."""
    if name is None and options:
        raise TaskError(f"task.options: {sorted(options)} given without task.name; allowed: set task.name too")
    task = make_task(name, options) if name is not None else declared_task(env)
    task.bind(env, np.asarray(y_real))
    return task


def build_task(spec: Task | dict[str, Any] | int) -> Task:
    """A bound task from its ``spec()`` (a ``Task`` is returned as is; an int is a classification's
    number of classes, as learners took before tasks existed)."""
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, (int, np.integer)):
        return Classification(num_classes=int(spec))
    return make_task(spec["name"], spec.get("options"), field="task")


__all__ = ["TASKS", "Classification", "Direction", "Regression", "Segmentation", "Task", "TaskError", "build_task",
           "declared_task", "make_task", "task_for"]
