"""Does a SimGAN refiner help on real digits? Real *test* accuracy of the CNN trained on unrefined vs
refined synthetic digits, at the nominal parameters and (with ``--best-params``) at a loop run's best.

Per setting and seed: generate ``--samples`` digits (data seed as in ``final_eval``), fit a
``SimGANRefiner`` on them and on the real *validation* half without its labels, refine them, and
train the same CNN (``examples/digits.yaml`` learner settings) on the unrefined and on the refined
digits; both are scored on the real *test* half, which is used for nothing else. Writes the image
grid (synthetic vs refined vs real validation digits, nominal parameters, first seed) to ``--grid``.
Prints one JSON line last.

    python bench/refiner_effect.py --best-params runs/bench-digits-efficacy-40/summary.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import ray
import torch

from feedback_loop.config import LearnerConfig
from feedback_loop.envs.digits import DigitsEnv
from feedback_loop.envs.generation import generate_batch
from feedback_loop.final_eval import mean_std, train_and_test
from feedback_loop.refiners import SimGANConfig, SimGANRefiner
from feedback_loop.refiners.grid import refinement_grid

DATA_SEED_OFFSET = 7_000_000  # as final_eval.synthetic_accuracy: fresh data, not the loop's


@ray.remote(num_cpus=1)
def refiner_trial(params: dict | None, ranges: dict | None, learner: dict, refiner: dict, seed: int,
                  keep_grid: bool) -> dict:
    torch.set_num_threads(1)
    started = time.perf_counter()
    env = DigitsEnv()
    real = env.real_data()
    config = LearnerConfig(**learner)
    x, y = generate_batch(env, params, config.samples, seed + DATA_SEED_OFFSET, ranges)
    model = SimGANRefiner(SimGANConfig(**{**refiner, "seed": seed}))
    fit_start = time.perf_counter()
    model.fit(x, real.x_val)  # the validation half's images only: its labels are never used here
    fit_seconds = time.perf_counter() - fit_start
    refined = model.refine(x)
    out = {
        "unrefined": train_and_test(x, y, real.x_test, real.y_test, config, env.num_classes, seed),
        "refined": train_and_test(refined, y, real.x_test, real.y_test, config, env.num_classes, seed),
        "realism_synthetic": float(model.realism(x).mean()),
        "realism_refined": float(model.realism(refined).mean()),
        "realism_real_test": float(model.realism(real.x_test).mean()),
        "refine_l1": float(np.abs(refined - x).mean()),
        "fit_seconds": fit_seconds,
        "seconds": time.perf_counter() - started,
    }
    if keep_grid:  # two of every digit, in label order
        order = np.concatenate([np.flatnonzero(y == d)[:2] for d in range(10)]).reshape(10, 2).T.ravel()
        out["grid"] = (x[order], refined[order])
    return out


def load_best(path: str) -> tuple[dict | None, dict | None]:
    summary = json.loads(Path(path).read_text())
    if "best_params" not in summary:
        raise SystemExit(f"{path}: no 'best_params' (give a summary.json of a loop run)")
    return summary["best_params"], summary.get("best_ranges")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--best-params", default=None, metavar="FILE",
                        help="summary.json of a loop run (best_params / best_ranges); default: nominal only")
    parser.add_argument("--seeds", type=int, default=3, help="learner/refiner/data seeds per setting")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--refiner-steps", type=int, default=None, help="adversarial rounds (default: SimGANConfig.steps)")
    parser.add_argument("--refiner-options", default="{}", help="JSON of SimGANConfig fields, e.g. '{\"lambda_reg\": 2}'")
    parser.add_argument("--workers", type=int, default=2, help="parallel trials (one CPU each)")
    parser.add_argument("--grid", default="docs/refiner_grid.png", help="image grid PNG ('' to skip)")
    args = parser.parse_args()

    started = time.monotonic()
    learner = dict(model="cnn", samples=args.samples, epochs=args.epochs, batch_size=128, lr=1e-3, input_scale=0.0625)
    refiner = json.loads(args.refiner_options)
    if args.refiner_steps is not None:
        refiner["steps"] = args.refiner_steps
    refiner_config = SimGANConfig.from_dict(refiner)  # fail here on a bad option, not in a worker
    settings = {"nominal": (None, None)}
    if args.best_params:
        settings["best"] = load_best(args.best_params)
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    seeds = [1000 + k for k in range(args.seeds)]
    refs = {name: [refiner_trial.remote(p, r, learner, refiner, s, name == "nominal" and k == 0)
                   for k, s in enumerate(seeds)] for name, (p, r) in settings.items()}
    trials = {name: ray.get(r) for name, r in refs.items()}

    result: dict = {"seeds": args.seeds, "samples": args.samples, "epochs": args.epochs,
                    "refiner": {k: v for k, v in vars(refiner_config).items() if k != "seed"}}  # seed: each trial's
    for name, runs in trials.items():
        for key in ("unrefined", "refined"):
            mean, std = mean_std([t[key] for t in runs])
            result[f"{name}_{key}_test_acc"] = round(mean, 4)
            result[f"{name}_{key}_test_acc_std"] = round(std, 4)
            result[f"{name}_{key}_test_acc_per_seed"] = [round(t[key], 4) for t in runs]
        result[f"{name}_refined_minus_unrefined"] = round(result[f"{name}_refined_test_acc"]
                                                          - result[f"{name}_unrefined_test_acc"], 4)
        for key in ("realism_synthetic", "realism_refined", "realism_real_test", "refine_l1", "fit_seconds"):
            result[f"{name}_{key}"] = round(float(np.mean([t[key] for t in runs])), 4)
    if args.grid:
        synthetic, refined = trials["nominal"][0]["grid"]
        real = DigitsEnv().real_data()
        order = np.concatenate([np.flatnonzero(real.y_val == d)[:2] for d in range(10)]).reshape(10, 2).T.ravel()
        refinement_grid(synthetic, refined, real.x_val[order], args.grid,
                        title="SimGAN on Digits-v0, nominal parameters")
        result["grid"] = args.grid
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
