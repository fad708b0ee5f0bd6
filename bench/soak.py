"""Soak test: a long run on GaussianMixture-v0 must keep driver memory and the object store flat.

Measures the driver's resident memory (RSS) and Ray's object-store usage at the start, the middle
and the end of ``--evaluations`` evaluations; object refs must be released as evaluations end.
Prints one JSON line last with ``rss_growth_mb`` and ``object_store_growth_mb`` (target: < 50 each).

    python bench/soak.py --evaluations 500
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import tempfile
import time
from pathlib import Path

import ray
from ray._private.internal_api import memory_summary

from feedback_loop.config import load_config
from feedback_loop.loop import LoopRunner


def rss_mb() -> float:
    """Resident memory of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def object_store_mb(address: str) -> float:
    text = memory_summary(address=address, stats_only=True)
    match = re.search(r"Plasma memory usage (\d+(?:\.\d+)?) MiB", text)
    return float(match.group(1)) if match else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=500)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per evaluation")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    context = ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    address = context.address_info["address"]
    work = Path(tempfile.mkdtemp(prefix="feedback-loop-soak-"))
    config = load_config("examples/gaussian_mixture.yaml", [
        f"budget.evaluations={args.evaluations}", f"learner.samples={args.samples}", f"learner.epochs={args.epochs}",
        "policy.name=random", "name=soak"])
    marks = {1: "start", args.evaluations // 2: "middle", args.evaluations: "end"}
    readings: dict[str, dict[str, float]] = {}
    count = 0

    def measure(candidate, outcome) -> None:
        nonlocal count
        count += 1
        if count in marks:
            gc.collect()
            readings[marks[count]] = {"evaluation": count, "rss_mb": round(rss_mb(), 1),
                                      "object_store_mb": object_store_mb(address)}

    started = time.monotonic()
    runner = LoopRunner(config, work / "run", tracking_uri=f"sqlite:///{work / 'mlflow.db'}")
    summary = runner.run(progress=False, on_outcome=measure)
    result = {
        "evaluations": summary["evaluations"],
        "readings": readings,
        "rss_growth_mb": round(readings["end"]["rss_mb"] - readings["start"]["rss_mb"], 1),
        "rss_growth_second_half_mb": round(readings["end"]["rss_mb"] - readings["middle"]["rss_mb"], 1),
        "object_store_growth_mb": round(readings["end"]["object_store_mb"] - readings["start"]["object_store_mb"], 1),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
