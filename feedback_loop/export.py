"""``feedback-loop export RUN_DIR [--out DIR]``: what a finished run hands over, in plain files.

Writes into ``DIR`` (default ``RUN_DIR/export``): ``params.yaml`` / ``params.json`` (the chosen
simulator parameters in the format ``feedback-loop generate --params`` reads, ranges as ordered
intervals), ``trajectory.csv`` (one row per journaled evaluation), the delivered ``model.npz`` with a
``load_model.py`` snippet, and ``card.md`` (simulator and version, seeds, budget, scores and what each
was measured on). Reads the run directory only; nothing is trained or generated.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

PARAM_FILES = ("params.yaml", "params.json")
LOAD_SNIPPET = '''"""Load the model feedback-loop delivered and label inputs with it (raw inputs, the simulator's units)."""
from pathlib import Path

import numpy as np

import feedback_loop

model = feedback_loop.load_model(Path(__file__).with_name("model.npz"))  # torch module + input scaling, on CPU
x = np.zeros((4, *model.meta["input_shape"]), dtype=np.float32)  # replace with your inputs
labels = model.predict(x)
print(labels)
'''


def add_command(sub: "argparse._SubParsersAction") -> None:
    parser = sub.add_parser(
        "export", help="export a finished run's parameters, trajectory, model and card",
        description="Export a finished run: params.yaml/params.json (for `feedback-loop generate --params`), "
        "trajectory.csv, the delivered model.npz with load_model.py, and card.md.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (holds summary.json)")
    parser.add_argument("--out", metavar="DIR", help="where the files go (default: RUN_DIR/export)")
    parser.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    written = export_run(args.run_dir, args.out)
    print(f"exported {args.run_dir} to {written[0].parent}:")
    for path in written:
        print(f"  {path.name}")
    return 0


# -- reading the run --------------------------------------------------------------------------------

def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The run's summary, config and journaled history (the entries its checkpoint counts)."""
    from .checkpoint import load_checkpoint
    from .ledger import read_history

    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory; give the run directory that holds summary.json")
    if not (run_dir / "summary.json").is_file():
        if (run_dir / "checkpoint.json").is_file():
            raise UserError(f"{run_dir} has no summary.json: the run has not finished; "
                            f"finish it with `feedback-loop resume {run_dir}`, then export")
        raise UserError(f"{run_dir} has no summary.json and no checkpoint.json: the path is wrong "
                        "or the run never started (runs go in runs/NAME-TIME by default)")
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
    except FileNotFoundError:
        raise UserError(f"{run_dir} has no config.yaml; it is not a complete feedback-loop run directory") from None
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise UserError(f"{run_dir}: summary.json or config.yaml is corrupt ({err})".replace("\n", " ")) from None
    length = load_checkpoint(run_dir / "checkpoint.json")["ledger"]["history_length"]
    return summary, config, read_history(run_dir, length)


def chosen_params(summary: dict[str, Any], env: Any) -> tuple[dict[str, Any], str]:
    """The delivered model's parameters (or the best search parameters), every ``param_space`` key
    as a plain int or float, and how they were chosen."""
    from gymnasium import spaces

    chosen = summary.get("selected_params")
    how = "chosen after re-scoring with fresh seeds" if summary.get("selection") else "the delivered model's"
    if chosen and summary.get("final_widen"):
        how += f", their intervals widened by {summary['final_widen']:g} of the room left (final.widen)"
    if not chosen:
        chosen, how = summary.get("best_params"), "at the best search score"
    if not chosen:
        raise UserError("the run has no successful evaluation, so there are no parameters to export; "
                        "see the errors in its summary.json")
    params = {**getattr(env, "nominal_params", {}), **chosen}
    out = {}
    for name, space in env.param_space.spaces.items():
        value = params[name]
        out[name] = int(value) if isinstance(space, spaces.Discrete) else _plain(value)
    return out, how


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays as Python floats and lists."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    return float(array) if array.size == 1 else array.tolist()


# -- writing ----------------------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Block style, but short lists of numbers (``[low, high]``) on one line."""


_Dumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=all(isinstance(v, (int, float)) for v in data)))


def params_document(run_dir: Path, summary: dict, config: dict, env: Any, version: str) -> tuple[dict, str]:
    """The shared parameter format (read by ``feedback-loop generate --params``), and how they were chosen."""
    from .envs import intervals

    params, how = chosen_params(summary, env)
    ranges = getattr(env, "ranges", {}) or {}
    simulator = config.get("simulator") or {}
    document = {
        "simulator": {"id": simulator.get("id"), "kwargs": simulator.get("kwargs") or {}, "version": version},
        "params": params,
        "intervals": intervals(ranges, params) if ranges else {},
        "seed": config.get("seed", 0),
        "source": {"run_dir": str(run_dir.resolve()), "mlflow_run_id": summary.get("mlflow_run_id"),
                   "policy": summary.get("policy")},
    }
    per_sample = summary.get("selected_ranges") if summary.get("selected_params") else summary.get("best_ranges")
    if per_sample:  # uniform DR and ADR draw these per sample: generate draws them the same way
        document["ranges"] = {name: [_plain(low), _plain(high)] for name, (low, high) in per_sample.items()}
    return document, how


def write_params(out: Path, document: dict[str, Any], how: str) -> list[Path]:
    header = (f"# Simulator parameters exported by feedback-loop ({how}); intervals are informative.\n"
              f"# Generate data with them:  feedback-loop generate --params params.yaml --n 10000 --out data/\n")
    if document.get("ranges"):
        header += "# `ranges`: parameters drawn uniformly per sample over [low, high], as the run did.\n"
    (out / "params.yaml").write_text(header + yaml.dump(document, Dumper=_Dumper, sort_keys=False))
    (out / "params.json").write_text(json.dumps(document, indent=2) + "\n")
    return [out / name for name in PARAM_FILES]


def write_trajectory(path: Path, history: list[dict[str, Any]], env: Any) -> Path:
    """One row per journaled evaluation: its stage, fidelity, score, parameters and intervals."""
    from .envs import intervals

    names = list(env.param_space.spaces)
    ranges = getattr(env, "ranges", {}) or {}
    with_ranges = any(entry.get("ranges") for entry in history)  # per-sample ranges (uniform DR, ADR)
    columns = ["step", "candidate_id", "stage", "rung", "samples", "epochs", "status", "score", "best_score",
               "train_samples", "elapsed_s", *names, *(f"{f}_{end}" for f in ranges for end in ("low", "high")),
               *(["ranges"] if with_ranges else [])]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for entry in history:
            samples, epochs = entry.get("fidelity") or (None, None)
            row = {"step": entry["step"], "candidate_id": entry["id"], "stage": entry["stage"],
                   "rung": entry.get("rung", 0), "samples": samples, "epochs": epochs, "status": entry["status"],
                   "score": entry["score"], "best_score": entry.get("best_score"),
                   "train_samples": entry["train_samples"], "elapsed_s": entry.get("elapsed"), **entry["params"]}
            for factor, (low, high) in (intervals(ranges, entry["params"]) if ranges else {}).items():
                row[f"{factor}_low"], row[f"{factor}_high"] = low, high
            if with_ranges:
                row["ranges"] = json.dumps(entry.get("ranges")) if entry.get("ranges") else ""
            writer.writerow({k: v for k, v in row.items() if k in columns})
    return path


def write_model(run_dir: Path, out: Path, summary: dict[str, Any]) -> list[Path]:
    """``model.npz`` and ``load_model.py``; nothing when the run delivered no model."""
    source = run_dir / (summary.get("model_file") or "model.npz")
    if not summary.get("model_file") or not source.is_file():
        return []
    shutil.copyfile(source, out / "model.npz")
    (out / "load_model.py").write_text(LOAD_SNIPPET)
    return [out / "model.npz", out / "load_model.py"]


def card_text(summary: dict, config: dict, history: list[dict], document: dict, how: str, has_model: bool) -> str:
    """A short model and data card in Markdown."""
    sim, policy, learner = document["simulator"], config.get("policy") or {}, config.get("learner") or {}
    budget = summary.get("train_samples_budget")
    lines = [f"# Model card: {config.get('name', 'run')}", "",
             f"- simulator: `{sim['id']}`, version `{sim['version']}`" + (f", kwargs {sim['kwargs']}" if sim["kwargs"] else ""),
             f"- policy: {summary.get('policy')}" + (f" (sampler {summary['sampler']})" if summary.get("sampler") else ""),
             f"- seeds: data {config.get('seed', 0)}, policy {policy.get('seed', 0)}, learner {learner.get('seed', 0)}",
             f"- budget: {summary.get('train_samples'):,} training sample visits (samples × epochs)"
             + (f" of {budget:,}" if budget else "") + f"; {summary.get('evaluations')} search evaluations"
             + f" ({summary.get('failed_evaluations', 0)} failed), {len(history)} trainings in all",
             "", f"## Scores ({summary.get('score_name', 'accuracy')}; "
             f"{'lower' if summary.get('score_direction') == 'minimize' else 'higher'} is better)", ""]
    lines += [f"- {name}: **{value:.4f}** — {what}" for name, value, what in _scores(summary, history) if value is not None]
    if not has_model:
        lines.append("- no delivered model: the run did not deliver one (see summary.json `status`)")
    lines += ["", f"## Parameters ({how})", ""]
    lines += [f"- {factor} in [{a:.4g}, {b:.4g}] (each sample draws uniformly)" for factor, (a, b) in document["intervals"].items()]
    encoded = {f"{f}_{end}" for f in document["intervals"] for end in ("position", "width")}
    lines += [f"- {k} = {v:.4g}" if isinstance(v, float) else f"- {k} = {v}"
              for k, v in document["params"].items() if k not in encoded]
    if summary.get("selected_ranges") or summary.get("best_ranges"):
        lines.append(f"- per-sample ranges: {summary.get('selected_ranges') or summary.get('best_ranges')}")
    tracked = summary.get("mlflow_run_id")
    lines += ["", "## Provenance", "",
              f"- MLflow run `{tracked}` in `{summary.get('mlflow_tracking_uri')}`" if tracked else "- not tracked in MLflow",
              f"- run directory: `{document['source']['run_dir']}`",
              f"- exported {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; parameters in params.yaml, trajectory in trajectory.csv", ""]
    return "\n".join(lines)


def _scores(summary: dict, history: list[dict]) -> list[tuple[str, float | None, str]]:
    """Each score of the run with what it was measured on."""
    fidelity = {e["stage"]: e.get("fidelity") for e in history}  # each stage's (last) samples × epochs
    persistent = "final" not in fidelity and "search" in fidelity  # one model trained on step after step
    best = next((e.get("fidelity") for e in history if e["stage"] == "search" and e["id"] == summary.get("best_candidate_id")
                 and e["score"] == summary.get("best_score")), fidelity.get("search"))  # the rung it was measured at
    val = "real validation half"
    return [
        ("best search score", summary.get("best_score"), f"{val}, " + (
            "the persistent model after that step" if persistent else f"one seed at search fidelity {_fid(best)}")),
        *((f"re-scored candidate #{r['candidate_id']}", r["mean"],
           f"mean of {len(r['scores'])} fresh seed(s) on the {val} at {_fid(fidelity.get('selection'))}")
          for r in summary.get("selection") or []),
        ("delivered model", summary.get("delivered_val_score"), f"{val} (" + (
            _persistent_delivery(summary) if persistent else f"trained at {_fid(fidelity.get('final'))})")),
        ("delivered model", summary.get("delivered_test_score"), "real test half: reported only, never seen by the search"),
        ("oracle", summary.get("oracle_score"), f"same learner trained on the simulator's true parameters, {val}"),
    ]


def _persistent_delivery(summary: dict) -> str:
    """Which state of a persistent learner (or population) was delivered."""
    if (summary.get("population") or {}).get("deliver") == "best_member":
        return f"member {summary.get('delivered_member')}'s latest state, the best member at the end)"
    if summary.get("delivered_state") == "latest":
        return "the persistent model's latest state: realism does not compare states trained for different lengths)"
    if summary.get("population"):
        return f"the best state any member reached: member {summary.get('delivered_member')}, " \
               f"generation {summary.get('delivered_generation')})"
    return "the persistent model at its best step)"


def _fid(fidelity: Any) -> str:
    return f"{fidelity[0]:,} samples × {fidelity[1]} epoch" + "s" * (fidelity[1] != 1) if fidelity else "its fidelity"


def export_run(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the export of ``run_dir`` into ``out`` (default ``run_dir/export``); returns the files written."""
    from .simulators import make_simulator, simulator_version

    run_dir = Path(run_dir)
    summary, config, history = read_run(run_dir)
    simulator = config.get("simulator") or {}
    env = make_simulator(simulator.get("id"), simulator.get("kwargs") or {})
    document, how = params_document(run_dir, summary, config, env, simulator_version(env, simulator.get("id")))
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    written = write_params(out, document, how)
    written.append(write_trajectory(out / "trajectory.csv", history, env))
    model = write_model(run_dir, out, summary)
    (out / "card.md").write_text(card_text(summary, config, history, document, how, bool(model)))
    return written + model + [out / "card.md"]
