"""Overhead of the loop against a plain in-process Python loop, at equal CPU count.

Both sides run the same number of evaluations of the same simulator and learner with the same
policy (Optuna TPE, same seed, a journal file like the loop's), and each evaluation does the same
work: the same ``Job`` (data at the candidate's parameters and data seed, a fresh model trained by
``TaskLearner`` and scored on the real validation set), in-process through ``InProcessExecutor``.

- in-process: one sequential loop in this process, no Ray, no MLflow, no checkpoints, with
  ``torch.set_num_threads(T)`` where T = the torch threads the loop's learners get in total
  (learners × max(1, round(learner_cpus)) = 2 by default), so both sides use the same cores.
- loop: ``LoopRunner.run`` with its generator and learner actors, MLflow child runs and a
  checkpoint after every outcome. ``loop_seconds`` runs from the call of ``run`` to the last
  outcome, so it includes starting the actors (``actor_startup_seconds``, up to the first
  evaluation starting on a learner), the parent MLflow run and every checkpoint; the final
  test/oracle retraining that only the loop does is switched off (``final_scores=False``). Starting Ray itself is a
  once-per-cluster cost, excluded from ``loop_seconds`` and reported as ``ray_startup_seconds``
  (``ratio_with_ray_startup`` charges it to the loop as well). Creating the SQLite store's tables is
  done before either side and reported as ``mlflow_tables_seconds``.

``ratio`` = in-process seconds / loop seconds (> 1: the loop is faster). Prints progress lines,
then one JSON line LAST.
Usage: python bench/overhead.py [--evaluations 40] [--samples 1000] [--epochs 20]
       [--simulator gaussian|digits] [--learners 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    add_common_args, create_mlflow_tables, in_process_executor, make_config, print_result, start_ray, temp_workspace,
)


def run_inprocess(config, root: Path, threads: int) -> tuple[float, float]:
    import torch

    from feedback_loop.policies import make_policy
    from feedback_loop.types import Fidelity, Job

    torch.set_num_threads(threads)
    start = time.perf_counter()
    executor = in_process_executor(config)
    policy = make_policy("optuna", param_space=executor.env.param_space, nominal_params=executor.env.nominal_params,
                         seed=config.policy.seed, sampler=config.policy.sampler,
                         storage_path=str(root / "inprocess.journal"))
    fidelity = Fidelity(config.learner.samples, config.learner.epochs)
    best = float("-inf")
    for _ in range(config.budget.evaluations):
        (candidate,) = policy.ask(1)
        outcome = executor.run(Job(candidate, fidelity, seed_id=candidate.id)).outcome
        policy.tell(candidate, outcome)
        best = max(best, outcome.score)
    return time.perf_counter() - start, best


def run_loop(config, root: Path, uri: str) -> dict:
    from feedback_loop.executors.ray_pool import RayExecutor
    from feedback_loop.loop import LoopRunner

    class SpannedExecutor(RayExecutor):
        def close(self):  # the learners' spans, read before the actors go
            self.seen_spans = self.spans()
            super().close()

    marks: dict[str, float] = {}
    # final_scores=False: only the loop would retrain best and oracle, so it is not charged here
    runner = LoopRunner(config, root / "run", tracking_uri=uri, executor=SpannedExecutor, final_scores=False)
    start = time.perf_counter()
    wall_start = time.time()
    summary = runner.run(progress=False, on_outcome=lambda c, o: marks.__setitem__("last", time.perf_counter()))
    total = time.perf_counter() - start
    first_start = min(s[1] for spans in runner.executor.seen_spans for s in spans)
    return {"loop_seconds": marks["last"] - start, "loop_run_total_seconds": total,
            "actor_startup_seconds": first_start - wall_start, "loop_best": summary["best_score"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_common_args(ap, evaluations=40, samples=1000, epochs=20)
    ap.add_argument("--learner-cpus", type=float, default=0.75, help="CPUs per learner actor")
    ap.add_argument("--generator-cpus", type=float, default=0.5, help="CPUs of the generator actor")
    args = ap.parse_args()

    root, uri = temp_workspace("bench-overhead")
    tables = create_mlflow_tables(uri)
    ray_startup = start_ray()
    config = make_config(args, name="bench-overhead", tracking_uri=uri,
                         learner_cpus=args.learner_cpus, generator_cpus=args.generator_cpus)
    threads = args.learners * max(1, int(round(args.learner_cpus)))

    inprocess, inprocess_best = run_inprocess(config, root, threads)
    print(f"in-process ({threads} torch threads): {inprocess:.1f} s", flush=True)
    loop = run_loop(config, root, uri)
    print(f"loop ({args.learners} learners): {loop['loop_seconds']:.1f} s "
          f"(actor start-up {loop['actor_startup_seconds']:.1f} s)", flush=True)
    print_result({
        "ratio": inprocess / loop["loop_seconds"],
        "ratio_with_ray_startup": inprocess / (loop["loop_seconds"] + ray_startup),
        "loop_seconds": loop["loop_seconds"],
        "inprocess_seconds": inprocess,
        "ray_startup_seconds": ray_startup,
        "actor_startup_seconds": loop["actor_startup_seconds"],
        "loop_run_total_seconds": loop["loop_run_total_seconds"],
        "mlflow_tables_seconds": tables,
        "evaluations": args.evaluations,
        "seconds_per_evaluation": inprocess / args.evaluations,
        "loop_seconds_per_evaluation": loop["loop_seconds"] / args.evaluations,
        "inprocess_torch_threads": threads,
        "learners": args.learners,
        "simulator": args.simulator, "samples": args.samples, "epochs": args.epochs,
        "loop_best": loop["loop_best"], "inprocess_best": inprocess_best,
        "target_ratio": ">= 0.85",
    })


if __name__ == "__main__":
    main()
