"""MLflow opens our runs on the runs table, not on its GenAI overview.

MLflow 3's UI chooses an experiment's page by the experiment tag ``mlflow.experimentKind`` and by
its GenAI / Model-training switch (the URL's ``workflowType``, else the browser's last choice).
The tag is checked against a real SQLite store; the page itself in a headless Chromium where the
machine has one (``apt-get install chromium``), skipped with the reason where not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from feedback_loop.cli import mlflow_links
from feedback_loop.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, Tracker


def test_new_experiment_is_created_as_model_training(tracking_uri):
    tracker = Tracker(tracking_uri, "kind-new")
    experiment = MlflowClient(tracking_uri).get_experiment(tracker.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"


def test_existing_experiment_is_tagged_but_an_explicit_kind_is_kept(tracking_uri):
    client = MlflowClient(tracking_uri)
    untagged = client.create_experiment("kind-untagged")
    inferred = client.create_experiment("kind-inferred", tags={EXPERIMENT_KIND_TAG: "genai_development_inferred"})
    chosen = client.create_experiment("kind-chosen", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    assert Tracker(tracking_uri, "kind-untagged").experiment_id == untagged
    Tracker(tracking_uri, "kind-inferred")
    Tracker(tracking_uri, "kind-chosen")
    assert client.get_experiment(untagged).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert client.get_experiment(inferred).tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert client.get_experiment(chosen).tags[EXPERIMENT_KIND_TAG] == "genai_development"  # someone's choice


def test_printed_links_open_the_model_training_view():
    lines = mlflow_links({"mlflow_tracking_uri": "sqlite:////tmp/m.db", "mlflow_experiment_id": "3",
                          "mlflow_run_id": "abc"})
    assert "  this run:   http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning" in lines
    assert "  runs table: http://127.0.0.1:5000/#/experiments/3/runs?workflowType=machine_learning" in lines


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dump_dom(browser: str, url: str, profile: str) -> str:
    """The page's DOM after its scripts ran, in a fresh profile (a new user: no remembered GenAI switch)."""
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180)
    return done.stdout


def _wait_healthy(address: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(address + "/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"mlflow ui did not answer at {address} in {seconds:.0f} s")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium or Chrome on this machine (e.g. apt-get install chromium)")
def test_printed_links_show_the_runs_in_a_browser(tracking_uri, tmp_path):
    tracker = Tracker(tracking_uri, "kind-browser")
    tracker.start_parent("browser-check", {"policy": {"name": "uniform"}}, {"policy": "uniform"})
    tracker.client.set_terminated(tracker.parent_run_id)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        address = f"http://127.0.0.1:{port}"
        _wait_healthy(address)
        summary = {"mlflow_tracking_uri": tracking_uri, "mlflow_experiment_id": tracker.experiment_id,
                   "mlflow_run_id": tracker.parent_run_id}
        links = {line.split(":", 1)[0].strip(): line.split()[-1] for line in mlflow_links(summary) if "http" in line}
        for name, link in links.items():  # "this run" and "runs table"
            dom = _dump_dom(_chromium(), link.replace("http://127.0.0.1:5000", address), str(tmp_path / name))
            assert "browser-check" in dom, (name, dom[-2000:])  # the run is shown
            # the model-training side bar, not the GenAI one (Overview, Evaluation runs, Judges, ...)
            assert "Model registry" in dom and "Evaluation runs" not in dom and "Judges" not in dom, name
        assert len(links) == 2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
