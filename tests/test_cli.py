"""The command line: a smoke run, --help everywhere, and user errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from feedback_loop.cli import main


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["resume", "--help"], ["compare", "--help"],
                                  ["export", "--help"], ["generate", "--help"], ["check-env", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: feedback-loop" in capsys.readouterr().out


def test_run_smoke_writes_summary_and_prints_table(ray_session, tracking_uri, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(["run", "examples/gaussian_mixture.yaml", "--run-dir", str(run_dir), "--tracking-uri", tracking_uri,
                 "--set", "budget.evaluations=3", "--set", "learner.epochs=2", "--set", "learner.samples=200",
                 "--set", "name=test-cli", "--no-progress"])
    assert code == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["evaluations"] == 3 and summary["policy"] == "optuna"
    out = capsys.readouterr().out
    assert "best validation score" in out and f"mlflow ui --backend-store-uri {tracking_uri}" in out
    # The closing lines link the run itself in the model-training view (MLflow 3 would open its GenAI pages).
    experiment, run_id = summary["mlflow_experiment_id"], summary["mlflow_run_id"]
    view = "?workflowType=machine_learning"
    assert f"this run:   http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id}{view}\n" in out
    assert f"runs table: http://127.0.0.1:5000/#/experiments/{experiment}/runs{view}\n" in out
    import mlflow

    assert mlflow.MlflowClient(tracking_uri).get_run(run_id).info.experiment_id == experiment


def test_mlflow_links_use_a_tracking_server_address_and_skip_no_tracking():
    from feedback_loop.cli import mlflow_links

    served = mlflow_links({"mlflow_tracking_uri": "http://mlflow.internal:8080/", "mlflow_experiment_id": "7",
                           "mlflow_run_id": "abc"})
    assert "  this run:   http://mlflow.internal:8080/#/experiments/7/runs/abc?workflowType=machine_learning" in served
    assert not any("mlflow ui" in line for line in served)
    assert mlflow_links({"mlflow_tracking_uri": "none", "mlflow_experiment_id": None, "mlflow_run_id": None}) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-file.yaml"], "error: config file 'no-such-file.yaml' does not exist"),
        (["run", "examples/gaussian_mixture.yaml", "--set", "budget.evaluations=-1"], "budget.evaluations: value -1"),
        (["run", "examples/gaussian_mixture.yaml", "--set", "simulator.id=NoSuch-v0"], "simulator.id: unknown simulator 'NoSuch-v0'"),
        (["run", "examples/gaussian_mixture.yaml", "--set", "simulator.id=no_such_module:Env"], "cannot import module 'no_such_module'"),
        (["resume", "/nonexistent/run"], "is not a run directory"),
        (["run", "examples/gaussian_mixture.yaml", "--set", "simulator.id=tests.plugins:NoLabelEnv"],
         "breaks the simulator contract: NoLabelEnv.reset must return info['label']"),
        (["run", "examples/gaussian_mixture.yaml", "--tracking-uri", "http://127.0.0.1:9"],
         "tracking.tracking_uri: cannot reach the MLflow server at 'http://127.0.0.1:9'"),
        (["run", "examples/gaussian_mixture.yaml", "--set", "policy.options={bogus: 1}"], "policy.options.bogus: unknown option for policy 'optuna'"),
    ],
)
def test_user_errors_are_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "feedback_loop.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "resume" in result.stdout


def test_unreachable_ray_address_fails_fast(tmp_path):
    """Its own process: the test session's Ray is already running in this one."""
    started = __import__("time").monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "feedback_loop.cli", "run", "examples/gaussian_mixture.yaml", "--run-dir",
         str(tmp_path / "run"), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "--set",
         "resources.ray_address=127.0.0.1:9"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "resources.ray_address: cannot reach Ray at '127.0.0.1:9'" in result.stderr
    assert "Traceback" not in result.stderr
    assert __import__("time").monotonic() - started < 60
