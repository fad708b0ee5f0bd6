"""The loop on a real two-node Ray cluster (two raylets on this machine), joined by address.

What a user does to move from the laptop to a cluster: set ``resources.ray_address``; nothing else.
With ``resources.placement: pack`` each learner slot's generator and learner must share a node, and
with one CPU per node the two slots must land on different nodes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_pack_placement_on_two_nodes_keeps_each_slot_on_one_node(tracking_uri, tmp_path):
    result = subprocess.run([sys.executable, "-m", "tests.cluster_run", str(tmp_path / "run"), tracking_uri, "pack"],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["status"] == "finished" and report["evaluations"] == 6 and report["failed"] == 0
    assert len(report["nodes"]) == 2
    assert report["generators"] == report["learners"]  # slot i: generator and learner on one node
    assert sorted(report["learners"]) == report["nodes"]  # one slot per node


def test_losing_the_worker_node_mid_run_moves_its_actors_and_counts_every_evaluation_once(tracking_uri, tmp_path):
    """The worker node's processes are killed after the second evaluation (a lost machine): its actors
    restart on the head node, the jobs they held run again, and none is counted twice or failed."""
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "tests.cluster_node_loss", str(run_dir), tracking_uri],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["worker_node"] in report["before"]  # some actors did live on the lost node
    assert report["alive_nodes"] == [report["head_node"]]
    assert set(report["after"]) == {report["head_node"]}  # they came back on the remaining node
    assert report["status"] == "finished" and report["evaluations"] == 8 and report["failed"] == 0
    assert "was lost with a Ray actor or node" in result.stderr  # the jobs it held ran again, and it said so
    from tests.runs import completed_ids

    assert completed_ids(run_dir) == list(range(8))  # every evaluation counted once
