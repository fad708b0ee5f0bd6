"""``Ledger``: what a run has done — counters, the best outcome, distinct errors and the history.

Every told outcome is recorded exactly once. The history is journaled (one JSON line per outcome,
``history.jsonl``) instead of being rewritten into every checkpoint, so a checkpoint stays the same
size however long the run; the checkpoint says how many journal lines it counts, and lines past
that (written just before a crash) are dropped on resume, because their outcomes will be redone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointError, atomic_write_text
from .types import Candidate, Objective, Outcome

HISTORY_FILE = "history.jsonl"
MAX_DISTINCT_ERRORS = 20  # the summary lists at most this many distinct errors (with counts)


class Ledger:
    """Counters, best and history of one run (see the module docstring)."""

    def __init__(self, objective: Objective | None = None) -> None:
        self.objective = objective or Objective()
        self.evaluations = 0
        self.failed = 0
        self.samples_generated = 0
        self.train_samples = 0
        self.elapsed_seconds = 0.0  # wall time of earlier sessions of this run
        self.best: dict[str, Any] | None = None  # {"score", "candidate", "outcome"}
        self.errors: dict[str, int] = {}
        self.history: list[dict[str, Any]] = []
        self._journaled = 0  # history entries already in the journal

    @property
    def best_score(self) -> float | None:
        return None if self.best is None else self.best["score"]

    def record(self, candidate: Candidate, outcome: Outcome, elapsed: float, *, stage: str = "search",
               extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
        """Count one outcome; returns its history entry and whether it is the new best.

        Every outcome spends ``train_samples``; only the search's count as evaluations and can be the best."""
        search = stage == "search"
        self.evaluations += search
        self.samples_generated += outcome.samples
        self.train_samples += outcome.train_samples
        if not outcome.ok:
            self.failed += search
            error = (outcome.error or "unknown error").split(": ", 1)[-1]  # without "candidate N: "
            if error in self.errors or len(self.errors) < MAX_DISTINCT_ERRORS:
                self.errors[error] = self.errors.get(error, 0) + 1
        improved = search and outcome.ok and self.objective.better(outcome.score, self.best_score)
        if improved:
            self.best = {"score": outcome.score, "candidate": candidate.to_dict(), "outcome": outcome.to_dict()}
        entry = {
            "step": len(self.history) + 1, "stage": stage, "id": candidate.id, "status": outcome.status,
            "score": outcome.score,
            "best_score": self.best_score, "samples_generated": self.samples_generated,
            "train_samples": self.train_samples, "elapsed": round(elapsed, 3),
            "params": candidate.params, "ranges": candidate.ranges, **(extra or {}),
        }
        self.history.append(entry)
        return entry, improved

    def first_all_failed(self, first: int, new: int) -> bool:
        """Whether the ``new`` outcomes just recorded complete the run's first ``first`` evaluations and
        every one of them failed (true once only, so a resumed run goes on past it)."""
        return self.evaluations - new < first <= self.evaluations and self.failed == self.evaluations

    def completed_keys(self) -> set[str]:
        """The keys of every recorded job (``Job.key``)."""
        return {entry["job"] for entry in self.history}

    def completed_ids(self) -> set[int]:
        return {entry["id"] for entry in self.history if entry["stage"] == "search"}

    def ranking(self) -> list[Candidate]:
        """The search's candidates that succeeded, best first: by the highest rung (fidelity) each
        reached with a score, then by how many seeds it was scored on there (``search.repeats``), then
        by the mean of those scores (one score, unless raced) in the objective's direction."""
        return [candidate for candidate, _, _ in self.ranked_means()]

    def ranked_means(self) -> list[tuple[Candidate, int, float]]:
        """``ranking()`` with each candidate's seed count and mean score at its highest rung."""
        at: dict[tuple[int, int], list[float]] = {}  # (candidate id, rung) -> its scores there
        entries: dict[int, dict[str, Any]] = {}
        for entry in self.history:
            if entry["stage"] == "search" and entry["score"] is not None:
                at.setdefault((entry["id"], entry.get("rung", 0)), []).append(entry["score"])
                entries.setdefault(entry["id"], entry)
        best: dict[int, tuple[int, int, float]] = {}  # candidate id -> (rung, seeds, utility of the mean)
        for (cid, rung), scores in at.items():
            key = (rung, len(scores), self.objective.utility(sum(scores) / len(scores)))
            best[cid] = max(best.get(cid, key), key)
        ranked = sorted(best, key=lambda cid: best[cid], reverse=True)
        return [(Candidate(cid, entries[cid]["params"], entries[cid]["ranges"]), best[cid][1],
                 self.objective.utility(best[cid][2])) for cid in ranked]  # utility is its own inverse

    def mean_score(self) -> float | None:
        scores = [h["score"] for h in self.history if h["score"] is not None and h["stage"] == "search"]
        return sum(scores) / len(scores) if scores else None

    # -- persistence ---------------------------------------------------------------------------
    def journal(self, run_dir: Path) -> None:
        """Append the entries not yet journaled (fsynced: a checkpoint will count them)."""
        if self._journaled == len(self.history):
            return
        with open(Path(run_dir) / HISTORY_FILE, "a") as handle:
            for entry in self.history[self._journaled:]:
                handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._journaled = len(self.history)

    def state_dict(self) -> dict[str, Any]:
        return {"evaluations": self.evaluations, "failed": self.failed, "samples_generated": self.samples_generated,
                "train_samples": self.train_samples, "elapsed_seconds": self.elapsed_seconds, "best": self.best,
                "errors": dict(self.errors), "history_length": len(self.history)}

    def load_state_dict(self, state: dict[str, Any], run_dir: Path) -> None:
        """Restore the counters and the journal's first ``history_length`` entries; cut the rest."""
        for key in ("evaluations", "failed", "samples_generated", "train_samples", "elapsed_seconds", "best"):
            setattr(self, key, state[key])
        self.errors = dict(state["errors"])
        self.history = read_history(run_dir, state["history_length"])
        path = Path(run_dir) / HISTORY_FILE
        if path.is_file():
            atomic_write_text(path, "".join(json.dumps(entry) + "\n" for entry in self.history))
        self._journaled = len(self.history)


def read_history(run_dir: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The journaled history of a run (the first ``limit`` entries, if given)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    entries = []
    with open(path) as handle:
        for line in handle:
            if limit is not None and len(entries) >= limit:
                break
            if line.strip():
                entries.append(json.loads(line))
    if limit is not None and len(entries) < limit:
        raise CheckpointError(f"{path} holds {len(entries)} entries but the checkpoint counts {limit}")
    return entries
