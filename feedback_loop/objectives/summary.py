"""What a run's summary says about its objective: what every choice was made on, the delivered
model's task score on the labelled samples (None without labels) and the realism it reached."""

from __future__ import annotations

from typing import Any


def history_fields(config: Any, task: Any, metrics: dict[str, float]) -> dict[str, Any]:
    """Extra history fields of one outcome under a realism objective (none under ``score: task``, so a
    task-scored run's history stays as it was): its realism and its task score on the labelled samples."""
    if config.objective.score == "task":
        return {}
    return {"realism": metrics.get("realism"), "task_score": metrics.get(f"val_{task.score}")}


def delivered_metrics(scheduler: Any, ledger: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """The delivered model's outcome metrics (or history fields): the final stage's, the population
    member's latest step (``deliver: best_member``), a single learner's latest step (``delivered_state:
    latest``), else the best state's."""
    delivered = getattr(scheduler, "delivered", None)
    if delivered is not None and delivered.outcome.ok:
        return delivered.outcome.metrics
    population = summary.get("population") or {}
    member = summary.get("delivered_member")
    latest = summary.get("delivered_state") == "latest"
    if latest or (population.get("deliver") == "best_member" and member is not None):
        entries = [h for h in ledger.history if h["status"] == "ok" and h["stage"] == "search"
                   and (latest or h.get("member") == member)]
        if entries:
            return {"realism": entries[-1].get("realism"), "task_score": entries[-1].get("task_score")}
        return {}
    return {} if ledger.best is None else ledger.best["outcome"]["metrics"]


def summary_fields(config: Any, task: Any, summary: dict[str, Any], metrics: dict[str, Any],
                   real: Any) -> dict[str, Any]:
    """``objective``, ``chosen_on``, the labels used, and (under a realism objective) the delivered
    model's ``delivered_val_score`` (its task score on the labelled samples: None without labels),
    ``delivered_realism`` and ``delivered_objective_score`` (the fed-back score it was chosen on)."""
    from . import chosen_on, fed_back_objective

    objective = fed_back_objective(config.objective, task)
    out: dict[str, Any] = {
        "objective": {**vars(config.objective), "name": objective.name, "direction": objective.direction},
        "chosen_on": chosen_on(config.objective, task),
        "labels": config.data.labels, "labelled_samples": len(real.x_val), "unlabeled_samples": len(real.unlabeled()),
    }
    if config.objective.score == "task":
        return out
    delivered = summary.get("delivered_val_score")  # what the loop filled in: the fed-back score
    task_score = metrics.get(f"val_{task.score}", metrics.get("task_score"))
    out.update(delivered_objective_score=delivered,
               delivered_val_score=None if delivered is None else task_score,
               delivered_realism=None if delivered is None else metrics.get("realism"))
    return out
