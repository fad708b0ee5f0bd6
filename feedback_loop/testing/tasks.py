"""``TaskContract``: the rules every ``feedback_loop.tasks.Task`` must follow, as a pytest test class.

Override the ``task_case`` fixture to return ``(task, env, y)``: an *unbound* task, the simulator (or
any object with the attributes the task reads, e.g. ``num_classes``) and a batch of valid labels.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from feedback_loop.tasks import Task, TaskError, build_task


class TaskContract:
    """Base of a pytest test class: every rule of the Task contract, run on the ``task_case`` fixture."""

    input_shape: tuple[int, ...] = (1, 8, 8)
    """The inputs a model of the task would take (segmentation outputs take their last two axes)."""

    @pytest.fixture
    def task_case(self) -> tuple[Task, Any, np.ndarray]:
        """Override: return ``(unbound task, env, labels)``."""
        raise NotImplementedError(f"{type(self).__name__} must override the 'task_case' fixture of TaskContract")

    @pytest.fixture
    def bound(self, task_case) -> tuple[Task, np.ndarray]:
        task, env, y = task_case
        task.bind(env, y)
        return task, np.asarray(y)

    def test_score_and_direction_are_declared(self, bound):
        """Rule: the score is named and has a direction; the objective says both."""
        task, _ = bound
        assert isinstance(task.score, str) and task.score, "a task names its score"
        assert task.direction in ("maximize", "minimize")
        assert task.objective.name == f"val_{task.score}" and task.objective.direction == task.direction

    def test_labels_have_the_declared_shape_and_pass_the_check(self, bound):
        """Rule: the labels it was bound to have ``label_shape()`` per sample and pass ``check_labels``."""
        task, y = bound
        assert tuple(y.shape[1:]) == task.label_shape()
        task.check_labels(y, "the test batch")

    def test_labels_of_another_shape_are_refused_naming_where(self, bound):
        """Rule: ``check_labels`` refuses labels of another per-sample shape with a TaskError naming where."""
        task, y = bound
        wrong = np.zeros((len(y), *task.label_shape(), 3), dtype=y.dtype)
        with pytest.raises(TaskError, match="the test batch"):
            task.check_labels(wrong, "the test batch")

    def test_spec_rebuilds_the_same_task(self, bound):
        """Rule: ``spec()`` is JSON and ``build_task(spec)`` gives a task with the same spec (as actors rebuild it)."""
        task, y = bound
        spec = json.loads(json.dumps(task.spec()))
        again = build_task(spec)
        assert again.spec() == task.spec()
        again.check_labels(y, "the rebuilt task")

    def test_loss_and_metrics_of_an_output_of_the_declared_shape(self, bound):
        """Rule: an output of ``output_shape`` gives a finite scalar loss and metrics with ``loss`` and the score;
        ``predict`` gives one label of ``label_shape()`` per sample."""
        import torch

        task, y = bound
        output = torch.randn(task.output_shape(len(y), self.input_shape), generator=torch.Generator().manual_seed(0))
        target = task.target_tensor(y, "cpu")
        loss = task.loss(output, target)
        assert loss.dim() == 0 and torch.isfinite(loss)
        metrics = task.metrics(output, target)
        assert {"loss", task.score} <= set(metrics) and all(np.isfinite(v) for v in metrics.values() if v is not None)
        assert tuple(task.predict(output).shape) == (len(y), *task.label_shape())

    def test_training_on_the_loss_improves_the_score(self, bound):
        """Rule: lowering the loss moves the score in its direction (the output itself trained by gradient)."""
        import torch

        task, y = bound
        output = torch.randn(task.output_shape(len(y), self.input_shape),
                             generator=torch.Generator().manual_seed(1)).requires_grad_()
        target = task.target_tensor(y, "cpu")
        before = task.metrics(output.detach(), target)[task.score]
        optimizer = torch.optim.Adam([output], lr=0.1)
        for _ in range(200):
            optimizer.zero_grad()
            task.loss(output, target).backward()
            optimizer.step()
        after = task.metrics(output.detach(), target)[task.score]
        assert task.better(after, before), f"{task.score} went from {before} to {after} ({task.direction})"

    def test_diagnostics_are_json(self, bound):
        """Rule: the diagnostics of a prediction are a JSON-serializable dict."""
        import torch

        task, y = bound
        output = torch.randn(task.output_shape(len(y), self.input_shape), generator=torch.Generator().manual_seed(2))
        report = task.diagnostics(task.predict(output).numpy(), y)
        json.dumps(report)
