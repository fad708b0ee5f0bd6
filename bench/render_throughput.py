"""Render throughput of feedback_loop/Digits-v0 batch rendering, on one CPU thread and on all cores.

Prints progress lines, then one JSON line LAST:
{"samples_per_second_1_thread": ..., "samples_per_second_all_cores": ..., "cores": ...,
 "batch_size": 4096, "target_1_thread": 20000, "meets_target": ...}

``--sim gaze`` measures feedback_loop/Gaze-v0 (36x60 eye patches) instead, and the digits' renderer
beside it in the same run (the same parameters choice, interleaved repeats), adding
"digits_samples_per_second_1_thread" and "ratio_to_digits_1_thread" (gaze / digits) to the JSON line;
its target is 10,000 samples/s on one thread.

Usage: python bench/render_throughput.py [--batch-size 4096] [--repeats 5] [--params nominal|uniform]
                                         [--sim digits|gaze]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from feedback_loop.envs.digits import DigitsEnv, uniform_params

TARGET_1_THREAD = {"digits": 20000, "gaze": 10000}


def measure(env, params, batch_size: int, repeats: int, threads: int, beside=None) -> float | tuple[float, float]:
    """Best-of-``repeats`` samples/s; with ``beside`` = (env, params), both, repeats interleaved so that
    a busy machine slows both alike."""
    torch.set_num_threads(threads)
    pairs = [(env, params)] + ([beside] if beside else [])
    best = [float("inf")] * len(pairs)
    for e, p in pairs:
        e.sample_batch(p, batch_size, seed=12345)  # warm-up
    for r in range(repeats):
        for i, (e, p) in enumerate(pairs):
            t0 = time.perf_counter()
            e.sample_batch(p, batch_size, seed=r)
            best[i] = min(best[i], time.perf_counter() - t0)
    rates = [batch_size / b for b in best]
    return (rates[0], rates[1]) if beside else rates[0]


def params_for(env, which: str, batch_size: int):
    return (env.nominal_params if which == "nominal"
            else uniform_params(env.param_space, batch_size, np.random.default_rng(0)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--params", choices=("nominal", "uniform"), default="nominal",
                    help="nominal parameters, or per-sample parameters uniform over param_space")
    ap.add_argument("--sim", choices=("digits", "gaze"), default="digits",
                    help="the simulator to measure; gaze also measures the digits beside it")
    args = ap.parse_args()

    digits = DigitsEnv()
    cores = os.cpu_count() or 1
    extra = {}
    if args.sim == "gaze":
        from feedback_loop.envs.gaze import GazeEnv

        env = GazeEnv()
        params = params_for(env, args.params, args.batch_size)
        beside = (digits, params_for(digits, args.params, args.batch_size))
        one, digits_one = measure(env, params, args.batch_size, args.repeats, threads=1, beside=beside)
        print(f"1 thread: gaze {one:,.0f} samples/s, digits {digits_one:,.0f} samples/s", flush=True)
        extra = {"sim": "gaze", "digits_samples_per_second_1_thread": round(digits_one, 1),
                 "ratio_to_digits_1_thread": round(one / digits_one, 3)}
    else:
        env, params = digits, params_for(digits, args.params, args.batch_size)
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
        "target_1_thread": TARGET_1_THREAD[args.sim],
        "meets_target": bool(one >= TARGET_1_THREAD[args.sim]),
        **extra,
    }))


if __name__ == "__main__":
    main()
