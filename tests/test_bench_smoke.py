"""Every script under ``bench/`` runs where a user runs it, at a tiny size, and ends with its JSON line.

A benchmark that needs something the project does not install (a package, a private API) fails
here, on a fresh machine, instead of on a user's. Each runs in its own process (its own Ray).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
TINY_LOOP = ["--evaluations", "3", "--samples", "200", "--epochs", "1"]

# script -> (tiny arguments, a field its JSON line must have); {tmp} is a fresh directory per script
SCRIPTS: dict[str, tuple[list[str], str]] = {
    "overhead.py": (TINY_LOOP, "ratio"),
    "pipeline.py": (TINY_LOOP + ["--shards", "2", "--shard-size", "256"], "scaling_2x"),
    "vs_tune.py": (TINY_LOOP, "wall_ratio"),
    "soak.py": (["--evaluations", "4", "--samples", "200", "--epochs", "1"], "object_store_growth_mb"),
    "render_throughput.py": (["--batch-size", "256", "--repeats", "1"], "samples_per_second_1_thread"),
    "generate.py": (["--quick"], "ratio"),
    "refiner_effect.py": (["--seeds", "1", "--samples", "200", "--epochs", "1", "--refiner-steps", "2", "--workers", "1",
                           "--domain", "bitmap", "--uniform", "--grid", "{tmp}/grid.png", "--refiner-options", '{"pretrain_refiner_steps": 2, "pretrain_disc_steps": 2, '
                                                             '"channels": 8, "blocks": 1}'],
                          "uniform_refined_minus_unrefined"),
    "equal_compute.py": (["--train-samples", "3000", "--seeds", "1", "--persistent", "adr", "--uniform-epochs", "1,2",
                          "--oracle-epochs", "1", "--single-fidelity-evaluations", "2", "--run-dir", "{tmp}/run",
                          "--set", "learner.samples=200",
                          "--set", "learner.epochs=1", "--set", "learner.persistent_samples=500",
                          "--set", "selection.candidates=1", "--set", "final.samples=300", "--set", "final.epochs=1",
                          "--set", "search.rungs=1"], "loop_minus_uniform_dr"),
    "gaze.py": (["--seeds", "1", "--train-samples", "2400", "--run-dir", "{tmp}/run", "--oracle-epochs", "1",
                 "--picture", "{tmp}/refined.png", "--tracking-uri", "sqlite:///{tmp}/mlflow.db", "--set", "learner.samples=200", "--set", "final.epochs=2",
                 "--set", "learner.hidden=8",
                 "--refiner-set", "refiner.options={steps: 2, pretrain_refiner_steps: 2, pretrain_disc_steps: 2, "
                                  "channels: 4, blocks: 1, input_scale: 1.0}", "--refiner-set", "refiner.fit_samples=100"],
                "loop_refined_test_mae"),
    "digits_efficacy.py": (["--budget", "2", "--seeds", "1", "--top-k", "1", "--run-dir", "{tmp}/run",
                            "--set", "learner.samples=200", "--set", "learner.epochs=1"], "loop_test_acc"),
    "labels.py": (["--labels", "0,10", "--seeds", "1", "--train-samples", "1200", "--run-dir", "{tmp}/run",
                   "--set", "learner.samples=200", "--set", "learner.epochs=1", "--set", "final.samples=200",
                   "--set", "final.epochs=1", "--set", "policy.options={population: 2, interval: 1}",
                   "--set", "resources.learner_cpus=0.5"], "realism_task_spearman"),
    "digits_errors.py": (["--run", "{tmp}/run", "--uniform-samples", "300", "--synthetic", "500", "--out", "{tmp}/figures"],
                         "delivered_per_class"),
}

# scripts that read a finished run: the `feedback-loop` arguments that make a tiny one first
RUN_FIRST: dict[str, list[str]] = {
    "digits_errors.py": ["run", "examples/digits.yaml", "--run-dir", "{tmp}/run", "--tracking-uri", "none", "--no-progress",
                         "--set", "budget.train_samples=null", "--set", "budget.evaluations=2", "--set", "search.rungs=1",
                         "--set", "selection.candidates=0", "--set", "learner.samples=200", "--set", "learner.epochs=1",
                         "--set", "final.samples=300", "--set", "final.epochs=1"],
}


def test_every_bench_script_is_covered():
    scripts = {p.name for p in (ROOT / "bench").glob("*.py")} - {"common.py"}
    assert scripts == set(SCRIPTS), "add the new benchmark to SCRIPTS with tiny arguments"


def test_equal_compute_refuses_an_unknown_stage_to_skip_naming_it_and_the_allowed_ones():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "equal_compute.py"), "--skip", "loop,oracle"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--skip: unknown stage(s) ['oracle']; allowed: loop, one_model, references" in result.stderr


def test_equal_compute_refuses_a_stale_later_stage_before_the_first_stage_trains(tmp_path):
    """A stored run made with other settings is found before anything trains, not after the stages
    before it have run for an hour."""
    from feedback_loop.config import dump_config, load_config

    stale = tmp_path / "run" / "uniform-fresh-3000-seed0"
    stale.mkdir(parents=True)
    dump_config(load_config("examples/gaussian_mixture.yaml", ["learner.lr=0.5"]), stale / "config.yaml")
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "equal_compute.py"), "--config", "examples/gaussian_mixture.yaml",
                             "--train-samples", "3000", "--seeds", "1", "--run-dir", str(tmp_path / "run")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"{stale} holds a run made with other settings (" in result.stderr
    assert "learner.lr: 0.5 -> 0.003" in result.stderr
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [stale.name]  # the loop never started


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bench_script_runs_and_prints_one_json_line_last(script, tmp_path):
    args, field = SCRIPTS[script]
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}")
    env.pop("RAY_ADDRESS", None)  # each script starts its own Ray, never the test session's
    if script in RUN_FIRST:
        made = subprocess.run([sys.executable, "-m", "feedback_loop.cli", *(a.replace("{tmp}", str(tmp_path))
                                                                            for a in RUN_FIRST[script])],
                              cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
        assert made.returncode == 0, made.stderr[-3000:]
    result = subprocess.run([sys.executable, str(ROOT / "bench" / script), *(a.replace("{tmp}", str(tmp_path)) for a in args)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert field in json.loads(last), last
