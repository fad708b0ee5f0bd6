"""The same Optuna TPE search through feedback-loop and through Ray Tune (``Tuner`` + ``OptunaSearch``).

Both sides, in one process on one Ray instance (started once, excluded from both timings):
- the same simulator, learner, samples, epochs and real validation set, the same search space
  (a FloatDistribution per Box of the simulator's ``param_space``, a CategoricalDistribution per
  Discrete), TPE with the same seed (``constant_liar=True, multivariate=True``), the same budget of
  evaluations and the same concurrency (``--learners`` learner actors here, ``max_concurrent_trials``
  there), and MLflow logging to a SQLite store (our child runs; Tune's ``MLflowLoggerCallback``).
- ours: ``LoopRunner.run`` (actors started inside, a checkpoint after every outcome). Its final
  retraining of the best candidate and the oracle, which Tune does not do, is switched off.
  Resources: learners × ``--learner-cpus`` + one generator × ``--generator-cpus``.
- Tune: a function trainable, as a user would write it: make the simulator, generate the trial's
  batch, build and train the model, score it on the real validation set (passed once with
  ``tune.with_parameters``), ``tune.report``; each trial asks for ``--tune-trial-cpus`` CPUs and uses
  that many torch threads. Tune's defaults otherwise (``reuse_actors=False``; ``--tune-reuse-actors``
  turns actor reuse on).
  Note: our policy re-seeds TPE from (seed, number of trials) before each ask so that a resumed
  run asks what an uninterrupted one would; Tune's OptunaSearch keeps one seeded sampler. The
  searches are the same algorithm and seed, not bit-identical streams.

Fields: ``ours_seconds``, ``tune_seconds``, ``wall_ratio`` (ours / tune; target <= 0.5),
``ours_best``, ``tune_best`` (best validation score; target ours >= tune - 0.01).
Prints progress lines, then one JSON line LAST.
Usage: python bench/vs_tune.py [--evaluations 40] [--samples 1000] [--epochs 20] [--simulator gaussian|digits]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import add_common_args, create_mlflow_tables, make_config, print_result, start_ray, temp_workspace  # noqa: E402


def search_space(param_space) -> dict:
    from gymnasium import spaces
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    space = {}
    for name, sub in param_space.spaces.items():
        if isinstance(sub, spaces.Discrete):
            space[name] = CategoricalDistribution(list(range(int(sub.start), int(sub.start + sub.n))))
        else:
            space[name] = FloatDistribution(float(sub.low.reshape(-1)[0]), float(sub.high.reshape(-1)[0]))
    return space


def tune_trainable(config: dict, real=None, setup=None) -> None:
    """One evaluation, written as a Tune user would: everything inside the trial."""
    import torch
    from ray import tune

    from feedback_loop.envs.generation import generate_batch
    from feedback_loop.executors import data_seed
    from feedback_loop.learners import TaskLearner
    from feedback_loop.simulators import make_simulator

    torch.set_num_threads(setup["threads"])
    env = make_simulator(setup["sim_id"], {})
    learner = TaskLearner(setup["learner"], tuple(real[0].shape[1:]), setup["num_classes"], real=(*real, None, None))
    trial_seed = zlib.crc32(tune.get_context().get_trial_id().encode())
    x, y = generate_batch(env, config, setup["samples"], data_seed(setup["seed"], trial_seed, 0))
    outcome = learner.evaluate(x, y)
    tune.report({"score": outcome.score, "train_loss": outcome.train_loss, **outcome.metrics})


def run_tune(config, args, root: Path, uri: str, env, real) -> tuple[float, float]:
    import optuna
    from ray import tune
    from ray.air.integrations.mlflow import MLflowLoggerCallback
    from ray.tune.search.optuna import OptunaSearch

    lc = config.learner
    setup = {
        "sim_id": config.simulator.id, "samples": lc.samples, "seed": config.seed,
        "learner": dataclasses.asdict(lc), "num_classes": int(env.num_classes),
        "threads": max(1, int(round(args.tune_trial_cpus))),
    }
    sampler = optuna.samplers.TPESampler(seed=args.seed, constant_liar=True, multivariate=True)
    searcher = OptunaSearch(space=search_space(env.param_space), metric="score", mode="max", sampler=sampler)
    trainable = tune.with_resources(tune.with_parameters(tune_trainable, real=real, setup=setup),
                                    {"cpu": args.tune_trial_cpus})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=args.evaluations,
                                    max_concurrent_trials=args.learners, reuse_actors=args.tune_reuse_actors),
        run_config=tune.RunConfig(
            name="bench-tune", storage_path=str(root / "tune"), verbose=0,
            callbacks=[MLflowLoggerCallback(tracking_uri=uri, experiment_name="bench-tune", save_artifact=False)],
        ),
    )
    start = time.perf_counter()
    results = tuner.fit()
    seconds = time.perf_counter() - start
    best = results.get_best_result(metric="score", mode="max").metrics["score"]
    errors = len(results.errors)
    if errors:
        print(f"Tune: {errors} trials failed", flush=True)
    return seconds, float(best)


def run_ours(config, root: Path, uri: str) -> tuple[float, float]:
    from feedback_loop.loop import LoopRunner

    start = time.perf_counter()
    # final_scores=False: Tune does not retrain the best candidate and the oracle either
    summary = LoopRunner(config, root / "ours", tracking_uri=uri, final_scores=False).run(progress=False)
    return time.perf_counter() - start, float(summary["best_score"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_common_args(ap, evaluations=40, samples=1000, epochs=20)
    ap.add_argument("--learner-cpus", type=float, default=0.75, help="CPUs per learner actor (ours)")
    ap.add_argument("--generator-cpus", type=float, default=0.5, help="CPUs of our generator actor")
    ap.add_argument("--tune-trial-cpus", type=float, default=1.0, help="CPUs (and torch threads) per Tune trial")
    ap.add_argument("--tune-reuse-actors", action="store_true", help="TuneConfig(reuse_actors=True)")
    ap.add_argument("--tune-first", action="store_true", help="run Tune before ours (default: ours first)")
    args = ap.parse_args()

    from feedback_loop.simulators import checked_simulator, load_real_data

    root, uri = temp_workspace("bench-vs-tune")
    tables = create_mlflow_tables(uri)
    ray_startup = start_ray()
    config = make_config(args, name="bench-ours", tracking_uri=uri,
                         learner_cpus=args.learner_cpus, generator_cpus=args.generator_cpus)
    env = checked_simulator(config.simulator.id, config.simulator.kwargs)
    real = load_real_data(env, config.data.real)
    real = (real.x_val, real.y_val)

    order = ["tune", "ours"] if args.tune_first else ["ours", "tune"]
    results = {}
    for side in order:
        if side == "ours":
            results["ours"] = run_ours(config, root, uri)
        else:
            results["tune"] = run_tune(config, args, root, uri, env, real)
        print(f"{side}: {results[side][0]:.1f} s, best {results[side][1]:.4f}", flush=True)
    (ours_s, ours_best), (tune_s, tune_best) = results["ours"], results["tune"]
    print_result({
        "wall_ratio": ours_s / tune_s,
        "ours_seconds": ours_s, "tune_seconds": tune_s,
        "ours_best": ours_best, "tune_best": tune_best,
        "best_gap": ours_best - tune_best,
        "evaluations": args.evaluations, "concurrency": args.learners,
        "simulator": args.simulator, "samples": args.samples, "epochs": args.epochs,
        "ray_startup_seconds": ray_startup, "mlflow_tables_seconds": tables,
        "tune_reuse_actors": args.tune_reuse_actors, "order": order,
        "targets": {"wall_ratio": "<= 0.5", "ours_best": ">= tune_best - 0.01"},
    })


if __name__ == "__main__":
    main()
