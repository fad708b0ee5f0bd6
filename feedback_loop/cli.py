"""The ``feedback-loop`` command line: ``run``, ``resume``, ``compare``.

User errors (bad config, unknown simulator, corrupt checkpoint, unreachable store) print one clear
line and exit with status 2; ``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence


def _user_errors() -> tuple[type[BaseException], ...]:
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .errors import UserError
    from .imports import ImportPathError
    from .executors import LearnerLostError, RayLostError, ResourceError
    from .loop import EarlyFailureError
    from .simulators import SimulatorError
    from .tracking import TrackingError

    # Errors whose message says what to do: one line and exit 2, no traceback (unless --debug).
    return (ConfigError, SimulatorError, CheckpointError, TrackingError, ResourceError, ImportPathError,
            LearnerLostError, RayLostError, EarlyFailureError, UserError)


# Modules that each define ``add_command(subparsers)`` for one more subcommand.
COMMAND_MODULES = (
    "feedback_loop.export",
    "feedback_loop.generate.command",
    "feedback_loop.check_env",
)

SHOWN_PARAMS = 16  # a simulator may have dozens; summary.json has them all


def _score(summary: dict[str, Any]) -> str | None:
    """The task's score and its direction (every score row below is this one)."""
    name = summary.get("score_name")
    if not name:
        return None
    better = "higher" if summary.get("score_direction", "maximize") == "maximize" else "lower"
    return f"{name} ({better} is better; task {(summary.get('task') or {}).get('name', '?')})"


def _print_table(summary: dict[str, Any]) -> None:
    rows = [
        ("policy", summary.get("policy") + (f" ({summary['sampler']})" if summary.get("sampler") else "")),
        ("simulator", summary.get("simulator")),
        ("score", _score(summary)),
        ("evaluations", f"{summary.get('evaluations')} ({summary.get('failed_evaluations', 0)} failed)"),
        ("train samples", _budget(summary)),
        ("best validation score", _fmt(summary.get("best_score"))),
        ("re-scored candidates", _selection(summary)),
        ("delivered model, validation", _fmt(summary.get("delivered_val_score"))),
        ("delivered model, real test", _fmt(summary.get("delivered_test_score"))),
        ("oracle validation score", _fmt(summary.get("oracle_score"))),
        ("wall seconds", _fmt(summary.get("wall_seconds"), 1)),
        ("MLflow run", f"{summary.get('mlflow_run_id')} in {summary.get('mlflow_tracking_uri')}"),
        ("run directory", summary.get("run_dir")),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        if value not in (None, "-"):
            print(f"  {name.ljust(width)}  {value}")
    chosen = summary.get("selected_params") or summary.get("best_params")
    shown = summary.get("selected_intervals") or summary.get("best_intervals")
    if shown:  # randomized factors as ordered intervals, not as their encoding
        print("  randomized factors (each sample draws uniformly from):")
        for factor, (a, b) in shown.items():
            print(f"    {factor} in [{a:.4g}, {b:.4g}]")
        chosen = {k: v for k, v in chosen.items() if not k.endswith(("_position", "_width"))}
    if chosen:
        params = list(chosen.items())
        print("  parameters of the delivered model:" if summary.get("selected_params") else "  best parameters:")
        for key, value in params[:SHOWN_PARAMS]:
            print(f"    {key} = {value:.4g}" if isinstance(value, float) else f"    {key} = {value}")
        if len(params) > SHOWN_PARAMS:
            print(f"    ... and {len(params) - SHOWN_PARAMS} more in {summary.get('run_dir')}/summary.json")
    if summary.get("errors"):
        print("  errors of failed evaluations:")
        for item in summary["errors"]:
            print(f"    {item['count']} × {item['error'][:300]}")
    if summary.get("references"):  # quoted from elsewhere (e.g. BENCHMARKS.md), not measured in this run
        print("  for comparison, quoted (not measured in this run):")
        for name, figure in summary["references"].items():
            print(f"    {name}: {figure}")
    for line in mlflow_links(summary):
        print(line)


UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui --host 127.0.0.1` serves by default
# MLflow 3.17's UI shows its GenAI pages (traces, evaluations) unless the page is asked for its "Model
# training" view; the experiment's mlflow.experimentKind tag (tracking.py) is not enough there
MODEL_TRAINING_VIEW = "?workflowType=machine_learning"


def mlflow_links(summary: dict[str, Any]) -> list[str]:
    """How to open this run in the MLflow UI: the command, then the URLs of the run and its runs table,
    both in MLflow's model-training view (tests/test_mlflow_ui.py opens them in a browser)."""
    uri, experiment, run = (summary.get(k) for k in ("mlflow_tracking_uri", "mlflow_experiment_id", "mlflow_run_id"))
    if not uri or uri == "none" or experiment is None:
        return []
    if uri.startswith(("http://", "https://")):  # a tracking server already serves the UI
        lines, address = ["\nOpen in the MLflow UI:"], uri.rstrip("/")
    else:
        lines = ["\nOpen in the MLflow UI (start it first):",
                 f"  mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000"]
        address = UI_ADDRESS
    lines.append(f"  this run:   {address}/#/experiments/{experiment}/runs/{run}{MODEL_TRAINING_VIEW}")
    lines.append(f"  runs table: {address}/#/experiments/{experiment}/runs{MODEL_TRAINING_VIEW}")
    return lines


def _budget(summary: dict[str, Any]) -> str:
    """Sample visits trained (samples × epochs), and the budget they count against."""
    used, budget = summary.get("train_samples"), summary.get("train_samples_budget")
    return f"{used:,}" + (f" of {budget:,}" if budget else "") if used is not None else "-"


def _selection(summary: dict[str, Any]) -> str | None:
    rows = summary.get("selection") or []
    if not rows:
        return None
    means = ", ".join(f"#{r['candidate_id']} {r['mean']:.4f}" for r in rows)
    return f"{means} (mean of fresh seeds; chose #{summary.get('selected_candidate_id')})"


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _run_resumable(runner: Any, run_dir: Any, progress: bool) -> dict[str, Any]:
    try:
        return runner.run(progress=progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: a checkpoint was written; continue with:  feedback-loop resume {run_dir}",
              file=sys.stderr)
        raise SystemExit(130) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .loop import LoopRunner, default_run_dir
    from .preflight import prepare_run

    config = load_config(args.config, args.set)
    prepared = prepare_run(config)  # refuse bad input before Ray, MLflow or the run directory exist
    run_dir = args.run_dir or default_run_dir(config)
    runner = LoopRunner(config, run_dir, tracking_uri=args.tracking_uri, prepared=prepared)
    print(f"feedback-loop: running {config.name} in {run_dir}", file=sys.stderr)
    summary = _run_resumable(runner, run_dir, not args.no_progress)
    _print_table(summary)
    return 0 if summary["status"] == "finished" else 1


def _cmd_resume(args: argparse.Namespace) -> int:
    from .loop import LoopRunner

    runner = LoopRunner.from_run_dir(args.run_dir)
    print(f"feedback-loop: resuming {args.run_dir} at evaluation {runner.saved['ledger']['evaluations']}",
          file=sys.stderr)
    summary = _run_resumable(runner, args.run_dir, not args.no_progress)
    _print_table(summary)
    return 0 if summary["status"] == "finished" else 1


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import parse_policies, run_comparison

    run_dir = args.run_dir or f"runs/compare-{time.strftime('%Y%m%d-%H%M%S')}"
    rows = run_comparison(
        args.config, parse_policies(args.policies), args.seeds, run_dir, overrides=args.set,
        budget_evaluations=args.budget_evaluations, budget_seconds=args.budget_seconds,
        budget_train_samples=args.budget_train_samples, target=args.target,
        tracking_uri=args.tracking_uri, progress=not args.no_progress,
    )
    print((Path(run_dir) / "compare.md").read_text())
    print(f"{len(rows)} runs; table in {run_dir}/compare.csv, plot in {run_dir}/compare.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedback-loop",
        description="Close the generation feedback loop: a policy tunes a simulator's parameters from "
        "the validation score of models trained on its data (Ray actors, MLflow tracking).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a closed loop from a YAML config",
                         description="Run a closed loop from a YAML config; writes RUN_DIR/summary.json.")
    run.add_argument("config", help="YAML config file (see examples/)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. --set budget.evaluations=20 (repeatable)")
    run.add_argument("--run-dir", help="where checkpoints and summary.json go (default: runs/NAME-TIME)")
    run.add_argument("--tracking-uri", help="MLflow tracking URI (default: config, $MLFLOW_TRACKING_URI, sqlite:///mlflow.db)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(func=_cmd_run)

    resume = sub.add_parser("resume", help="continue an interrupted run",
                            description="Continue an interrupted run from RUN_DIR/checkpoint.json, into the same MLflow run.")
    resume.add_argument("run_dir", metavar="RUN_DIR", help="the run directory of the interrupted run")
    resume.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    resume.set_defaults(func=_cmd_resume)

    compare = sub.add_parser(
        "compare", help="compare policies under the same budget and seeds",
        description="Run every policy under the same budget and seeds on the same simulator and real data; "
        "write DIR/compare.csv, DIR/compare.md and DIR/compare.png and log them to MLflow. "
        "Running the same command again finishes an interrupted comparison.")
    compare.add_argument("config", help="YAML config file shared by all runs")
    compare.add_argument("--policies", default="uniform,optuna,reinforce,adversarial,adr",
                         help="comma-separated policy names (default: %(default)s)")
    compare.add_argument("--seeds", type=int, default=3, help="seeds per policy (default: %(default)s)")
    budget = compare.add_mutually_exclusive_group()
    budget.add_argument("--budget-evaluations", type=int, help="evaluations per run")
    budget.add_argument("--budget-seconds", type=float, help="wall-clock seconds per run")
    budget.add_argument("--budget-train-samples", type=int,
                        help="training sample visits (samples × epochs) per run, everything included: equal compute; "
                             "uniform then spends it all on one model")
    compare.add_argument("--target", type=float, help="score whose first reaching is reported (samples and seconds to target)")
    compare.add_argument("--run-dir", help="where the runs and the table go (default: runs/compare-TIME)")
    compare.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    compare.add_argument("--tracking-uri", help="MLflow tracking URI")
    compare.add_argument("--no-progress", action="store_true", help="hide progress bars")
    compare.set_defaults(func=_cmd_compare)

    for module_name in COMMAND_MODULES:  # each adds its own subcommand (kept out of this file)
        importlib.import_module(module_name).add_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    import logging

    if args.debug:  # Ray's notices (e.g. that token authentication is on) are shown only with --debug
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.INFO)
    else:  # a clean console: the progress bar and the table (MLflow announces creating its tables)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except _user_errors() as err:
        if args.debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
