"""Run a short loop on a two-node Ray cluster started on this machine (``ray.cluster_utils.Cluster``:
two raylets, each with its own object store, one CPU each) and print one JSON line with where every
actor ran. Called in a subprocess by ``tests/test_cluster.py``: a process can join only one Ray."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from feedback_loop.config import load_config
from feedback_loop.loop import LoopRunner


def node_of(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()), timeout=60)


def main(run_dir: str, tracking_uri: str, placement: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    # the user's config, unchanged but for the cluster's address (as in `--set resources.ray_address=...`)
    config = load_config("examples/gaussian_mixture.yaml", [
        f"resources.ray_address={cluster.address}", f"resources.placement={placement}",
        "resources.learners=2", "resources.generators=2", "resources.learner_cpus=0.5",
        "resources.generator_cpus=0.5", "learner.samples=300", "learner.epochs=3", "budget.evaluations=6",
        "name=test-cluster"])
    runner = LoopRunner(config, Path(run_dir), tracking_uri=tracking_uri)
    seen: dict[str, list[str]] = {}

    def record_nodes(candidate, outcome):
        if not seen:
            seen["generators"] = [node_of(a) for a in runner.executor.generators]
            seen["learners"] = [node_of(a) for a in runner.executor.learners]

    summary = runner.run(progress=False, on_outcome=record_nodes)
    nodes = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    ray.shutdown()
    cluster.shutdown()
    print(json.dumps({"nodes": nodes, **seen, "evaluations": summary["evaluations"],
                      "failed": summary["failed_evaluations"], "status": summary["status"],
                      "best_score": summary["best_score"]}))


if __name__ == "__main__":
    main(*sys.argv[1:])
