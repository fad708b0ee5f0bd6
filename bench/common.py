"""Helpers shared by the loop benchmarks: simulator presets, a fresh local Ray, temp stores, and the
in-process executor (no Ray, no MLflow) that runs the same jobs as the loop's actors."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

# --simulator presets: (simulator id, learner overrides). Digits counts are 0..16, hence 1/16.
SIMULATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "gaussian": ("feedback_loop/GaussianMixture-v0", {"model": "mlp", "batch_size": 64, "lr": 0.003}),
    "digits": ("feedback_loop/Digits-v0", {"model": "cnn", "batch_size": 128, "lr": 0.001, "input_scale": 0.0625}),
}


def add_common_args(ap, *, evaluations: int, samples: int, epochs: int, simulator: str = "gaussian") -> None:
    ap.add_argument("--simulator", choices=sorted(SIMULATORS), default=simulator,
                    help="gaussian: GaussianMixture-v0 + mlp; digits: Digits-v0 + cnn (input_scale 1/16)")
    ap.add_argument("--evaluations", type=int, default=evaluations, help="evaluations (candidates) per measured run")
    ap.add_argument("--samples", type=int, default=samples, help="generated samples per evaluation")
    ap.add_argument("--epochs", type=int, default=epochs, help="training epochs per evaluation")
    ap.add_argument("--learners", type=int, default=2, help="learner actors (= concurrent evaluations)")
    ap.add_argument("--seed", type=int, default=0, help="policy and data seed")


def make_config(args, *, policy: str = "optuna", name: str = "bench", tracking_uri: str, **resources: Any):
    """A loop ``Config`` for the benchmark's simulator, budget and resources."""
    from feedback_loop.config import config_from_dict

    sim_id, learner = SIMULATORS[args.simulator]
    res = {"learners": args.learners, "generators": 1, "learner_cpus": 0.75, "generator_cpus": 0.5, "prefetch": 1}
    res.update(resources)
    return config_from_dict({
        "name": name, "seed": args.seed,
        "simulator": {"id": sim_id},
        "learner": {**learner, "samples": args.samples, "epochs": args.epochs},
        "policy": {"name": policy, "sampler": "tpe", "seed": args.seed},
        "budget": {"evaluations": args.evaluations},
        "resources": res,
        "tracking": {"tracking_uri": tracking_uri},
    })


def temp_workspace(prefix: str) -> tuple[Path, str]:
    """A temporary directory and a SQLite MLflow store inside it."""
    root = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    return root, f"sqlite:///{root / 'mlflow.db'}"


def create_mlflow_tables(tracking_uri: str) -> float:
    """Create the SQLite store's tables up front (seconds, reported, not charged to either side)."""
    from mlflow import MlflowClient

    start = time.perf_counter()
    MlflowClient(tracking_uri).search_experiments()
    return time.perf_counter() - start


def start_ray(num_cpus: int | None = None) -> float:
    """Start a fresh local Ray for this process only; returns the seconds it took."""
    import ray

    os.environ.setdefault("RAY_ACCEPT_LOCAL_GPU_RESOURCES", "1")
    start = time.perf_counter()
    ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
             logging_level="ERROR", log_to_driver=False)
    return time.perf_counter() - start


def in_process_executor(config):
    """The loop's jobs, run one at a time in this process (no Ray, no MLflow): ``InProcessExecutor``."""
    from feedback_loop.executors import InProcessExecutor
    from feedback_loop.preflight import prepare_run

    return InProcessExecutor.for_run(prepare_run(config))


def print_result(result: dict[str, Any]) -> None:
    """The benchmark's one JSON line, last on stdout."""
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()}), flush=True)
