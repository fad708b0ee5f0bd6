"""``feedback-loop compare``: every policy and seed under one budget; CSV, table, plot, MLflow tags."""

from __future__ import annotations

import csv

from mlflow import MlflowClient

from feedback_loop.cli import main


def test_compare_runs_every_policy_and_seed(ray_session, tracking_uri, tmp_path, capsys):
    run_dir = tmp_path / "cmp"
    args = ["compare", "examples/gaussian_mixture.yaml", "--policies", "uniform,optuna,adr", "--seeds", "2",
            "--budget-evaluations", "3", "--run-dir", str(run_dir), "--tracking-uri", tracking_uri,
            "--target", "0.5", "--no-progress", "--set", "learner.samples=200", "--set", "learner.epochs=2",
            "--set", "name=test-compare"]
    assert main(args) == 0
    rows = list(csv.DictReader((run_dir / "compare.csv").open()))
    assert [(r["policy"], r["seed"]) for r in rows] == [
        ("uniform", "0"), ("uniform", "1"), ("optuna", "0"), ("optuna", "1"), ("adr", "0"), ("adr", "1")]
    assert all(r["evaluations"] == "3" and float(r["best_score"]) > 0 and r["test_score"] for r in rows)
    table = (run_dir / "compare.md").read_text()
    assert "| uniform | 2 |" in table and "samples to 0.5" in table
    assert (run_dir / "compare.png").stat().st_size > 10_000

    client = MlflowClient(tracking_uri)
    parents = [client.get_run(r["mlflow_run_id"]) for r in rows]
    comparison_ids = {p.data.tags["comparison_id"] for p in parents}
    assert len(comparison_ids) == 1
    assert [(p.data.tags["policy"], p.data.tags["seed"]) for p in parents] == [
        (r["policy"], r["seed"]) for r in rows]
    experiment = parents[0].info.experiment_id
    logged = client.search_runs([experiment], f"tags.comparison_id = '{comparison_ids.pop()}' and tags.kind = 'comparison'")
    assert len(logged) == 1
    assert "compare.png" in [a.path for a in client.list_artifacts(logged[0].info.run_id)]

    # Running it again reuses the finished runs instead of repeating them.
    assert main(args) == 0
    assert [r["mlflow_run_id"] for r in csv.DictReader((run_dir / "compare.csv").open())] == [
        r["mlflow_run_id"] for r in rows]


def test_compare_rejects_unknown_policy(capsys):
    assert main(["compare", "examples/gaussian_mixture.yaml", "--policies", "uniform,bogus"]) == 2
    assert "--policies: unknown policy ['bogus']" in capsys.readouterr().err


def test_compare_at_equal_compute_gives_uniform_dr_the_whole_budget_in_one_model(ray_session, tracking_uri, tmp_path):
    run_dir = tmp_path / "cmp"
    assert main(["compare", "examples/gaussian_mixture.yaml", "--policies", "uniform,random", "--seeds", "1",
                 "--budget-train-samples", "6000", "--run-dir", str(run_dir), "--tracking-uri", tracking_uri,
                 "--no-progress", "--set", "learner.samples=200", "--set", "learner.epochs=2",
                 "--set", "name=test-compare-equal"]) == 0
    rows = {r["policy"]: r for r in csv.DictReader((run_dir / "compare.csv").open())}
    assert int(rows["uniform"]["train_samples"]) == 6000 and rows["uniform"]["evaluations"] == "0"  # no search
    assert int(rows["random"]["train_samples"]) <= 6000 and int(rows["random"]["evaluations"]) >= 10
    assert all(float(r["test_score"]) > 0 for r in rows.values())


def test_compare_runs_pbt_at_equal_compute_without_mlflow(ray_session, tmp_path):
    """The population policy takes part at the same train_samples; tracking 'none' writes no MLflow."""
    run_dir = tmp_path / "cmp"
    assert main(["compare", "examples/gaussian_mixture.yaml", "--policies", "uniform,pbt", "--seeds", "1",
                 "--budget-train-samples", "12000", "--run-dir", str(run_dir), "--tracking-uri", "none",
                 "--no-progress", "--set", "resources.learner_cpus=0.3", "--set", "learner.persistent_samples=300",
                 "--set", "learner.epochs=2", "--set", "policy_options={pbt: {population: 2, interval: 2}}",
                 "--set", "name=test-compare-pbt"]) == 0
    rows = {r["policy"]: r for r in csv.DictReader((run_dir / "compare.csv").open())}
    assert int(rows["pbt"]["train_samples"]) == 12000 == int(rows["uniform"]["train_samples"])
    assert float(rows["pbt"]["test_score"]) > 0 and not (tmp_path / "mlruns").exists()


def test_compare_gives_each_policy_its_policy_options_and_its_runs_warn_of_none():
    """``policy_options`` is compare's: each run gets its entry as policy.options and no warning, while a
    plain run with policy_options is warned that nothing reads them there."""
    from feedback_loop.compare import config_for
    from feedback_loop.config import load_config
    from feedback_loop.preflight import prepare_run

    base = load_config("examples/gaussian_mixture.yaml", ["policy_options={pbt: {population: 2, interval: 2}}"])
    pbt = config_for(base, "pbt", 0)
    assert pbt.policy.options == {"population": 2, "interval": 2} and pbt.policy_options == {}
    assert not any(line.startswith("policy_options") for line in prepare_run(pbt).warnings)
    warned = prepare_run(base).warnings
    assert any(line.startswith("policy_options: value {'pbt'") and "read only by 'feedback-loop compare'" in line
               for line in warned), warned
