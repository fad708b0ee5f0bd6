"""A regression plug-in in the user's own folder, through every command a user runs, without PYTHONPATH.

The simulator (``my_signals:SignalSim``, ``task = "regression"``, float labels) and its real data
(``real.npz`` with float ``y``) exist only in that folder. The real command line runs ``check-env``,
``run`` (stopped with Ctrl-C after its first evaluations), ``resume``, ``compare`` (a per-candidate
policy and a population), ``export`` and ``generate``; the delivered model predicts float vectors.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests import runs

CONSOLE_SCRIPT = Path(sys.executable).parent / "feedback-loop"

MY_SIGNALS = '''
import time

import numpy as np
import pytest
from gymnasium import spaces

from feedback_loop.envs import RangeParam, Simulator

LENGTH = 16


class SignalSim(Simulator):
    """Noisy sine waves; the label is the wave's (amplitude, frequency), drawn from ranges."""

    task = "regression"
    label_names = ("amplitude", "frequency")

    def __init__(self, delay: float = 0.0):
        self.delay = delay  # seconds per batch, so that a test can stop a run midway
        self.ranges = {"amplitude": RangeParam("amplitude_position", "amplitude_width", 0.5, 3.0),
                       "frequency": RangeParam("frequency_position", "frequency_width", 0.5, 3.0)}
        names = [n for r in self.ranges.values() for n in (r.position, r.width)]
        self.param_space = spaces.Dict({**{n: spaces.Box(0.0, 1.0, shape=(), dtype=np.float32) for n in names},
                                        "noise": spaces.Box(0.0, 0.5, shape=(), dtype=np.float32)})
        self.nominal_params = {**{n: (0.5 if n.endswith("position") else 0.2) for n in names}, "noise": 0.1}
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(LENGTH,), dtype=np.float32)

    def sample_batch(self, params, n, seed):
        p = self.check_params(params, n)
        time.sleep(self.delay)
        rng = np.random.default_rng(seed)
        a_low, a_high = self.ranges["amplitude"].interval(p["amplitude_position"], p["amplitude_width"])
        f_low, f_high = self.ranges["frequency"].interval(p["frequency_position"], p["frequency_width"])
        amplitude = rng.uniform(a_low, a_high, size=n)
        frequency = rng.uniform(f_low, f_high, size=n)
        t = np.linspace(0.0, 1.0, LENGTH)
        x = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t)
        x = x + np.asarray(p["noise"]).reshape(-1, 1) * rng.standard_normal((n, LENGTH))
        return x.astype(np.float32), np.stack([amplitude, frequency], 1).astype(np.float32)
'''

CONFIG = """
name: my-signals
simulator:
  id: my_signals:SignalSim
  kwargs: {delay: 0.4}
data:
  real: real.npz
learner:
  model: mlp
  samples: 200
  epochs: 3
  persistent_samples: 200
policy:
  name: optuna
policy_options:
  pbt: {population: 2, interval: 1}
budget:
  evaluations: 6
resources:
  generators: 1
  learners: 1
  generator_cpus: 0.5
  learner_cpus: 0.5
"""


def hidden_real_data(folder: Path) -> None:
    """The user's "real" recordings, as ``.npz`` with float ``y``: the hidden setting of
    ``tests.task_sims.SignalSim`` (the same waves as my_signals.py draws; amplitudes 2 to 2.5,
    frequencies 1 to 1.5, more noise, which the nominal ranges do not cover)."""
    from tests.task_sims import SignalSim

    real = SignalSim().real_data()
    np.savez(folder / "real.npz", x=real.x_val, y=real.y_val, x_test=real.x_test, y_test=real.y_test)


def cli(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    return subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_a_regression_plugin_runs_through_every_command(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "my_signals.py").write_text(textwrap.dedent(MY_SIGNALS))
    (folder / "my.yaml").write_text(CONFIG)
    hidden_real_data(folder)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"

    checked = cli(folder, "check-env", "my_signals:SignalSim")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "regression" in checked.stdout, checked.stdout

    # run, stopped with Ctrl-C once two evaluations are in, then resumed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAY_ADDRESS")}
    proc = subprocess.Popen([str(CONSOLE_SCRIPT), "run", "my.yaml", "--run-dir", "run", "--tracking-uri", tracking,
                             "--no-progress"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before it was stopped:\n{proc.stdout.read()[-3000:]}"
        try:
            if runs.evaluations(folder / "run") >= 2:
                break
        except Exception:  # no checkpoint yet
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    resumed = cli(folder, "resume", "run", "--no-progress")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["evaluations"] == 6, summary
    assert runs.completed_ids(folder / "run") == list(range(6))  # every evaluation exactly once
    assert (summary["score_name"], summary["score_direction"]) == ("mae", "minimize")
    assert summary["task"]["options"]["names"] == ["amplitude", "frequency"]
    assert {"mae", "rmse", "r2", "mae_amplitude", "mae_frequency"} <= set(summary["delivered_test_metrics"])
    assert summary["delivered_test_score"] == summary["delivered_test_metrics"]["mae"]
    # the best is the lowest error: no search score is below it
    scores = [e["score"] for e in runs.history(folder / "run") if e["stage"] == "search" and e["score"] is not None]
    assert summary["best_score"] == min(scores)

    from feedback_loop import load_model

    real = np.load(folder / "real.npz")
    predicted = load_model(folder / "run").predict(real["x_test"])
    assert predicted.shape == (300, 2) and predicted.dtype == np.float32
    assert abs(float(np.mean(np.abs(predicted - real["y_test"]))) - summary["delivered_test_score"]) < 1e-5

    compared = cli(folder, "compare", "my.yaml", "--policies", "random,pbt", "--seeds", "1", "--budget-evaluations",
                   "4", "--run-dir", "cmp", "--tracking-uri", tracking, "--no-progress", "--set",
                   "simulator.kwargs.delay=0")
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    assert "mae (lower is better)" in (folder / "cmp" / "compare.md").read_text()
    population = json.loads((folder / "cmp" / "pbt-seed0" / "summary.json").read_text())
    assert population["status"] == "finished" and population["score_direction"] == "minimize"

    exported = cli(folder, "export", "run")
    assert exported.returncode == 0, exported.stderr
    assert "## Scores (mae; lower is better)" in (folder / "run" / "export" / "card.md").read_text()

    generated = cli(folder, "generate", "--from", "run", "--n", "64", "--out", "data", "--no-progress")
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    from feedback_loop.generate.reader import ShardDataset

    items = list(ShardDataset(folder / "data"))
    x, y = np.stack([a.numpy() for a, _ in items]), np.stack([b.numpy() for _, b in items])
    assert x.shape == (64, 16) and y.shape == (64, 2) and y.dtype == np.float32
