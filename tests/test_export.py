"""``feedback-loop export``: parameters, trajectory, model and card from real (tiny) run directories.

The runs use the in-process executor and no MLflow (``tracking_uri: none``), so they take seconds.
"""

from __future__ import annotations

import csv
import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import feedback_loop
from feedback_loop.cli import main
from feedback_loop.config import load_config
from feedback_loop.envs import intervals
from feedback_loop.export import export_run
from feedback_loop.simulators import make_simulator, simulator_version
from tests import runs
from tests.test_loop_logic import in_process

TINY = ["tracking.tracking_uri=none", "budget.train_samples=null", "search.rungs=1", "selection.candidates=2",
        "name=export"]
FILES = {"params.yaml", "params.json", "trajectory.csv", "model.npz", "load_model.py", "card.md"}


@pytest.fixture(scope="module")
def gm_run(tmp_path_factory) -> Path:
    config = load_config("examples/gaussian_mixture.yaml", TINY + [
        "learner.samples=200", "learner.epochs=2", "budget.evaluations=4", "selection.seeds=2",
        "final.samples=300", "final.epochs=2"])
    run_dir = tmp_path_factory.mktemp("gm") / "run"
    in_process(config, run_dir).run(progress=False)
    return run_dir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """Digits-v0 has range factors (``{factor}_position`` / ``_width``): the intervals are exported."""
    config = load_config("examples/digits.yaml", TINY + [
        "learner.samples=100", "learner.epochs=1", "budget.evaluations=3", "selection.seeds=1",
        "final.samples=200", "final.epochs=1", "final.widen=0.5", "policy.name=random"])  # no candidate at full width
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    in_process(config, run_dir).run(progress=False)
    return run_dir


@pytest.fixture(scope="module")
def gm_export(gm_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gm-export")
    export_run(gm_run, out)
    return out


@pytest.fixture(scope="module")
def digits_export(digits_run) -> Path:
    export_run(digits_run)  # the default place: RUN_DIR/export
    return digits_run / "export"


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_every_file_is_written(gm_export, digits_export):
    assert {p.name for p in gm_export.iterdir()} == FILES
    assert {p.name for p in digits_export.iterdir()} == FILES


def test_params_round_trip_with_every_parameter_as_a_plain_number(gm_run, gm_export):
    document = json.loads((gm_export / "params.json").read_text())
    text = (gm_export / "params.yaml").read_text()
    assert text.startswith("#") and "feedback-loop generate --params params.yaml" in text.splitlines()[1]
    assert yaml.safe_load(text) == document  # the two files say the same
    env = make_simulator("feedback_loop/GaussianMixture-v0")
    summary = summary_of(gm_run)
    assert list(document["params"]) == list(env.param_space.spaces)
    assert document["params"] == summary["selected_params"]
    assert all(type(v) is float for v in document["params"].values())
    assert document["simulator"] == {"id": "feedback_loop/GaussianMixture-v0", "kwargs": {},
                                     "version": simulator_version(env, "feedback_loop/GaussianMixture-v0")}
    assert document["intervals"] == {} and document["seed"] == 0
    assert document["source"] == {"run_dir": str(gm_run.resolve()), "mlflow_run_id": None, "policy": "optuna"}


def test_range_factors_are_exported_as_ordered_intervals(digits_run, digits_export):
    document = json.loads((digits_export / "params.json").read_text())
    summary, env = summary_of(digits_run), make_simulator("feedback_loop/Digits-v0")
    assert set(document["params"]) == set(env.param_space.spaces)
    assert list(document["intervals"]) == list(env.ranges) and len(env.ranges) >= 2
    assert all(low <= high for low, high in document["intervals"].values())
    assert document["intervals"] == summary["selected_intervals"]  # both rounded by envs.intervals
    text = (digits_export / "params.yaml").read_text()
    assert "  slant: [" in text  # an interval reads as one [low, high] line
    # delivered at widened intervals (final.widen): the export is what the model trained on, and says so
    assert summary["final_widen"] == 0.5 and document["params"] == pytest.approx(summary["selected_params"])
    assert summary["selected_params"] != summary["searched_params"]
    searched = intervals(env.ranges, summary["searched_params"])
    assert all(document["intervals"][f][0] <= a and b <= document["intervals"][f][1] for f, (a, b) in searched.items())
    assert "widened by 0.5 of the room left (final.widen)" in text.splitlines()[0]
    columns, rows = read_csv(digits_export / "trajectory.csv")
    assert {f"{f}_{end}" for f in env.ranges for end in ("low", "high")} <= set(columns)
    for row in rows:
        for factor, spec in env.ranges.items():
            low, high = float(row[f"{factor}_low"]), float(row[f"{factor}_high"])
            assert spec.low <= low <= high <= spec.high


def test_trajectory_has_one_row_per_journaled_evaluation(gm_run, gm_export):
    history = runs.history(gm_run)
    columns, rows = read_csv(gm_export / "trajectory.csv")
    assert len(rows) == len(history) and {r["stage"] for r in rows} == {"search", "selection", "final"}
    assert columns[:10] == ["step", "candidate_id", "stage", "rung", "samples", "epochs", "status", "score",
                            "best_score", "train_samples"]
    assert set(make_simulator("feedback_loop/GaussianMixture-v0").param_space.spaces) <= set(columns)
    for row, entry in zip(rows, history):
        assert (int(row["candidate_id"]), row["stage"], row["status"]) == (entry["id"], entry["stage"], entry["status"])
        assert float(row["score"]) == entry["score"] and float(row["c0_m0_x"]) == entry["params"]["c0_m0_x"]
        assert int(row["train_samples"]) == entry["train_samples"]


def test_journal_lines_past_the_checkpoint_are_not_exported(gm_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(gm_run, copy, ignore=shutil.ignore_patterns("export"))
    with open(copy / "history.jsonl") as handle:
        last = json.loads(handle.readlines()[-1])
    with open(copy / "history.jsonl", "a") as handle:  # written just before a crash, never counted
        handle.write(json.dumps({**last, "step": last["step"] + 1}) + "\n")
    export_run(copy, tmp_path / "out")
    assert len(read_csv(tmp_path / "out" / "trajectory.csv")[1]) == len(runs.history(gm_run))


def test_exported_model_predicts_as_the_runs_model(gm_run, gm_export):
    real = make_simulator("feedback_loop/GaussianMixture-v0").real_data()
    exported = feedback_loop.load_model(gm_export / "model.npz")
    assert np.array_equal(exported.predict(real.x_val), feedback_loop.load_model(gm_run).predict(real.x_val))
    assert np.mean(exported.predict(real.x_test) == real.y_test) == pytest.approx(
        summary_of(gm_run)["delivered_test_score"], abs=1e-6)
    labels = runpy.run_path(str(gm_export / "load_model.py"))["labels"]  # the snippet runs as written
    assert labels.shape == (4,) and labels.dtype.kind == "i"


def test_card_names_the_simulator_version_and_each_score_with_its_data(gm_run, gm_export, digits_export):
    card, summary = (gm_export / "card.md").read_text(), summary_of(gm_run)
    env = make_simulator("feedback_loop/GaussianMixture-v0")
    assert simulator_version(env, "feedback_loop/GaussianMixture-v0") in card
    assert f"**{summary['delivered_test_score']:.4f}** — real test half" in card
    assert f"**{summary['delivered_val_score']:.4f}** — real validation half" in card
    assert f"**{summary['best_score']:.4f}** — real validation half, one seed at search fidelity 200 samples × 2 epochs" in card
    assert f"**{summary['oracle_score']:.4f}**" in card and "fresh seed(s)" in card
    assert "seeds: data 0, policy 0, learner 0" in card and f"{summary['train_samples']:,} training sample" in card
    assert "- slant in [" in (digits_export / "card.md").read_text()


def test_a_run_without_a_delivered_model_exports_the_rest(gm_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(gm_run, copy, ignore=shutil.ignore_patterns("export", "model.npz"))
    summary = summary_of(copy)
    (copy / "summary.json").write_text(json.dumps({**summary, "model_file": None, "status": "failed"}))
    written = export_run(copy, tmp_path / "out")
    assert {p.name for p in written} == FILES - {"model.npz", "load_model.py"}
    assert "no delivered model" in (tmp_path / "out" / "card.md").read_text()


def test_cli_exports_and_prints_what_it_wrote(gm_run, tmp_path, capsys):
    assert main(["export", str(gm_run), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in FILES)
    assert {p.name for p in (tmp_path / "out").iterdir()} == FILES


def test_cli_refuses_an_unfinished_or_wrong_run_dir_in_one_line(gm_run, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(gm_run / "checkpoint.json", unfinished)
    assert main(["export", str(unfinished)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no summary.json" in err and f"feedback-loop resume {unfinished}" in err
    assert main(["export", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "the path is wrong" in err
    assert main(["export", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not (unfinished / "export").exists()


def test_a_uniform_dr_export_generates_the_same_data_as_the_run_itself(ray_session, tmp_path):
    """Uniform DR draws parameters per sample: the exported ``ranges`` make ``generate --params`` draw
    them the same way, so both routes give byte-identical shards."""
    from feedback_loop.generate import generate_dataset, load_params_file
    from feedback_loop.generate.sources import load_run_dir

    config = load_config("examples/gaussian_mixture.yaml", TINY + [
        "policy.name=uniform", "learner.samples=200", "learner.epochs=1", "budget.evaluations=1",
        "selection.candidates=0", "final.samples=200", "final.epochs=1"])
    in_process(config, tmp_path / "run").run(progress=False)
    export_run(tmp_path / "run", tmp_path / "export")
    document = yaml.safe_load((tmp_path / "export" / "params.yaml").read_text())
    assert document["ranges"] and all(low <= high for low, high in document["ranges"].values())
    via_file = generate_dataset(load_params_file(tmp_path / "export" / "params.yaml"), tmp_path / "a", 500,
                                shard_size=250, workers=1, progress=False)
    via_run = generate_dataset(load_run_dir(tmp_path / "run", with_refiner=False), tmp_path / "b", 500,
                               shard_size=250, workers=1, progress=False)
    shards = sorted(p.name for p in (tmp_path / "a").glob("shard-*"))
    assert shards and shards == sorted(p.name for p in (tmp_path / "b").glob("shard-*"))
    assert all((tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes() for name in shards)
    assert via_file is not None and via_run is not None
