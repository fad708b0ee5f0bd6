"""Final reporting for benchmarks: train the task model at given parameters and score it on the real
*test* (or validation) half, with several learner seeds, as Ray tasks.

Every score here comes from ``TaskLearner``, the path the loop's learners train through. Nothing
here feeds back to a policy.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import ray
import torch

from . import seeds
from .config import LearnerConfig
from .envs.generation import generate_batch
from .learners import TaskLearner
from .simulators import make_simulator


def train_and_test(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, learner: LearnerConfig,
                   task: Any, seed: int) -> float:
    """The task's test score (accuracy for a classification, given as its number of classes) of the
    learner trained from scratch (init and minibatch seed ``seed``) on ``(x, y)``."""
    trained = TaskLearner(asdict(learner), tuple(x.shape[1:]), task, real=(x_test, y_test, None, None))
    return trained.evaluate(x, y, seed=seed).score


def run_task(env: Any, y_real: np.ndarray) -> Any:
    """The task the simulator declares, bound to its real labels (classification unless it says otherwise)."""
    from .tasks import task_for

    return task_for(None, None, env, y_real)


def _synthetic_accuracy(sim_id: str, sim_kwargs: dict, params: dict | None, ranges: dict | None,
                        learner: dict[str, Any], seed: int, split: str) -> float:
    torch.set_num_threads(1)
    env = make_simulator(sim_id, sim_kwargs)
    config = LearnerConfig(**learner)
    x, y = generate_batch(env, params, config.samples, seed + seeds.BENCH_DATA_OFFSET, ranges)
    real = env.real_data()
    x_eval, y_eval = (real.x_test, real.y_test) if split == "test" else (real.x_val, real.y_val)
    return train_and_test(x, y, x_eval, y_eval, config, run_task(env, real.y_val), seed)


@ray.remote(num_cpus=1)
def synthetic_accuracy(sim_id: str, sim_kwargs: dict, params: dict | None, ranges: dict | None,
                       learner: dict[str, Any], seed: int, split: str) -> float:
    """One model on ``learner.samples`` fresh samples (data seed from ``seed``) for ``learner.epochs``,
    scored on the real ``split`` (``"validation"`` or ``"test"``)."""
    return _synthetic_accuracy(sim_id, sim_kwargs, params, ranges, learner, seed, split)


@ray.remote(num_cpus=1)
def real_test_accuracy(sim_id: str, sim_kwargs: dict, learner: dict[str, Any], seed: int) -> float:
    """The oracle: the same learner trained on the real validation half, scored on the test half."""
    torch.set_num_threads(1)
    env = make_simulator(sim_id, sim_kwargs)
    real = env.real_data()
    return train_and_test(real.x_val, real.y_val, real.x_test, real.y_test, LearnerConfig(**learner),
                          run_task(env, real.y_val), seed)


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def learner_dict(learner: LearnerConfig) -> dict[str, Any]:
    return asdict(learner)


@ray.remote(num_cpus=1)
def _real_cv_accuracy(x: np.ndarray, y: np.ndarray, train: np.ndarray, held: np.ndarray, learner: dict[str, Any],
                      num_classes: int, seed: int) -> float:
    torch.set_num_threads(1)
    return train_and_test(x[train], y[train], x[held], y[held], LearnerConfig(**learner), num_classes, seed)


def oracle_choice(sim_id: str, sim_kwargs: dict, learner: dict[str, Any], epochs: list[int],
                  folds: int = 3) -> dict[str, Any]:
    """What the strongest references are fitted with, chosen by ``folds``-fold cross-validation *inside*
    the real validation half: the learner's epochs to convergence, and an RBF SVM's C (the SVM, which
    has no seed, is scored on the test half here).

    Returns ``oracle_epochs``, ``oracle_cv_by_epochs``, ``svm_test_acc`` and ``svm_c``."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    env = make_simulator(sim_id, sim_kwargs)
    real = env.real_data()
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(real.y_val)), real.y_val))
    x_ref, y_ref = ray.put(real.x_val), ray.put(real.y_val)
    cv = {e: [_real_cv_accuracy.remote(x_ref, y_ref, train, held, {**learner, "epochs": e}, env.num_classes, 0)
              for train, held in splits] for e in epochs}
    cv_means = {e: float(np.mean(ray.get(refs))) for e, refs in cv.items()}
    flat_val, flat_test = real.x_val.reshape(len(real.x_val), -1), real.x_test.reshape(len(real.x_test), -1)
    svm = GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": [1, 3, 10, 30, 100]},
                       cv=StratifiedKFold(folds, shuffle=True, random_state=0)).fit(flat_val, real.y_val)
    return {"oracle_epochs": max(cv_means, key=cv_means.get),
            "oracle_cv_by_epochs": {str(e): round(v, 4) for e, v in cv_means.items()},
            "svm_test_acc": round(float(svm.score(flat_test, real.y_test)), 4), "svm_c": svm.best_params_["C"]}
