"""Pipelining: how long learners wait for data, and how generation scales with generator actors.

1. ``learner_idle_fraction``: one loop run (Optuna TPE, MLflow logging and checkpoints on). Each
   LearnerActor records the wall-clock start and end of every evaluation; a gap between one
   evaluation's end and the next one's start on the same learner is time it waited for its data
   (Ray resolves the shard refs before the method runs) or for the driver to hand it work. Idle
   fraction = sum of gaps / (gaps + busy time), over the learners, from each one's first evaluation
   to its last. The gaps are split by whether the next evaluation had already been submitted when
   the previous one ended (``idle_fraction_queued``: waiting on data or dispatch) or not
   (``idle_fraction_driver``: the driver had not yet handed it work).
2. ``gen_samples_per_s_1`` / ``_2``: Digits-v0 rendering with 1 and 2 GeneratorActors
   (1 CPU and 1 torch thread each), ``--shards`` shards of ``--shard-size`` samples issued at once,
   round-robin; ``scaling_2x`` = throughput with 2 / with 1.

Prints progress lines, then one JSON line LAST.
Usage: python bench/pipeline.py [--simulator gaussian|digits] [--evaluations N] [--samples N]
       [--epochs N] [--shards N] [--shard-size N] [--skip-idle] [--skip-scaling]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_common_args, create_mlflow_tables, make_config, print_result, start_ray, temp_workspace  # noqa: E402


def measure_idle(args) -> dict:
    from feedback_loop.executors.ray_pool import RayExecutor
    from feedback_loop.loop import LoopRunner

    class InstrumentedExecutor(RayExecutor):
        """Records when each job was handed to its learner, and the learners' spans."""

        submitted: dict[int, float] = {}

        def submit(self, job):
            self.submitted[job.candidate.id] = time.time()
            super().submit(job)

        def close(self):
            self.seen_spans = self.spans()
            super().close()

    root, uri = temp_workspace("bench-pipeline")
    create_mlflow_tables(uri)
    runner = LoopRunner(make_config(args, name="bench-pipeline", tracking_uri=uri), root / "run",
                        tracking_uri=uri, executor=InstrumentedExecutor, final_scores=False)
    summary = runner.run(progress=False)
    executor = runner.executor
    idle = busy = queued_idle = driver_idle = 0.0
    gaps = []
    for spans in executor.seen_spans:
        spans = sorted((s for s in spans if s[0] >= 0), key=lambda s: s[1])  # loop evaluations only
        for _, start, end in spans:
            busy += end - start
        for (_, _, prev_end), (cid, start, _) in zip(spans, spans[1:]):
            gap = max(0.0, start - prev_end)
            gaps.append(gap)
            idle += gap
            if executor.submitted.get(cid, 0.0) <= prev_end:
                queued_idle += gap
            else:
                driver_idle += gap
    total = idle + busy
    gaps.sort()
    return {
        "learner_idle_fraction": idle / total if total else None,
        "idle_fraction_queued": queued_idle / total if total else None,
        "idle_fraction_driver": driver_idle / total if total else None,
        "median_gap_ms": 1000 * gaps[len(gaps) // 2] if gaps else None,
        "mean_evaluation_seconds": busy / max(1, summary["evaluations"]),
        "idle_evaluations": summary["evaluations"],
        "idle_loop_seconds": summary["wall_seconds"],
    }


def measure_generation(generators: int, shards: int, shard_size: int) -> float:
    import ray

    from feedback_loop.actors import GeneratorActor

    actors = [GeneratorActor.options(num_cpus=1).remote("feedback_loop/Digits-v0", {}, 1) for _ in range(generators)]
    try:
        nominal = None  # nominal parameters
        ray.get([a.generate.remote(nominal, None, 256, 10_000 + i) for i, a in enumerate(actors)])  # warm-up
        start = time.perf_counter()
        refs = [actors[i % generators].generate.remote(nominal, None, shard_size, i) for i in range(shards)]
        ray.wait(refs, num_returns=len(refs), fetch_local=False)
        seconds = time.perf_counter() - start
        del refs
        return shards * shard_size / seconds
    finally:
        for actor in actors:
            ray.kill(actor)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_common_args(ap, evaluations=60, samples=1000, epochs=20)
    ap.add_argument("--shards", type=int, default=16, help="shards issued at once in the generation test")
    ap.add_argument("--shard-size", type=int, default=4096, help="Digits samples per shard")
    ap.add_argument("--skip-idle", action="store_true", help="only the generation scaling test")
    ap.add_argument("--skip-scaling", action="store_true", help="only the learner idle test")
    args = ap.parse_args()

    result: dict = {}
    result["ray_startup_seconds"] = start_ray()
    if not args.skip_idle:
        idle = measure_idle(args)
        print(f"learner idle fraction {idle['learner_idle_fraction']:.3f} (queued {idle['idle_fraction_queued']:.3f}, "
              f"driver {idle['idle_fraction_driver']:.3f}); evaluation {idle['mean_evaluation_seconds']:.2f} s", flush=True)
        result.update(idle)
        result.update(simulator=args.simulator, samples=args.samples, epochs=args.epochs, learners=args.learners)
    if not args.skip_scaling:
        one = measure_generation(1, args.shards, args.shard_size)
        print(f"1 generator: {one:,.0f} samples/s", flush=True)
        two = measure_generation(2, args.shards, args.shard_size)
        print(f"2 generators: {two:,.0f} samples/s", flush=True)
        result.update(gen_samples_per_s_1=one, gen_samples_per_s_2=two, scaling_2x=two / one,
                      gen_shards=args.shards, gen_shard_size=args.shard_size)
    result["targets"] = {"learner_idle_fraction": "<= 0.10", "scaling_2x": ">= 1.7"}
    print_result(result)


if __name__ == "__main__":
    main()
