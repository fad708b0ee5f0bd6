"""The worked plug-in in ``examples/custom_simulator/`` runs as its README walks through it.

The folder is copied to a temporary directory and every step runs there through the installed CLI,
as a user runs it from that folder: ``check-env``, ``run``, ``compare`` (MLflow tags included),
``export``, ``generate`` from the exported params, and ``load_model`` on the run. Budgets are small;
the commands are read from the README and run with small-budget options appended. Several Ray starts (about 5 minutes on 2
busy cores): the walkthrough is marked ``slow``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "custom_simulator"
CLI = Path(sys.executable).parent / "feedback-loop"
SMALL = ["--set", "learner.epochs=3", "--set", "learner.samples=500"]
# Appended to the README's own commands (a later option wins in argparse): small budgets, no progress bar.
SMALLER = {
    "run": ["--set", "budget.evaluations=4", *SMALL, "--no-progress"],
    "compare": ["--seeds", "1", "--budget-evaluations", "3", "--policies", "uniform,optuna", *SMALL, "--no-progress"],
    "export": [],
    "generate": ["--n", "2000", "--shard-size", "1000", "--no-progress"],
    "check-env": [],
}


def readme_commands() -> dict[str, list[str]]:
    """The walkthrough's ``feedback-loop`` commands, by subcommand, as the README gives them."""
    import re
    import shlex

    commands = {}
    for block in re.findall(r"```bash\n(.*?)\n```", (EXAMPLE / "README.md").read_text(), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["feedback-loop"]:
                commands.setdefault(words[1], words[1:])
    return commands



def cli(folder: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    proc = subprocess.run([str(CLI), *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"feedback-loop {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_the_example_ships_generated_real_data_as_its_script_makes_it(tmp_path):
    """``real.npz`` is what ``make_real_data.py`` writes (the README says they are generated)."""
    shutil.copytree(EXAMPLE, tmp_path / "ex", ignore=shutil.ignore_patterns("runs", "mlflow.db", "data", "export"))
    (tmp_path / "ex" / "real.npz").unlink()
    subprocess.run([sys.executable, "make_real_data.py"], cwd=tmp_path / "ex", check=True, capture_output=True, timeout=120)
    made, shipped = np.load(tmp_path / "ex" / "real.npz"), np.load(EXAMPLE / "real.npz")
    assert sorted(made.files) == sorted(shipped.files) == ["x", "x_test", "y", "y_test"]
    for name in made.files:
        np.testing.assert_array_equal(made[name], shipped[name])
    assert len(shipped["x"]) == len(shipped["x_test"]) == 300


@pytest.mark.slow
def test_the_walkthrough_runs_from_the_folder(tmp_path):
    folder = tmp_path / "custom_simulator"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("runs", "mlflow.db", "data", "export", "__pycache__"))

    commands = readme_commands()
    assert set(commands) == set(SMALLER), f"the README's walkthrough commands changed: {sorted(commands)}"

    # 2. check it against the contract
    check = cli(folder, *commands["check-env"])
    assert "0 failed" in check.stdout and "follows the simulator contract" in check.stdout

    # 3. run the loop (the README's --run-dir runs/rings)
    cli(folder, *commands["run"], *SMALLER["run"])
    summary = json.loads((folder / "runs" / "rings" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["simulator"] == "my_sim:Rings"
    assert summary["evaluations"] == 4 and summary["test_score"] is not None
    assert set(summary["best_params"]) == {"radius", "noise", "spread"}

    python = (EXAMPLE / "README.md").read_text().split("```python\n", 1)[1].split("\n```", 1)[0]
    load = subprocess.run([sys.executable, "-c", python], cwd=folder, capture_output=True, text=True, timeout=300)
    assert load.returncode == 0 and len(load.stdout.split()) == 10, f"the README's load_model snippet:\n{load.stderr}"

    # 4. compare policies (tagged in MLflow)
    cli(folder, *commands["compare"], *SMALLER["compare"])
    rows = list(csv.DictReader((folder / "runs" / "compare" / "compare.csv").open()))
    assert sorted(row["policy"] for row in rows) == ["optuna", "uniform"]
    assert (folder / "runs" / "compare" / "compare.md").is_file()
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rings")
    parents = client.search_runs([experiment.experiment_id], "tags.comparison_id != ''")
    assert {run.data.tags.get("policy") for run in parents} >= {"uniform", "optuna"}

    # 5. export, and generate a dataset with the exported parameters
    cli(folder, *commands["export"])
    for name in ["params.yaml", "params.json", "trajectory.csv", "model.npz", "card.md"]:
        assert (folder / "export" / name).is_file(), name
    cli(folder, *commands["generate"], *SMALLER["generate"])
    manifest = json.loads((folder / "data" / "rings" / "manifest.json").read_text())
    shards = sorted((folder / "data" / "rings").glob("*.npz"))
    assert len(shards) == 2
    assert sum(len(np.load(shard)["y"]) for shard in shards) == 2000
    assert "my_sim:Rings" in json.dumps(manifest)
