"""Ray actors: generators render shards into the object store, learners train and score on them.

Both are persistent: the simulator, the model builder and the validation set are set up once per
actor and reused for every job. Data moves as numpy arrays (zero-copy reads on one node). The
training itself is ``TaskLearner``'s, the same code the in-process executor runs.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Callable

import numpy as np
import ray

from .envs.generation import generate_batch
from .learners import TaskLearner, limit_torch_threads, pick_device
from .simulators import make_simulator
from .types import Outcome


def failed_dict(job_id: int, err: Exception, samples: int = 0) -> dict:
    """A failed ``Outcome`` (as a dict) carrying the error's one-line text."""
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return Outcome.failed(f"candidate {job_id}: {detail}", samples=samples).to_dict()


def concat_shards(shards) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([np.asarray(s[0]) for s in shards])
    y = np.concatenate([np.asarray(s[1]) for s in shards])
    return x, y


@ray.remote
class GeneratorActor:
    """Holds one simulator instance and renders batches of it on request."""

    def __init__(self, sim_id: str, sim_kwargs: dict, num_cpus: float = 1.0) -> None:
        limit_torch_threads(num_cpus)
        self.device = pick_device(ray.get_gpu_ids())
        kwargs = dict(sim_kwargs)
        if self.device.type == "cuda" and "device" not in kwargs:
            try:  # simulators that render with torch take a device; others ignore the GPU
                self.env = make_simulator(sim_id, {**kwargs, "device": "cuda"})
                return
            except (TypeError, ValueError):
                pass
        self.env = make_simulator(sim_id, kwargs)

    def generate(self, params: dict, ranges: dict | None, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples ``(x, y)`` at ``params`` (per-sample ``ranges`` if given), seeded."""
        return generate_batch(self.env, params, n, seed, ranges)

    def device_name(self) -> str:
        return str(self.device)


@ray.remote
class LearnerActor:
    """A ``TaskLearner`` in its own process: fresh models per job, or one persistent model.

    The real data comes with every call as ``real = [ObjectRef of (x_val, y_val, x_test, y_test, x_unlabeled)]``
    (a nested ref, fetched once and kept), not through the constructor: Ray restarts an actor by
    re-running its constructor, and it does not keep constructor arguments in the object store
    alive for that (ray-project/ray#53727). A call, retried after a restart, brings its own ref.

    A new process has no persistent state: it refuses ``train_step`` until the driver gives it a
    state (``set_state``) or says to start afresh (``reset``). The driver does one of the two when it
    starts the learner, so a process that Ray restarted after a crash is told apart from the one
    the driver set up, with no Ray API involved: it refuses, and the driver restores it.
    """

    def __init__(self, learner: dict[str, Any], input_shape: tuple[int, ...], task: dict[str, Any],
                 num_cpus: float = 1.0) -> None:
        limit_torch_threads(num_cpus)
        # the task comes as its spec (plain JSON), rebuilt here as the model is from its name
        self.learner = TaskLearner(learner, input_shape, task, pick_device(ray.get_gpu_ids()))
        self.has_real = False
        self.has_state = False
        # (job id, start, end) of every evaluate/train_step call, wall clock: the gaps between calls
        # are time the learner waited for data or for the driver (bench/pipeline.py reads them).
        self._spans: list[tuple[int, float, float]] = []

    def _load_real(self, real: list[ray.ObjectRef]) -> None:
        """Fetch the real data once per process (it comes with every call, see the class docstring)."""
        if not self.has_real:
            self.learner.set_real(*ray.get(real[0]))
            self.has_real = True

    def _timed(self, job_id: int, real: list[ray.ObjectRef], work: Callable[[], Outcome], samples: int) -> dict:
        started = time.time()
        try:
            self._load_real(real)
            return work().to_dict()
        except Exception as err:  # a failing batch or training step fails this job, not the actor
            return failed_dict(job_id, err, samples)
        finally:
            self._spans.append((job_id, started, time.time()))

    def evaluate(self, real: list[ray.ObjectRef], job_id: int, epochs: int, with_test: bool, seed: int | None,
                 return_model: bool, fresh_epochs: bool, *shards: tuple[np.ndarray, np.ndarray]) -> dict:
        """Train a fresh model on the job's shards (with ``fresh_epochs``: they are the epochs' batches,
        in order); its ``Outcome`` as a dict (with the trained weights as ``"state"`` if ``return_model``)."""
        x, y = concat_shards(shards)
        result = self._timed(job_id, real, lambda: self.learner.evaluate(
            x, y, epochs, with_test=with_test, seed=seed, keep_model=return_model, fresh_epochs=fresh_epochs), len(x))
        if return_model and result["status"] == "ok":
            result["state"] = self.learner.last_weights
        return result

    def train_step(self, real: list[ray.ObjectRef], job_id: int, epochs: int,
                   *shards: tuple[np.ndarray, np.ndarray]) -> dict:
        """One persistent step (see ``TaskLearner.step``); the state after it comes as ``"state"``.

        ``{"restarted": True}`` instead, untrained, on a process not yet given its state."""
        if not self.has_state:
            return {"restarted": True}
        x, y = concat_shards(shards)
        result = self._timed(job_id, real, lambda: self.learner.step(x, y, epochs), len(x))
        if result["status"] == "ok":
            # The state travels with the outcome, so the driver checkpoints exactly the model that
            # produced it without ever waiting on the actor.
            result["state"] = self.learner.get_state()
        return result

    def test_score(self, real: list[ray.ObjectRef], state: dict[str, np.ndarray]) -> float | None:
        """The task's test score of the persistent model in ``state`` (called once training is over:
        the learner takes that state)."""
        self._load_real(real)
        self.set_state(state)
        return self.learner.test_score()

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.learner.set_state(state)
        self.has_state = True  # only once the whole state is back

    def reset(self, member: int = 0) -> None:
        self.learner.reset(member)
        self.has_state = True

    def spans(self) -> list[tuple[int, float, float]]:
        """``(job_id, start, end)`` wall-clock times of every evaluation or step so far."""
        return list(self._spans)

    def device_name(self) -> str:
        return str(self.learner.device)
