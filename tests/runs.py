"""Reading a run directory in tests: its checkpoint, journaled history and completed ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feedback_loop.checkpoint import load_checkpoint
from feedback_loop.ledger import read_history


def checkpoint(run_dir: Path) -> dict[str, Any]:
    return load_checkpoint(Path(run_dir) / "checkpoint.json")


def evaluations(run_dir: Path) -> int:
    return checkpoint(run_dir)["ledger"]["evaluations"]


def history(run_dir: Path) -> list[dict[str, Any]]:
    """The history the checkpoint counts (journal lines past it are not part of the run)."""
    return read_history(run_dir, checkpoint(run_dir)["ledger"]["history_length"])


def completed_ids(run_dir: Path) -> list[int]:
    """The search's evaluated candidates (re-scoring and the final model reuse their ids)."""
    return sorted(entry["id"] for entry in history(run_dir) if entry["stage"] == "search")


def pending(run_dir: Path) -> list[dict[str, Any]]:
    """Jobs asked but not told: the search's and the later stages'."""
    scheduler = checkpoint(run_dir)["scheduler"]
    if "search" not in scheduler:  # a persistent policy's steps: no stages
        return scheduler["pending"]
    return (scheduler["search"] or {"pending": []})["pending"] + scheduler["pending"]
