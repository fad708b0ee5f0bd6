"""Final reporting: train the task model at given parameters and score it on the real *test* set.

Used by the benchmarks to compare settings (uniform DR, nominal, the loop's best, the oracle) with
several learner seeds. Never feeds anything back to a policy.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import ray
import torch

from .config import LearnerConfig
from .envs.generation import generate_batch
from .learners import TrainSettings, build_model, evaluate, to_tensors, train_epochs
from .simulators import make_simulator


def train_and_test(
    x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, learner: LearnerConfig,
    num_classes: int, seed: int,
) -> float:
    """Test accuracy of the learner trained from scratch (init seed ``seed``) on ``(x, y)``."""
    device = torch.device("cpu")
    settings = TrainSettings.of(learner)
    torch.manual_seed(seed)
    model = build_model(learner.model, tuple(x.shape[1:]), num_classes, learner.hidden)
    xt, yt = to_tensors(x, y, device, settings.input_scale)
    train_epochs(model, xt, yt, settings, torch.Generator().manual_seed(seed))
    return evaluate(model, *to_tensors(x_test, y_test, device, settings.input_scale), num_classes)["accuracy"]


def _synthetic_accuracy(sim_id: str, sim_kwargs: dict, params: dict | None, ranges: dict | None,
                        learner: dict[str, Any], seed: int, split: str) -> float:
    torch.set_num_threads(1)
    env = make_simulator(sim_id, sim_kwargs)
    config = LearnerConfig(**learner)
    x, y = generate_batch(env, params, config.samples, seed + 7_000_000, ranges)
    real = env.real_data()
    x_eval, y_eval = (real.x_test, real.y_test) if split == "test" else (real.x_val, real.y_val)
    return train_and_test(x, y, x_eval, y_eval, config, env.num_classes, seed)


@ray.remote(num_cpus=1)
def synthetic_test_accuracy(sim_id: str, sim_kwargs: dict, params: dict | None, ranges: dict | None,
                            learner: dict[str, Any], seed: int) -> float:
    """Generate ``learner.samples`` samples at ``params``/``ranges`` (data seed from ``seed``), train, test."""
    return _synthetic_accuracy(sim_id, sim_kwargs, params, ranges, learner, seed, "test")


@ray.remote(num_cpus=1)
def synthetic_validation_accuracy(sim_id: str, sim_kwargs: dict, params: dict | None, ranges: dict | None,
                                  learner: dict[str, Any], seed: int) -> float:
    """As ``synthetic_test_accuracy`` but scored on the real *validation* half (for model selection)."""
    return _synthetic_accuracy(sim_id, sim_kwargs, params, ranges, learner, seed, "validation")


@ray.remote(num_cpus=1)
def real_test_accuracy(sim_id: str, sim_kwargs: dict, learner: dict[str, Any], seed: int) -> float:
    """The oracle: the same learner trained on the real validation half, scored on the test half."""
    torch.set_num_threads(1)
    env = make_simulator(sim_id, sim_kwargs)
    config = LearnerConfig(**learner)
    real = env.real_data()
    return train_and_test(real.x_val, real.y_val, real.x_test, real.y_test, config, env.num_classes, seed)


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def learner_dict(learner: LearnerConfig) -> dict[str, Any]:
    return asdict(learner)
