"""Preflight: every bad input is refused in one line naming the key path and value, before Ray or MLflow start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from feedback_loop.config import ConfigError, load_config
from feedback_loop.imports import ImportPathError
from feedback_loop.preflight import PreparedRun, prepare_run
from feedback_loop.simulators import SimulatorError

ROOT = Path(__file__).resolve().parents[1]
GM = str(ROOT / "examples" / "gaussian_mixture.yaml")
DIGITS = str(ROOT / "examples" / "digits.yaml")
USER_ERRORS = (ConfigError, SimulatorError, ImportPathError)


def refused(path: str, overrides: list[str], *needles: str) -> str:
    """The one-line message with which loading and preflight refuse ``overrides``; it holds every needle."""
    with pytest.raises(USER_ERRORS) as info:
        prepare_run(load_config(path, overrides))
    message = str(info.value)
    assert message and "\n" not in message, message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


BAD = [
    (["policy.name=foo"], ["policy.name:", "'foo'", "adr, adversarial, optuna, pbt, random, reinforce, uniform"]),
    (["policy.sampler=foo"], ["policy.sampler:", "'foo'", "cmaes, gp, qmc, random, tpe"]),
    (["policy.options={bogus: 1}"], ["policy.options.bogus:", "policy 'optuna'", "allowed: p_threshold, pruner"]),
    (["policy.name=reinforce", "policy.options={population: abc}"],
     ["policy.options.population:", "expected int, got str 'abc'"]),
    (["policy.name=reinforce", "policy.options={population: 0}"],
     ["policy.options:", "population must be at least 1, got 0"]),
    (["policy.name=adr", "policy.options={t_low: 0.9, t_high: 0.1}"], ["policy.options:", "t_low 0.9 is above t_high 0.1"]),
    (["policy.options={storage_path: x.journal}"], ["policy.options.storage_path:", "set by the loop"]),
    (["policy.options={sampler: cmaes}"], ["policy.options.sampler:", "'cmaes'", "set policy.sampler instead"]),
    (["policy_options={optuna: {sampler: gp}}"], ["policy_options.optuna.sampler:", "'gp'", "set policy.sampler instead"]),
    (["policy.name=uniform", "policy.options={population: 3}"], ["policy.options.population:", "allowed: persistent"]),
    (["policy.name=uniform", "policy.options={persistent: true}", "search.rungs=3"],
     ["search.rungs: value 3 needs a per-candidate policy"]),
    (["policy.name=uniform", "policy.options={persistent: maybe}"], ["policy.options.persistent:", "maybe"]),
    (["policy.options=[1, 2]"], ["policy.options:", "expected dict"]),
    (["learner.model=cnnn"], ["learner.model:", "'cnnn'", "cnn", "mlp"]),
    (["learner.model=cnn"], ["learner.model:", "'cnn'", "shape (2,)", "(C, H, W)"]),
    (["learner.model=tests.plugins:no_such"], ["learner.model:", "'tests.plugins'", "no_such"]),
    (["learner.model=tests.plugins:wrong_width_model"], ["learner.model:", "output has shape (2, 3), expected (2, 2)"]),
    (["refiner.name=foo"], ["refiner.name:", "'foo'", "none", "simgan"]),
    (["refiner.name=simgan", "refiner.options={bogus: 1}"], ["refiner.options.bogus:", "allowed:", "steps"]),
    (["refiner.name=simgan", "refiner.options={steps: abc}"], ["refiner.options.steps:", "expected int, got str 'abc'"]),
    (["refiner.name=simgan", "refiner.options={steps: -1}"], ["refiner.options:", "steps must be >= 0, got -1"]),
    (["refiner.options={steps: 5}"], ["refiner.options:", "refiner 'none' takes no options"]),
    (["refiner.name=simgan"], ["refiner.name:", "(C, H, W)", "shape (2,)"]),
    (["simulator.id=NoSuch-v0"], ["simulator.id:", "'NoSuch-v0'"]),
    (["simulator.kwargs={bogus: 1}"], ["simulator.kwargs:", "bogus"]),
    (["data.real=missing.npz"], ["data.real:", "'missing.npz'", "does not exist"]),
    (["policy_options={nope: {}}"], ["policy_options.nope:", "unknown policy 'nope'", "reinforce"]),
    (["policy_options={reinforce: {population: abc}}"], ["policy_options.reinforce.population:", "expected int"]),
    (["policy_options={reinforce: {bogus: 1}}"], ["policy_options.reinforce.bogus:", "policy 'reinforce'", "population"]),
    (["policy_options={adversarial: {bins: 0}}"], ["policy_options.adversarial:", "bins and population must be at least 1"]),
    (["policy_options={adr: 3}"], ["policy_options.adr:", "expected a mapping", "3"]),
]


@pytest.mark.parametrize("overrides, needles", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_is_refused_naming_key_and_value(overrides, needles):
    refused(GM, overrides, *needles)


def test_preflight_itself_checks_what_loading_already_refuses():
    # config.validate() refuses these too; prepare_run must not rely on it (configs are also built in code).
    config = load_config(GM)
    config.refiner.name = "foo"
    with pytest.raises(ConfigError, match=r"^refiner\.name: unknown refiner 'foo'; choose one of none, simgan$"):
        prepare_run(config)


def test_final_widen_with_a_persistent_policy_passes_with_a_warning_that_it_is_ignored(caplog):
    with caplog.at_level("WARNING", logger="feedback_loop.preflight"):
        prepare_run(load_config(GM, ["policy.name=adr", "final.widen=0.5"]))
    assert "final.widen: value 0.5 is ignored" in caplog.text and "widens a searched winner" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="feedback_loop.preflight"):
        prepare_run(load_config(DIGITS, ["final.widen=0.5"]))  # a searched winner with range factors: widened
        prepare_run(load_config(GM, ["policy.name=adr"]))
    assert "final.widen" not in caplog.text
    # the Gaussian mixture has no range factors: nothing to widen (found by tests/test_config_walk.py)
    warnings = prepare_run(load_config(GM, ["final.widen=0.5"])).warnings
    assert any(w.startswith("final.widen: value 0.5 is ignored: the simulator") for w in warnings), warnings


def test_cnn_on_images_passes_but_on_two_d_points_is_refused():
    prepared = prepare_run(load_config(DIGITS, ["policy.name=reinforce", "policy.options={population: 4}"]))
    assert prepared.input_shape == (1, 8, 8) and prepared.num_classes == 10
    assert prepared.policy_options == {"population": 4}
    message = refused(GM, ["learner.model=cnn"])
    assert message.startswith("learner.model: 'cnn' cannot be built for inputs of shape (2,)")


def test_real_data_of_another_shape_names_data_real_and_both_shapes(tmp_path):
    path = tmp_path / "real.npz"
    np.savez(path, x=np.zeros((10, 3), np.float32), y=np.zeros(10, np.int64))
    refused(GM, [f"data.real={path}"], "data.real:", "(3,)", "(2,)")


def test_real_labels_outside_the_simulators_classes_are_refused(tmp_path):
    path = tmp_path / "real.npz"
    np.savez(path, x=np.zeros((10, 2), np.float32), y=np.arange(10))
    refused(GM, [f"data.real={path}"], "data.real:", "labels span [0, 9]", "2 classes")


def test_good_config_passes_with_sensible_fields():
    prepared = prepare_run(load_config(GM))
    assert isinstance(prepared, PreparedRun)
    assert prepared.config.policy.name == "optuna"
    assert prepared.input_shape == (2,) and prepared.num_classes == 2
    assert prepared.real.x_val.shape[1:] == (2,)
    assert set(prepared.env.param_space.spaces) == set(prepared.env.nominal_params)
    assert prepared.policy_options == {"sampler": "tpe", "pruner": "successive_halving"}  # as the loop passes them; storage_path the loop adds


def test_options_are_coerced_by_type_hints():
    prepared = prepare_run(load_config(GM, ["policy.name=reinforce", "policy.options={lr: 1, population: 2}",
                                            "policy_options={adr: {t_high: 0.9}}", "learner.model=tests.plugins:tiny_model"]))
    assert prepared.policy_options == {"lr": 1.0, "population": 2}
    assert isinstance(prepared.policy_options["lr"], float)


# --- the command line: one line, exit 2, and nothing started or written -------------------------

CLI_CASES = [
    ("policy.name=foo", "policy.name:"),
    ("policy.sampler=foo", "policy.sampler:"),
    ("learner.model=cnnn", "learner.model:"),
    ("policy.options={bogus: 1}", "policy.options.bogus:"),
    ("refiner.name=foo", "refiner.name:"),
    ("learner.model=cnn", "learner.model:"),
    # explicit shares no local Ray here can hold: refused now, naming the share and what sets the count
    ("resources.learner_cpus=1000", "2 learners × 1000 (resources.learners; resources.learner_cpus)"),
]
CHILD = ("import sys, ray; from feedback_loop.cli import main; code = main(sys.argv[1:]); "
         "print('RAY_STARTED', ray.is_initialized()); sys.exit(code)")


@pytest.mark.parametrize("assignment, key", CLI_CASES, ids=[a for a, _ in CLI_CASES])
def test_cli_refuses_before_ray_or_mlflow_start(tmp_path, assignment, key):
    run_dir, db = tmp_path / "run", tmp_path / "m.db"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "run", GM, "--run-dir", str(run_dir), "--tracking-uri", f"sqlite:///{db}",
         "--no-progress", "--set", assignment],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0], proc.stderr
    assert "RAY_STARTED False" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not run_dir.exists() and not db.exists() and not (tmp_path / "mlruns").exists()
    assert elapsed < 30, f"took {elapsed:.1f} s"


@pytest.mark.parametrize("name", ["digits.yaml", "digits_pbt.yaml", "digits_simgan.yaml", "gaussian_mixture.yaml"])
def test_every_example_config_passes_preflight(name):
    """The README's commands run these files as they are: each must load and pass every check."""
    path = ROOT / "examples" / name
    prepared = prepare_run(load_config(str(path)))
    # run as written: the budget the file states (not the defaults' 60 evaluations), and nothing warned
    stated = yaml.safe_load(path.read_text())["budget"]
    budget = prepared.config.budget
    assert (budget.evaluations, budget.train_samples) == (stated.get("evaluations", 60), stated.get("train_samples"))
    assert prepared.warnings == []
