"""A run uses only the Ray it was told to, through the real command line.

- Beside a ``ray start --head --num-cpus 1`` node that Ray's own discovery would find, a run without
  ``resources.ray_address`` starts its own Ray: it does not join that node, and stopping the node
  mid-run does not touch it.
- When the run's own Ray goes away under it (as ``ray stop`` does), the run stops with one line that
  says so and how to resume (exit code 2), and ``feedback-loop resume`` finishes it with every
  evaluation counted once.

Each test gives Ray a temp root of its own (``RAY_TMPDIR``): what it starts or finds there is invisible
to any other Ray on the machine, and is stopped by killing exactly its processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.ray_head import _pids_mentioning, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EVALUATIONS = 8
RUN = ["examples/gaussian_mixture.yaml", "--no-progress", "--set", f"budget.evaluations={EVALUATIONS}",
       "--set", "learner.samples=300", "--set", "learner.epochs=3", "--set", "selection.candidates=0",
       "--set", "name=test-own-ray"]
FOREIGN_RAY = ("Found multiple active Ray instances", "Connecting to latest cluster")


def _cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("feedback-loop")), *args]


@contextlib.contextmanager
def ray_root() -> Iterator[dict[str, str]]:
    """An environment whose Ray temp root (``RAY_TMPDIR``) is new; every Ray process under it is killed
    at the end."""
    root = tempfile.mkdtemp(prefix="flr-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_TMPDIR": root, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                                      os.environ.get("PATH", "")])}
    env.pop("RAY_ADDRESS", None)
    try:
        yield env
    finally:
        _kill(_pids_mentioning(root))


def _kill(pids: list[int]) -> None:
    for sig in (signal.SIGKILL,):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


def _session(env: dict[str, str]) -> str:
    """The session folder of the Ray started last under this temp root."""
    return os.path.realpath(Path(env["RAY_TMPDIR"]) / "ray" / "session_latest")


def _wait_for_results(run_dir: Path, count: int, proc: subprocess.Popen, seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    history = run_dir / "history.jsonl"
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) >= count:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before {count} results:\n{proc.communicate()[1][-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"no {count} results in {seconds:.0f} s")


def _search_keys(run_dir: Path) -> list[str]:
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    return [entry["job"] for entry in map(json.loads, lines) if entry["stage"] == "search"]


def test_a_run_starts_its_own_ray_beside_a_ray_start_node_and_outlives_it(tmp_path):
    run_dir, store = tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}"
    with ray_root() as env:
        gcs_port = free_port()
        # the node Ray's default discovery finds (its address file is in this temp root), with 1 CPU
        started = subprocess.run(
            [str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={gcs_port}", "--num-cpus=1",
             "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
             f"--ray-client-server-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
             f"--metrics-export-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
             f"--dashboard-agent-grpc-port={free_port()}"],
            env=env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        node = _session(env)
        assert (Path(env["RAY_TMPDIR"]) / "ray" / "ray_current_cluster").is_file()
        proc = subprocess.Popen(_cli("run", *RUN, "--run-dir", str(run_dir), "--tracking-uri", store), cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_results(run_dir, 2, proc)
            assert _session(env) != node  # the run started a Ray of its own
            _kill(_pids_mentioning(node))  # stop the node (its processes only) under the running run
            out, err = proc.communicate(timeout=400)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, (out + err)[-4000:]
    assert not any(text in out + err for text in FOREIGN_RAY), err[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["evaluations"] == EVALUATIONS
    assert summary["failed_evaluations"] == 0  # nothing ran on the node that went away


def test_a_run_whose_ray_goes_away_stops_with_one_line_and_resumes(tmp_path):
    run_dir, store = tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}"
    # three times the evaluations, so that Ray is killed with search work still to do (with 8, a quiet
    # machine finished the search between the second result and the kill, leaving nothing to redo)
    evaluations = 3 * EVALUATIONS
    with ray_root() as env:
        proc = subprocess.Popen(_cli("run", *RUN, "--set", f"budget.evaluations={evaluations}", "--run-dir",
                                     str(run_dir), "--tracking-uri", store), cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _wait_for_results(run_dir, 2, proc)
            _kill(_pids_mentioning(env["RAY_TMPDIR"]))  # every process of the run's Ray, as `ray stop` does
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 2, (out + err)[-4000:]
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err[-4000:]
        assert "the run's Ray went away" in errors[0] and f"feedback-loop resume {run_dir}" in errors[0]
        assert "Traceback" not in err
        done_before = len(_search_keys(run_dir))
        assert 2 <= done_before < evaluations and not (run_dir / "summary.json").exists()
        resumed = subprocess.run(_cli("resume", str(run_dir), "--no-progress"), cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["evaluations"] == evaluations
    keys = _search_keys(run_dir)
    assert len(keys) == evaluations == len(set(keys))  # every evaluation counted once
    import mlflow

    children = mlflow.MlflowClient(store).search_runs(
        [summary["mlflow_experiment_id"]], filter_string=f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'")
    assert sorted(c.data.tags["job"] for c in children if c.data.tags.get("stage") == "search") == sorted(keys)
