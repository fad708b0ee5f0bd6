"""Render throughput of feedback_loop/Digits-v0 batch rendering, on one CPU thread and on all cores.

Prints progress lines, then one JSON line LAST:
{"samples_per_second_1_thread": ..., "samples_per_second_all_cores": ..., "cores": ...,
 "batch_size": 4096, "target_1_thread": 20000, "meets_target": ...}

Usage: python bench/render_throughput.py [--batch-size 4096] [--repeats 5] [--params nominal|uniform]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from feedback_loop.envs.digits import DigitsEnv, uniform_params

TARGET_1_THREAD = 20000


def measure(env: DigitsEnv, params, batch_size: int, repeats: int, threads: int) -> float:
    torch.set_num_threads(threads)
    env.sample_batch(params, batch_size, seed=12345)  # warm-up
    best = float("inf")
    for r in range(repeats):
        t0 = time.perf_counter()
        env.sample_batch(params, batch_size, seed=r)
        best = min(best, time.perf_counter() - t0)
    return batch_size / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--params", choices=("nominal", "uniform"), default="nominal",
                    help="nominal parameters, or per-sample parameters uniform over param_space")
    args = ap.parse_args()

    env = DigitsEnv()
    params = (env.nominal_params if args.params == "nominal"
              else uniform_params(env.param_space, args.batch_size, np.random.default_rng(0)))
    cores = os.cpu_count() or 1
    one = measure(env, params, args.batch_size, args.repeats, threads=1)
    print(f"1 thread: {one:,.0f} samples/s", flush=True)
    allc = measure(env, params, args.batch_size, args.repeats, threads=cores)
    print(f"{cores} threads: {allc:,.0f} samples/s", flush=True)
    print(json.dumps({
        "samples_per_second_1_thread": round(one, 1),
        "samples_per_second_all_cores": round(allc, 1),
        "cores": cores,
        "batch_size": args.batch_size,
        "params": args.params,
        "target_1_thread": TARGET_1_THREAD,
        "meets_target": bool(one >= TARGET_1_THREAD),
    }))


if __name__ == "__main__":
    main()
