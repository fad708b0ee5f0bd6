"""Lose a machine mid-run: a two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``),
whose worker node is removed (all its processes killed) after the second evaluation. Prints one
JSON line: where the actors were before and after, and what the run counted.

Called in a subprocess by ``tests/test_cluster.py``: a process can join only one Ray.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from feedback_loop.config import load_config
from feedback_loop.loop import LoopRunner
from tests.cluster_run import node_of

EVALUATIONS = 8
REMOVE_AFTER = 2


def wait_until_dead(node_id: str, timeout: float = 120.0) -> float:
    """Seconds until the cluster declares the node dead (as it would a lost machine)."""
    start = time.monotonic()
    while any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes()):
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"node {node_id} still alive {timeout} s after its processes were killed")
        time.sleep(0.5)
    return round(time.monotonic() - start, 1)


def main(run_dir: str, tracking_uri: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    worker = cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    config = load_config("examples/gaussian_mixture.yaml", [
        f"resources.ray_address={cluster.address}", "resources.learners=2", "resources.generators=2",
        "resources.learner_cpus=0.5", "resources.generator_cpus=0.5", "learner.samples=300", "learner.epochs=3",
        f"budget.evaluations={EVALUATIONS}", "name=test-node-loss",
        # Ray's own task retries off: the jobs lost with the node come back through the executor's retry
        "resources.max_task_retries=0"])
    runner = LoopRunner(config, Path(run_dir), tracking_uri=tracking_uri)
    report: dict = {"worker_node": worker.node_id, "head_node": cluster.head_node.node_id}

    def actor_nodes() -> list[str]:
        return [node_of(a) for a in runner.executor.generators + runner.executor.learners]

    def lose_worker(candidate, outcome):
        report["outcomes"] = report.get("outcomes", 0) + 1
        if report["outcomes"] == REMOVE_AFTER:
            report["before"] = actor_nodes()
            cluster.remove_node(worker, allow_graceful=False)
            report["seconds_to_notice"] = wait_until_dead(worker.node_id)
        elif report["outcomes"] > REMOVE_AFTER:  # where the actors that answer now are
            try:
                report["after"] = actor_nodes()
            except ray.exceptions.RayError:
                pass  # one is restarting

    summary = runner.run(progress=False, on_outcome=lose_worker)
    report["alive_nodes"] = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
    ray.shutdown()
    cluster.shutdown()
    print(json.dumps({**report, "evaluations": summary["evaluations"], "failed": summary["failed_evaluations"],
                      "status": summary["status"], "errors": summary.get("errors")}))


if __name__ == "__main__":
    main(*sys.argv[1:])
