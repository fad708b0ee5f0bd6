"""``feedback-loop compare``: every policy under the same budget, seeds, simulator and real data.

Runs one loop per (policy, seed) into ``DIR/POLICY-seedK``, tags each MLflow parent run with
``policy``, ``seed`` and a shared ``comparison_id``, then writes ``DIR/compare.csv`` (a row per
run), ``DIR/compare.md`` (mean ± std per policy) and ``DIR/compare.png`` (best score so far
against evaluations and against generated samples, a band over seeds), and logs them to MLflow.
Finished runs are kept, interrupted ones resumed: running the same command again completes it.
"""

from __future__ import annotations

import copy
import csv
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, ConfigError, load_config
from .ledger import read_history
from .loop import CHECKPOINT_FILE, CONFIG_FILE, SUMMARY_FILE, LoopRunner
from .policies import POLICIES
from .preflight import PreparedRun, check_per_policy_options, prepare_run

CSV_FIELDS = [
    "policy", "seed", "best_score", "test_score", "delivered_val_score", "mean_score", "evaluations",
    "failed_evaluations", "samples_generated", "train_samples", "wall_seconds", "samples_to_target", "seconds_to_target", "mlflow_run_id", "run_dir",
]
COMPARISON_FILE = "comparison.json"


def parse_policies(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if not names or unknown:
        raise ConfigError(f"--policies: unknown policy {unknown or text!r}; choose from {','.join(sorted(POLICIES))}")
    return names


def config_for(base: Config, policy: str, seed: int) -> Config:
    """The base config with this policy and seed; the policy's own options from ``policy_options``."""
    config = copy.deepcopy(base)
    config.policy.options = dict(base.policy_options.get(policy, base.policy.options if policy == base.policy.name else {}))
    config.policy_options = {}  # applied above: the run itself reads policy.options (a run warns of policy_options)
    config.policy.name = policy
    config.policy.seed = seed
    config.seed = seed
    config.name = base.name
    return config


def first_reaching(history: list[dict[str, Any]], target: float | None, key: str,
                   direction: str = "maximize") -> float | None:
    """``key`` (samples or seconds) at the first evaluation whose best score reached ``target`` (at or
    above it for a maximized score, at or below it for a minimized one)."""
    if target is None:
        return None
    for entry in history:
        best = entry["best_score"]
        if best is not None and (best >= target if direction == "maximize" else best <= target):
            return entry[key]
    return None


def run_comparison(
    config_path: str,
    policies: list[str],
    seeds: int,
    run_dir: str | Path,
    *,
    overrides: list[str] | None = None,
    budget_evaluations: int | None = None,
    budget_seconds: float | None = None,
    budget_train_samples: int | None = None,
    target: float | None = None,
    tracking_uri: str | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run (or finish) the comparison and write its table and plot; returns the CSV rows."""
    if seeds < 1:
        raise ConfigError(f"--seeds: value {seeds} is impossible; allowed: >= 1")
    overrides = list(overrides or [])
    if budget_evaluations is not None:
        overrides += [f"budget.evaluations={budget_evaluations}", "budget.seconds=null" if budget_seconds is None else ""]
    if budget_seconds is not None:
        overrides += [f"budget.seconds={budget_seconds}"]
        if budget_evaluations is None:
            overrides += ["budget.evaluations=null"]
    if budget_train_samples is not None:  # equal compute: every policy, uniform DR included, gets the same
        overrides += [f"budget.train_samples={budget_train_samples}", "budget.evaluations=null", "budget.seconds=null"]
    base = load_config(config_path, [o for o in overrides if o])
    # every policy's config is checked before the first run starts (and every policy_options entry,
    # those of policies not compared too)
    check_per_policy_options(base)
    prepared = {policy: prepare_run(config_for(base, policy, 0)) for policy in policies}
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    meta_file = run_dir / COMPARISON_FILE
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {"comparison_id": uuid.uuid4().hex[:8]}
    meta_file.write_text(json.dumps(meta))
    comparison_id = meta["comparison_id"]

    rows, histories = [], {}
    task = next(iter(prepared.values())).task if prepared else None
    # the fed-back score's direction (realism is minimized whatever the task's): histories hold that score
    direction = next(iter(prepared.values())).objective.direction if prepared else "maximize"
    score_name = task.score if task is not None else "accuracy"
    for policy in policies:
        for seed in range(seeds):
            sub = run_dir / f"{policy}-seed{seed}"
            summary = _run_one(base, policy, seed, sub, comparison_id, tracking_uri, progress,
                               prepared[policy] if seed == 0 else None)
            history = read_history(sub)
            histories.setdefault(policy, []).append(history)
            rows.append({
                **{k: summary.get(k) for k in CSV_FIELDS if k in summary},
                "policy": policy, "seed": seed, "run_dir": str(sub),
                "samples_to_target": first_reaching(history, target, "samples_generated", direction),
                "seconds_to_target": first_reaching(history, target, "elapsed", direction),
            })
            score_name = summary.get("score_name", score_name)
    _write_csv(run_dir / "compare.csv", rows)
    (run_dir / "compare.md").write_text(markdown_table(rows, target, comparison_id, score_name, direction))
    from .plots import comparison_figure

    figure = comparison_figure(histories)
    figure.savefig(run_dir / "compare.png", dpi=110)
    _log_comparison(base, comparison_id, run_dir, figure, tracking_uri)
    return rows


def _run_one(base: Config, policy: str, seed: int, sub: Path, comparison_id: str, tracking_uri: str | None,
             progress: bool, prepared: PreparedRun | None) -> dict[str, Any]:
    if (sub / SUMMARY_FILE).is_file():
        return json.loads((sub / SUMMARY_FILE).read_text())
    tags = {"comparison_id": comparison_id, "seed": str(seed)}
    if (sub / CONFIG_FILE).is_file() and (sub / CHECKPOINT_FILE).is_file():
        return LoopRunner.from_run_dir(sub).run(progress=progress)
    runner = LoopRunner(config_for(base, policy, seed), sub, tracking_uri=tracking_uri, extra_tags=tags,
                        prepared=prepared)
    return runner.run(progress=progress)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in CSV_FIELDS})


def _mean_std(values: list[Any], digits: int) -> str:
    present = [float(v) for v in values if v is not None]
    if not present:
        return "-"
    text = f"{np.mean(present):.{digits}f} ± {np.std(present):.{digits}f}"
    return text if len(present) == len(values) else f"{text} ({len(present)}/{len(values)})"


def markdown_table(rows: list[dict[str, Any]], target: float | None, comparison_id: str,
                   score_name: str = "accuracy", direction: str = "maximize") -> str:
    """Mean ± std over seeds, one line per policy; every score is the task's (``score_name``)."""
    columns = [("best_score", "best validation", 4), ("test_score", "delivered test", 4),
               ("mean_score", "mean eval score", 4), ("train_samples", "train samples", 0),
               ("evaluations", "evaluations", 1), ("samples_generated", "samples", 0), ("wall_seconds", "wall s", 1)]
    if target is not None:
        columns += [("samples_to_target", f"samples to {target:g}", 0), ("seconds_to_target", f"s to {target:g}", 1)]
    better = "higher" if direction == "maximize" else "lower"
    lines = [f"Comparison `{comparison_id}`: mean ± std over seeds; scores are {score_name} ({better} is better).", "",
             "| policy | seeds | " + " | ".join(title for _, title, _ in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for policy in dict.fromkeys(r["policy"] for r in rows):
        mine = [r for r in rows if r["policy"] == policy]
        cells = [_mean_std([r.get(key) for r in mine], digits) for key, _, digits in columns]
        lines.append(f"| {policy} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _log_comparison(base: Config, comparison_id: str, run_dir: Path, figure: Any, tracking_uri: str | None) -> None:
    from .tracking import Tracker, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri or base.tracking.tracking_uri)
    if uri == "none":  # no MLflow: the table and the plot stay in the run directory
        return
    tracker = Tracker(uri, base.tracking.experiment or base.name)
    run = tracker.client.create_run(tracker.experiment_id, run_name=f"compare-{comparison_id}",
                                    tags={"comparison_id": comparison_id, "kind": "comparison"})
    run_id = run.info.run_id
    tracker.client.log_figure(run_id, figure, "compare.png")
    tracker.client.log_artifact(run_id, str(run_dir / "compare.csv"))
    tracker.client.log_artifact(run_id, str(run_dir / "compare.md"))
    tracker.client.set_terminated(run_id)
