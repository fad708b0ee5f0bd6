"""How many labels does the loop need? Real *test* accuracy on Digits-v0 with N labelled validation
digits (``data.labels``), the other validation inputs unlabeled, at one compute budget per run.

For every N in ``--labels`` (``all`` = the 898) and every seed:

- ``uniform``: uniform DR; N > 0: one persistent learner, its state chosen on the N labels; N = 0: one
  model on fresh uniform-DR data, its last state (nothing to choose on);
- ``loop_task`` (N >= 10): PBT (examples/digits_pbt.yaml) fed the task score on the N labels;
- ``loop_realism`` (N below all: realism needs unlabeled inputs): PBT fed realism (``objective.realism``,
  ``objective.features``) alone; it delivers the member whose latest state is the most realistic (the
  default under realism: states trained for different lengths are not compared on it);
- ``loop_both`` (10 <= N below all): PBT fed the task score penalized by ``--weight`` x realism;
- ``loop_pareto`` (10 <= N below all): a TPE search over (task score, realism) that delivers the Pareto
  front's knee (``objective.score: pareto``; ``pareto_search`` says its shape);
- each of them ``+ft`` (N >= 2): the delivered model fine-tuned on the N labels (``final.finetune``);
- ``real_only`` (N >= 2): the same CNN trained from scratch on the N labels, epochs by CV inside them.

``realism_task_spearman``: over up to 20 distinct parameter settings the ``loop_realism`` runs at the
largest N below all tried (per seed), each retrained as a fresh CNN (2,000 samples x 5 epochs), the rank
correlation between realism (negated: positive means realism ranks as accuracy does) and accuracy on the
*whole* labelled validation half (for the report only: nothing fed back reads it);
``realism_task_spearman_on_labels``: the same over the run's own steps, against accuracy on its N labels.
Every run's budget is ``--train-samples`` sample visits
(3,000,000 by default: the main job's); the fine-tuning's own visits are reported beside it.
Prints one JSON line last: ``rows`` of ``{labels, setting, test_acc, test_acc_std, per_seed}``,
``realism_task_spearman``, ``wall_seconds``.

    python bench/labels.py --labels 0,10,50,all --seeds 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_result  # noqa: E402

from feedback_loop.config import load_config  # noqa: E402
from feedback_loop.loop import LoopRunner, resume_loop  # noqa: E402
from feedback_loop.ledger import read_history  # noqa: E402


def pareto_search(budget: int) -> list[str]:
    """``loop_pareto``: a TPE search over (task score, realism) on top of the PBT example, shaped as
    examples/digits.yaml at this budget: candidates at budget/300 samples x 5 epochs (2,000 at 600,000),
    3 re-scored with 2 fresh seeds (1 below 300,000 visits), and half the budget for the delivered model
    on fresh data every epoch."""
    return ["policy.name=optuna", "policy.options={}", "objective.score=pareto",
            f"learner.samples={max(20, budget // 300)}", "learner.epochs=5",
            f"selection.candidates={3 if budget >= 300_000 else 1}", "selection.seeds=2",
            f"final.samples={budget // 30}", "final.epochs=15", "final.fresh_epochs=true"]


def settings(n: int, unlabeled: bool, budget: int = 3_000_000) -> dict[str, list[str]]:
    """The runs at N labels: each a list of config overrides on top of the PBT example. Realism needs
    unlabeled real inputs: with every label kept (N = all) there are none, so only the task score runs."""
    uniform = (["policy.name=uniform", "policy.options={persistent: true}"] if n > 0 else  # one model, 15 epochs:
               ["policy.name=uniform", "policy.options={}", "objective.score=realism", "final.epochs=15"])
    out = {"uniform": uniform}
    if unlabeled:
        out["loop_realism"] = ["objective.score=realism"]
    if n >= 10:
        out["loop_task"] = ["objective.score=task"]
        if unlabeled:
            out["loop_both"] = ["objective.score=both"]
            out["loop_pareto"] = pareto_search(budget)
    return out


def real_only(prepared, seed: int) -> float:
    """The CNN trained from scratch on the N labels, epochs by CV inside them; its test accuracy.

    The fine-tuning grid without 0 (an untrained network is no real-only model), and a tie goes to the
    longest: with one label per class (N = 10) every held-out digit's class is missing from its folds'
    training samples, the CV scores are all equal, and the shortest would train one step."""
    import torch

    from feedback_loop.delivery import LoadedModel
    from feedback_loop.finetune import choose_epochs
    from feedback_loop.learners import build_model
    from feedback_loop.learners.training import TrainSettings, evaluate, to_tensors, train_epochs

    learner, task, real = prepared.config.learner, prepared.task, prepared.real
    torch.manual_seed(seed)
    fresh = LoadedModel(build_model(learner.model, prepared.input_shape, task.outputs(), learner.hidden),
                        learner.input_scale, {}, task)
    train = TrainSettings.of(learner)
    _, means, _ = choose_epochs(fresh, real.x_val, real.y_val, train, task, seed)
    sign = 1.0 if task.direction == "maximize" else -1.0
    trained = {int(e): sign * m for e, m in means.items() if int(e) > 0}
    epochs = max(e for e, m in trained.items() if m == max(trained.values()))
    model = fresh.module
    xt, yt = to_tensors(real.x_val, real.y_val, torch.device("cpu"), train.input_scale, task)
    if epochs:
        train_epochs(model, xt, yt, TrainSettings(epochs, train.batch_size, train.lr, train.weight_decay,
                                                  train.input_scale), torch.Generator().manual_seed(seed), task=task)
    test = to_tensors(real.x_test, real.y_test, torch.device("cpu"), train.input_scale, task)
    return evaluate(model, *test, task)[task.score]


def candidates_vs_all_labels(args, n: int, seed: int, run_dir: Path, count: int = 20) -> tuple[list[float], list[float]]:
    """(-realism, accuracy on the *whole* labelled validation half) of up to ``count`` distinct parameter
    settings the realism-fed run at N labels tried (evenly spaced over its history), each trained as a
    fresh CNN on 2,000 samples x 5 epochs: a member's state at each step is not kept, so the candidate's
    *data* is what is measured. Realism is the run's own (distance and features, to the same unlabeled
    inputs); the accuracy reads every validation label, for this report only."""
    import json

    from feedback_loop.envs.generation import generate_batch
    from feedback_loop.learners import TaskLearner
    from feedback_loop.preflight import prepare_run

    overrides = [f"seed={seed}", f"objective.realism={args.realism}", f"objective.features={args.features}", *args.set]
    split = prepare_run(load_config(args.config, [*overrides, f"data.labels={n}", "objective.score=realism"]))
    labelled = prepare_run(load_config(args.config, [*overrides, "data.labels=null"])).real  # every label
    objective = {"score": "pareto", "realism": args.realism, "features": args.features}
    learner = TaskLearner({**split.config.learner.__dict__, "objective": objective}, split.input_shape, split.task,
                          real=(labelled.x_val, labelled.y_val, None, None, split.real.unlabeled()))
    seen, settings_tried = set(), []
    for entry in read_history(run_dir):
        key = json.dumps([entry["params"], entry.get("ranges")], sort_keys=True, default=str)
        if entry["status"] == "ok" and key not in seen:
            seen.add(key)
            settings_tried.append(entry)
    picked = [settings_tried[round(i)] for i in np.linspace(0, len(settings_tried) - 1, min(count, len(settings_tried)))]
    minus_realism, accuracy = [], []
    for i, entry in enumerate(picked):
        x, y = generate_batch(split.env, entry["params"], 2000, seed=10_000 + i, ranges=entry.get("ranges"))
        outcome = learner.evaluate(x, y, epochs=5)
        minus_realism.append(-outcome.metrics["realism"])
        accuracy.append(outcome.metrics[f"val_{split.task.score}"])
    return minus_realism, accuracy


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    return None if len(a) < 3 else float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="examples/digits_pbt.yaml")
    ap.add_argument("--labels", default="0,10,50,all", help="comma-separated N (all: every validation label)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-samples", type=int, default=3_000_000, help="sample visits per run")
    ap.add_argument("--realism", default="mmd", choices=["mmd", "c2st"])
    ap.add_argument("--features", default="learner", help="objective.features: raw, learner or module:function")
    ap.add_argument("--weight", type=float, default=1.0, help="objective.weight of loop_both")
    ap.add_argument("--run-dir", default="runs/bench-labels")
    ap.add_argument("--tracking-uri", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for every run")
    ap.add_argument("--only", default="", help="comma-separated settings to run (default: all of them)")
    args = ap.parse_args()
    started = time.monotonic()
    labels = [None if n == "all" else int(n) for n in args.labels.split(",")]
    per_seed: dict[tuple[str, str], list[float | None]] = {}
    realism_at = max((n for n in labels if n is not None), default=None)  # the largest N with unlabeled inputs
    realism_vs_task: tuple[list[float], list[float]] = ([], [])  # the candidates retrained, every validation label
    on_labels: tuple[list[float], list[float]] = ([], [])  # the run's own steps, its N labels
    for n in labels:
        name = "all" if n is None else str(n)
        for seed in range(args.seeds):
            for setting, extra in settings(10**9 if n is None else n, unlabeled=n is not None,
                                           budget=args.train_samples).items():
                if args.only and setting not in args.only.split(","):
                    continue
                common = [f"seed={seed}", f"policy.seed={seed}", f"data.labels={'null' if n is None else n}",
                          "budget.evaluations=null", f"budget.train_samples={args.train_samples}",
                          f"objective.realism={args.realism}", f"objective.features={args.features}",
                          f"objective.weight={args.weight}", f"final.finetune={'true' if n is None or n >= 2 else 'false'}",
                          *args.set, *extra, f"name=labels-{name}-{setting}-{seed}"]  # the setting's own last
                config = load_config(args.config, common)
                run_dir = Path(args.run_dir) / f"{name}-{setting}-seed{seed}"
                if (run_dir / "checkpoint.json").is_file():  # finished: its summary; stopped: resumed
                    summary = resume_loop(run_dir, progress=False)
                else:
                    summary = LoopRunner(config, run_dir, tracking_uri=args.tracking_uri).run(progress=False)
                per_seed.setdefault((name, setting), []).append(summary.get("delivered_test_score"))
                if config.final.finetune:
                    per_seed.setdefault((name, setting + "+ft"), []).append(summary.get("finetuned_test_score"))
                if setting == "loop_realism" and n == realism_at:
                    for h in read_history(run_dir):
                        if h.get("realism") is not None and h.get("task_score") is not None:
                            on_labels[0].append(-h["realism"])  # so that agreement is positive
                            on_labels[1].append(h["task_score"])
                    for side, values in zip(realism_vs_task, candidates_vs_all_labels(args, n, seed, run_dir)):
                        side.extend(values)
            if (n is None or n >= 2) and (not args.only or "real_only" in args.only.split(",")):
                from feedback_loop.preflight import prepare_run

                prepared = prepare_run(load_config(args.config, [f"seed={seed}", f"data.labels={'null' if n is None else n}",
                                                                 *args.set]))
                per_seed.setdefault((name, "real_only"), []).append(real_only(prepared, seed))
    rows = []
    for (name, setting), values in per_seed.items():
        scores = [v for v in values if v is not None]
        rows.append({"labels": name, "setting": setting, "test_acc": float(np.mean(scores)) if scores else None,
                     "test_acc_std": float(np.std(scores)) if scores else None,
                     "per_seed": [None if v is None else round(v, 4) for v in values]})
    print_result({"train_samples_per_run": args.train_samples, "rows": rows,
                  # between -realism (higher: more realistic) and accuracy: positive where realism ranks as accuracy does
                  "realism_task_spearman": spearman(*realism_vs_task),
                  "realism_task_spearman_points": len(realism_vs_task[0]),
                  # over the realism run's own steps, against accuracy on its N labels only
                  "realism_task_spearman_on_labels": spearman(*on_labels),
                  "wall_seconds": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
