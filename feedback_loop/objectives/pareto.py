"""``objective.score: pareto``: the search keeps both objectives apart — the task score on the labelled
samples and the realism to the unlabeled ones — and delivers one point of their Pareto front.

The front is the set of candidates that no other candidate beats on both (at least as good on each,
better on one). **The rule that picks the delivered point (the knee)**: each objective is scaled to
[0, 1] over every searched candidate (0 = the best value the search saw, 1 = the worst; an objective
equal everywhere scales to 0); of the front, the point nearest the ideal corner (0, 0) in Euclidean
distance is chosen; a tie (distances equal to 12 digits) goes to the better task score, then to the
earlier candidate. Neither objective's units matter, and a point that gives up much of one objective
for a little of the other is not chosen. The frame is the whole search's, not the front's own: scaled
over a front of two points, both would sit at distance 1 and the task score alone would decide.

With re-scoring (``selection``), the shortlist is the front in knee order, then the front of the
remaining candidates (the next layer) in knee order, and so on, up to ``selection.candidates``; each is
re-scored with fresh seeds, and the same rule, in the same frame, picks among the re-scored means (a
candidate with a failed re-scoring is not eligible; if none is left, the search's knee is delivered).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

RULE = ("knee: each objective scaled to [0, 1] over every searched candidate (0 = the best value seen), the "
        "front's point nearest (0, 0) in Euclidean distance; ties go to the better task score, then the earlier "
        "candidate")
FRONT_JSON = "pareto_front.json"
FRONT_PLOT = "pareto_front.png"


@dataclass(frozen=True)
class Point:
    """One candidate's two objectives: its task score (``direction``'s way is better) and realism (lower)."""

    id: int
    task: float
    realism: float


def _utility(task: float, direction: str) -> float:
    return task if direction == "maximize" else -task


def dominates(a: Point, b: Point, direction: str) -> bool:
    """``a`` is at least as good as ``b`` on both objectives and better on one."""
    ta, tb = _utility(a.task, direction), _utility(b.task, direction)
    return ta >= tb and a.realism <= b.realism and (ta > tb or a.realism < b.realism)


def _finite(points: Iterable[Point]) -> list[Point]:
    return [p for p in points if math.isfinite(p.task) and math.isfinite(p.realism)]


def front(points: Iterable[Point], direction: str) -> list[Point]:
    """The non-dominated points (in the order given)."""
    points = _finite(points)
    return [p for p in points if not any(dominates(q, p, direction) for q in points)]


def knee_order(points: Iterable[Point], direction: str, frame: Iterable[Point] | None = None) -> list[Point]:
    """The front of ``points``, ordered by the knee rule (the module docstring): the first is the one
    delivered. ``frame``: the points whose ranges scale the objectives (default: ``points`` themselves)."""
    points = _finite(points)
    pareto = front(points, direction)
    frame = _finite(frame) if frame is not None else points
    if not pareto or not frame:
        return []
    utilities = [_utility(p.task, direction) for p in frame]
    realisms = [p.realism for p in frame]
    best_u, worst_u, best_r, worst_r = max(utilities), min(utilities), min(realisms), max(realisms)

    def scaled(value: float, best: float, worst: float) -> float:
        return 0.0 if best == worst else (value - best) / (worst - best)

    def key(point: Point) -> tuple[float, float, int]:
        utility = _utility(point.task, direction)
        distance = math.hypot(scaled(utility, best_u, worst_u), scaled(point.realism, best_r, worst_r))
        return round(distance, 12), -utility, point.id

    return sorted(pareto, key=key)


def knee(points: Iterable[Point], direction: str, frame: Iterable[Point] | None = None) -> Point | None:
    """The front's point the rule delivers (None: no point with both objectives)."""
    ordered = knee_order(points, direction, frame)
    return ordered[0] if ordered else None


def layers_in_knee_order(points: Iterable[Point], direction: str) -> list[Point]:
    """Every point: the front in knee order, then the front of the rest in knee order, and so on (the
    whole search's frame throughout): the selection stage's shortlist is its head."""
    rest, frame, out = _finite(points), _finite(points), []
    while rest:
        layer = knee_order(rest, direction, frame)
        out += layer
        taken = {p.id for p in layer}
        rest = [p for p in rest if p.id not in taken]
    return out


def search_points(history: list[dict[str, Any]]) -> list[Point]:
    """The search's successful candidates with both objectives (``history_fields`` records them)."""
    points = []
    for entry in history:
        if entry["stage"] == "search" and entry["status"] == "ok" and entry.get("task_score") is not None \
                and entry.get("realism") is not None:
            points.append(Point(int(entry["id"]), float(entry["task_score"]), float(entry["realism"])))
    return _finite(points)  # a diverged learner's NaN realism is no point (and no valid JSON)


def ranking(ledger: Any, direction: str) -> list[Any]:
    """The search's candidates layer by layer in knee order, as the ledger's candidates (the selection
    stage's shortlist is its head; without re-scoring, the first is delivered)."""
    by_id = {c.id: c for c in ledger.ranking()}
    return [by_id[p.id] for p in layers_in_knee_order(search_points(ledger.history), direction) if p.id in by_id]


def pick_rescored(means: dict[int, tuple[float | None, float | None]], direction: str,
                  frame: Iterable[Point] | None = None) -> int | None:
    """The re-scored candidate the rule delivers, from each one's (task mean, realism mean), scaled in
    ``frame`` (the search's points; default: the means themselves); a candidate with a failed re-scoring
    (a None mean) is not eligible."""
    points = [Point(cid, task, realism) for cid, (task, realism) in means.items()
              if task is not None and realism is not None]
    chosen = knee(points, direction, frame)
    return None if chosen is None else chosen.id


def report(history: list[dict[str, Any]], direction: str, task_score: str, delivered_id: int | None,
           selection: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What ``pareto_front.json`` holds: the rule, every searched point, the front in knee order and the
    candidate delivered (``selection``: the re-scored means, when there was re-scoring)."""
    points = search_points(history)
    ordered = knee_order(points, direction, points)
    on_front = {p.id for p in ordered}
    return {
        "rule": RULE, "task_score": task_score, "task_direction": direction, "realism_direction": "minimize",
        "front": [{"candidate_id": p.id, "task_score": p.task, "realism": p.realism, "knee_rank": i + 1}
                  for i, p in enumerate(ordered)],
        "points": [{"candidate_id": p.id, "task_score": p.task, "realism": p.realism, "on_front": p.id in on_front}
                   for p in points],
        "knee_candidate_id": ordered[0].id if ordered else None,
        "delivered_candidate_id": delivered_id,
        "selection": selection or [],
    }


def plot(front_report: dict[str, Any]) -> Any:
    """Every searched point, the front (joined, in realism order) and the delivered point (a star): a
    ``Figure`` with its own Agg canvas, so no pyplot state is touched and nothing needs closing."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5))
    axes = figure.subplots()
    rest = [p for p in front_report["points"] if not p["on_front"]]
    axes.scatter([p["realism"] for p in rest], [p["task_score"] for p in rest], s=18, color="0.6",
                 label="searched candidates")
    pareto = sorted(front_report["front"], key=lambda p: p["realism"])
    axes.plot([p["realism"] for p in pareto], [p["task_score"] for p in pareto], "o-", color="tab:blue",
              label="Pareto front")
    delivered = front_report["delivered_candidate_id"]
    chosen = [p for p in front_report["points"] if p["candidate_id"] == delivered]
    if chosen:
        axes.scatter([chosen[0]["realism"]], [chosen[0]["task_score"]], marker="*", s=260, color="tab:red",
                     zorder=3, label=f"delivered (candidate {delivered})")
    better = "higher" if front_report["task_direction"] == "maximize" else "lower"
    axes.set_xlabel("realism (lower is better)")
    axes.set_ylabel(f"validation {front_report['task_score']} ({better} is better)")
    axes.set_title("Pareto front of the search (knee rule)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def write(run_dir: Path, front_report: dict[str, Any]) -> Any:
    """``pareto_front.json`` and ``pareto_front.png`` in the run directory; returns the figure."""
    from ..checkpoint import atomic_write_text

    atomic_write_text(Path(run_dir) / FRONT_JSON, json.dumps(front_report, indent=2))
    figure = plot(front_report)
    figure.savefig(Path(run_dir) / FRONT_PLOT, dpi=100)
    return figure
