"""Small deterministic in-process digits runs whose every number pins the classification path.

``tests/data/classification_baseline.json`` holds what these runs gave before the loop was made
task-generic (issue 29); ``test_tasks.py`` reruns them and asserts the same history and delivered
scores, bit for bit. Regenerate it only on purpose: ``python -m tests.classification_runs``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

BASELINE = Path(__file__).parent / "data" / "classification_baseline.json"
COMMON = ["tracking.tracking_uri=none", "budget.train_samples=null", "learner.batch_size=64"]
RUNS: dict[str, list[str]] = {
    # search with successive halving, re-scoring, and a delivered model on fresh data every epoch
    "tpe_halving_selection_final": COMMON + [
        "name=pin-tpe", "policy.name=optuna", "learner.samples=300", "learner.epochs=3", "budget.evaluations=6",
        "search.rungs=2", "search.eta=2", "selection.candidates=2", "selection.seeds=2", "final.samples=300",
        "final.epochs=2", "final.fresh_epochs=true"],
    # a population of persistent learners with exploit/explore and the best state delivered
    "pbt": COMMON + [
        "name=pin-pbt", "policy.name=pbt", "learner.samples=200", "learner.persistent_samples=200",
        "budget.evaluations=8", "policy.options={population: 2, interval: 2, deliver: best_state}",
        "selection.candidates=0", "search.rungs=1"],
    # one persistent learner whose ranges ADR moves
    "adr": COMMON + [
        "name=pin-adr", "policy.name=adr", "learner.samples=200", "learner.persistent_samples=200",
        "budget.evaluations=6", "selection.candidates=0", "search.rungs=1"],
}
HISTORY_FIELDS = ("stage", "id", "status", "score", "best_score", "train_samples", "params", "ranges", "rung")
SUMMARY_FIELDS = ("best_score", "mean_score", "delivered_val_score", "delivered_test_score", "test_score",
                  "selected_candidate_id", "delivered_test_per_class")


def fingerprint() -> dict[str, str]:
    """What must match for float results to be comparable bit for bit."""
    import platform

    import numpy
    import torch

    return {"torch": torch.__version__, "numpy": numpy.__version__, "machine": platform.machine(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def run_one(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """One run on the in-process executor; the fields that pin it."""
    import torch

    from feedback_loop.config import load_config
    from feedback_loop.executors import InProcessExecutor
    from feedback_loop.loop import LoopRunner
    from feedback_loop.preflight import prepare_run

    torch.set_num_threads(1)
    config = load_config("examples/digits.yaml", overrides)
    prepared = prepare_run(config)
    summary = LoopRunner(config, run_dir, executor=InProcessExecutor.for_run(prepared), prepared=prepared).run(
        progress=False)
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
    return {"history": [{k: entry.get(k) for k in HISTORY_FIELDS} for entry in history],
            "summary": {k: summary.get(k) for k in SUMMARY_FIELDS}}


def run_all() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return {name: run_one(overrides, Path(tmp) / name) for name, overrides in RUNS.items()}


if __name__ == "__main__":
    BASELINE.parent.mkdir(exist_ok=True)
    BASELINE.write_text(json.dumps({"fingerprint": fingerprint(), "runs": run_all()}, indent=1) + "\n")
    print(f"wrote {BASELINE}", file=sys.stderr)
