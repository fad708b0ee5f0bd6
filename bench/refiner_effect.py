"""Does a SimGAN refiner help on real digits? Real *test* accuracy of the CNN trained on unrefined vs
refined synthetic digits, at the nominal parameters and (with ``--best-params``) at a loop run's best.

Per setting and seed: generate ``--samples`` digits (data seed as in ``final_eval``), fit a
``SimGANRefiner`` on them and on the real *validation* half without its labels, refine them, and
train the same CNN (``examples/digits.yaml`` learner settings) on the unrefined and on the refined
digits; both are scored on the real *test* half, which is used for nothing else. Writes the image
grid (synthetic vs refined vs real validation digits, the first setting and seed) to ``--grid``.
Prints one JSON line last.

``--domain`` says where the refiner works:
- ``counts`` (default): on the 8×8 block counts the learner sees — it edits the very counts that
  carry the class;
- ``bitmap``: on the 32×32 binary bitmap before the block count (``DigitsEnv(output="bitmap32")``),
  binarized with straight-through gradients, its discriminator judging the bitmap's 8×8 block counts
  against the real ones (``SimGANConfig.pool`` = 4): realism is learned where the pen's marks are,
  and the learner still gets exact optdigits counts of a binary bitmap.
Both arms train the same learner on the same number of samples × epochs; the refiner's own fitting
time is reported beside (``fit_seconds``). ``--uniform`` adds uniform DR over the physical bounds.

    python bench/refiner_effect.py --best-params runs/bench-digits-efficacy-40/summary.json
    python bench/refiner_effect.py --domain bitmap --uniform --seeds 3 --samples 20000 --epochs 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import ray
import torch

from feedback_loop import seeds
from feedback_loop.config import LearnerConfig
from feedback_loop.envs.digits import DigitsEnv
from feedback_loop.envs.generation import generate_batch
from feedback_loop.final_eval import mean_std, train_and_test
from feedback_loop.policies import UniformDR
from feedback_loop.refiners import SimGANConfig, SimGANRefiner
from feedback_loop.refiners.grid import refinement_grid

DATA_SEED_OFFSET = seeds.BENCH_DATA_OFFSET  # as final_eval.synthetic_accuracy: fresh data, not the loop's
# refining the bitmap: binary in and out, judged as the block counts (0..16) real digits exist as
BITMAP_REFINER = {"pool": 4, "binarize": True, "input_scale": 1.0, "real_input_scale": 1 / 16}


def block_counts(bitmaps: np.ndarray) -> np.ndarray:
    """(N, 1, 32, 32) binary bitmaps -> (N, 1, 8, 8) optdigits counts (sums of 4×4 blocks)."""
    n = len(bitmaps)
    return bitmaps.reshape(n, 1, 8, 4, 8, 4).sum(axis=(3, 5)).astype(np.float32)


@ray.remote(num_cpus=1)
def refiner_trial(params: dict | None, ranges: dict | None, learner: dict, refiner: dict, seed: int,
                  keep_grid: bool, domain: str = "counts") -> dict:
    torch.set_num_threads(1)
    started = time.perf_counter()
    env = DigitsEnv(output="bitmap32" if domain == "bitmap" else "optdigits")
    real = env.real_data()
    config = LearnerConfig(**learner)
    raw, y = generate_batch(env, params, config.samples, seed + DATA_SEED_OFFSET, ranges)
    model = SimGANRefiner(SimGANConfig(**{**refiner, "seed": seed}))
    fit_start = time.perf_counter()
    model.fit(raw, real.x_val)  # the validation half's images only: its labels are never used here
    fit_seconds = time.perf_counter() - fit_start
    refined_raw = model.refine(raw)
    # the learner always sees optdigits counts: of the (refined) bitmap when the refiner edits bitmaps
    x, refined = (block_counts(raw), block_counts(refined_raw)) if domain == "bitmap" else (raw, refined_raw)
    out = {
        "unrefined": train_and_test(x, y, real.x_test, real.y_test, config, env.num_classes, seed),
        "refined": train_and_test(refined, y, real.x_test, real.y_test, config, env.num_classes, seed),
        "realism_synthetic": float(model.realism(raw).mean()),
        "realism_refined": float(model.realism(refined_raw).mean()),
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
    parser.add_argument("--uniform", action="store_true", help="also refine uniform-DR data (the physical bounds)")
    parser.add_argument("--domain", choices=("counts", "bitmap"), default="counts",
                        help="what the refiner edits: the 8x8 counts, or the 32x32 bitmap before the count")
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
    refiner = {**(BITMAP_REFINER if args.domain == "bitmap" else {}), **json.loads(args.refiner_options)}
    if args.refiner_steps is not None:
        refiner["steps"] = args.refiner_steps
    refiner_config = SimGANConfig.from_dict(refiner)  # fail here on a bad option, not in a worker
    settings = {"nominal": (None, None)}
    if args.uniform:
        env = DigitsEnv()
        uniform = UniformDR(param_space=env.param_space, nominal_params=env.nominal_params, seed=0,
                            range_params=env.ranges).ask(1)[0]
        settings["uniform"] = (uniform.params, uniform.ranges)
    if args.best_params:
        settings["best"] = load_best(args.best_params)
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=args.workers, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    seeds = [1000 + k for k in range(args.seeds)]
    first = next(iter(settings))
    refs = {name: [refiner_trial.remote(p, r, learner, refiner, s, name == first and k == 0, args.domain)
                   for k, s in enumerate(seeds)] for name, (p, r) in settings.items()}
    trials = {name: ray.get(r) for name, r in refs.items()}

    result: dict = {"seeds": args.seeds, "samples": args.samples, "epochs": args.epochs, "domain": args.domain,
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
        synthetic, refined = trials[first][0]["grid"]
        real = DigitsEnv().real_data()
        order = np.concatenate([np.flatnonzero(real.y_val == d)[:2] for d in range(10)]).reshape(10, 2).T.ravel()
        refinement_grid(synthetic, refined, real.x_val[order], args.grid,
                        title=f"SimGAN on the {args.domain} of Digits-v0, {first} parameters")
        result["grid"] = args.grid
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
