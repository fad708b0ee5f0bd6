"""``ray job submit --working-dir . -- feedback-loop run CONFIG`` on a head node started with
``ray start --head``: the user's folder (a config and a ``module:Class`` simulator) travels with the
job, the run finishes, and its summary and MLflow runs are where the command said."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.ray_head import ray_head

pytestmark = pytest.mark.slow

FOLDER = Path(__file__).with_name("job_folder")


def test_ray_job_submit_runs_a_config_with_a_plugin_from_the_working_dir(tmp_path):
    import mlflow

    folder = shutil.copytree(FOLDER, tmp_path / "project")  # the user's folder: my.yaml, my_sim.py
    run_dir, store = tmp_path / "run", f"sqlite:///{tmp_path / 'mlflow.db'}"
    with ray_head() as head:
        submit = [str(Path(sys.executable).with_name("ray")), "job", "submit", "--address", head["dashboard"],
                  "--working-dir", ".", "--", "feedback-loop", "run", "my.yaml", "--run-dir", str(run_dir),
                  "--tracking-uri", store, "--no-progress"]
        for _ in range(20):  # the head's job agent comes up some seconds after `ray start` returns
            result = subprocess.run(submit, cwd=folder, env=head["env"], capture_output=True, text=True, timeout=400)
            if "No available agent to submit job" not in result.stdout + result.stderr:
                break
            time.sleep(2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "succeeded" in result.stdout + result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["simulator"] == "my_sim:MySim"
    assert summary["evaluations"] == 3 and summary["failed_evaluations"] == 0
    client = mlflow.MlflowClient(store)
    parent = client.get_run(summary["mlflow_run_id"])
    assert parent.info.run_name == f"job-submission-test-{parent.data.tags['feedback_loop_run_id']}"  # config name-run id
    assert parent.data.tags["run_dir"] == str(run_dir.resolve())
    children = client.search_runs([summary["mlflow_experiment_id"]],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sum(run.data.tags.get("stage") == "search" for run in children) == 3
