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
import tempfile
import time
from pathlib import Path

import ray

from feedback_loop.config import load_config
from feedback_loop.loop import LoopRunner


def rss_mb() -> float:
    """Resident memory of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def object_store_mb(settle_s: float = 2.0) -> float:
    """Object-store bytes in use across the cluster, in MiB, from Ray's public resource view.

    Each raylet reports the bytes its object store actually holds as used ``object_store_memory``
    (ray-project/ray#14260), so total minus available is the store's usage. It works with the dashboard
    off and needs nothing beyond ``ray`` itself (the private ``memory_summary`` behind ``ray memory``
    needs grpcio, which ``pip install -e .`` does not install). Nothing here reserves
    ``object_store_memory`` in a task's resources, which would count too. Spilled objects are not in it.
    The view trails frees by a raylet report (~0.1 s): read until two readings agree.
    """
    def used() -> float:
        total = ray.cluster_resources().get("object_store_memory", 0.0)
        return (total - ray.available_resources().get("object_store_memory", 0.0)) / 2**20

    reading = used()
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        previous, reading = reading, used()
        if abs(reading - previous) < 0.01:
            break
    return round(reading, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=500)
    parser.add_argument("--samples", type=int, default=1000, help="generated samples per evaluation")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
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
                                      "object_store_mb": object_store_mb()}

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
