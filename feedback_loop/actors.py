"""Ray actors: generators render shards into the object store, learners train and score on them.

Both are persistent: the simulator, the model builder and the validation set are set up once per
actor and reused for every evaluation. Data moves as numpy arrays (zero-copy reads on one node).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from typing import Any, Callable

import numpy as np
import ray
import torch

from .config import LearnerConfig
from .envs.generation import generate_batch
from .learners import (TrainSettings, build_model, evaluate, limit_torch_threads, pick_device, to_tensors,
                       train_and_score, train_epochs)
from .policies import Outcome
from .policies.optimizer_state import load_optimizer_state_arrays, optimizer_state_arrays
from .simulators import make_simulator

# Keys of a persistent learner's saved state besides its weights (state_dict keys are dotted
# attribute paths, which in practice never contain "/").
ADAM_PREFIX = "adam/"  # Adam's moments: adam/<parameter index>/<exp_avg|exp_avg_sq|step>
GENERATOR_KEY = "generator/minibatch_order"  # the minibatch-order generator's state
TORCH_RNG_KEY = "generator/torch_global"  # torch's global generator (dropout draws from it)
CUDA_RNG_KEY = "generator/torch_cuda"  # ... and the CUDA one, on a GPU


def _failed(candidate_id: int, err: Exception, samples: int) -> dict:
    """A failed ``Outcome`` (as a dict) carrying the error's one-line text."""
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return Outcome.failed(f"candidate {candidate_id}: {detail}", samples=samples).to_dict()


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
    """Trains a fresh task model per candidate on its generated shards and scores it on real data.

    The real data comes with every call as ``real = [ObjectRef of (x_val, y_val, x_test, y_test)]``
    (a nested ref, fetched once and kept), not through the constructor: Ray restarts an actor by
    re-running its constructor, and it does not keep constructor arguments in the object store
    alive for that (ray-project/ray#53727). A call, retried after a restart, brings its own ref.
    """

    def __init__(
        self,
        learner: dict[str, Any],
        input_shape: tuple[int, ...],
        num_classes: int,
        num_cpus: float = 1.0,
    ) -> None:
        limit_torch_threads(num_cpus)
        self.device = pick_device(ray.get_gpu_ids())
        self.model_name = learner["model"]
        self.hidden = learner.get("hidden")
        self.init_seed = int(learner["seed"])
        self.settings = TrainSettings.of(LearnerConfig(**learner))
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.val: tuple[torch.Tensor, torch.Tensor] | None = None  # set by the first call, see above
        self.test: tuple[torch.Tensor, torch.Tensor] | None = None
        self.model = None  # the persistent model, created by the first train_step
        # A process Ray restarted after a crash has lost the persistent model: it refuses to train
        # until the driver gives it the saved state back (set_weights) or says to start afresh (reset).
        try:
            self.has_state = not ray.get_runtime_context().was_current_actor_reconstructed
        except Exception:  # unknown: refuse; the driver then restores or resets, which is always safe
            self.has_state = False
        self.optimizer = None
        self.generator = None
        self.steps = 0
        # (candidate id, start, end) of every evaluate/train_step call, wall clock: the gaps between
        # calls are time the learner waited for data or for the driver (bench/pipeline.py reads them).
        self._spans: list[tuple[int, float, float]] = []

    def _concat(self, shards) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([np.asarray(s[0]) for s in shards])
        y = np.concatenate([np.asarray(s[1]) for s in shards])
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"generated samples have shape {x.shape[1:]}, the real data {self.input_shape}")
        return x, y

    def _load_real(self, real: list[ray.ObjectRef]) -> None:
        if self.val is not None:
            return
        x_val, y_val, x_test, y_test = ray.get(real[0])
        self.val = to_tensors(x_val, y_val, self.device, self.settings.input_scale)
        self.test = None if x_test is None else to_tensors(x_test, y_test, self.device, self.settings.input_scale)

    def _timed(self, candidate_id: int, real: list[ray.ObjectRef], work: Callable[[], dict]) -> dict:
        started = time.time()
        try:
            self._load_real(real)
            return work()
        finally:
            self._spans.append((candidate_id, started, time.time()))

    def evaluate(self, real: list[ray.ObjectRef], candidate_id: int, with_test: bool,
                 *shards: tuple[np.ndarray, np.ndarray]) -> dict:
        """Train a fresh model on the candidate's shards; its ``Outcome`` as a dict.

        A failing simulator batch or training step fails this evaluation, not the actor.
        """
        return self._timed(candidate_id, real, lambda: self._evaluate(candidate_id, with_test, shards))

    def _evaluate(self, candidate_id: int, with_test: bool, shards) -> dict:
        samples = 0
        try:
            x, y = self._concat(shards)
            samples = len(x)
            torch.manual_seed(self.init_seed)
            model = build_model(self.model_name, self.input_shape, self.num_classes, self.hidden).to(self.device)
            outcome = train_and_score(model, x, y, *self.val, self.settings, self.num_classes, self.init_seed)
            if with_test and self.test is not None:
                test = evaluate(model, *self.test, self.num_classes)
                outcome.metrics["test_accuracy"] = test["accuracy"]
            return outcome.to_dict()
        except Exception as err:  # reported to the policy as a failed evaluation
            return _failed(candidate_id, err, samples)

    # -- persistent mode: one model trains on while the policy moves the parameters -------------
    def train_step(self, real: list[ray.ObjectRef], candidate_id: int, epochs: int,
                   *shards: tuple[np.ndarray, np.ndarray]) -> dict:
        """Score the persistent model on the fresh batch, train on it, then score on validation.

        ``{"restarted": True}`` instead, untrained, on a restarted process not yet given its state."""
        if not self.has_state:
            return {"restarted": True}
        return self._timed(candidate_id, real, lambda: self._train_step(candidate_id, epochs, shards))

    def _train_step(self, candidate_id: int, epochs: int, shards) -> dict:
        samples = 0
        try:
            x, y = self._concat(shards)
            samples = len(x)
            if self.model is None:
                self._new_persistent_model(generator_seed=self.init_seed)
            start = time.perf_counter()
            xt, yt = to_tensors(x, y, self.device, self.settings.input_scale)
            fresh = evaluate(self.model, xt, yt, self.num_classes)
            settings = dataclasses.replace(self.settings, epochs=epochs)
            final_loss = train_epochs(self.model, xt, yt, settings, self.generator, self.optimizer)
            val = evaluate(self.model, *self.val, self.num_classes)
            metrics = {f"val_{k}": v for k, v in val.items()}
            metrics.update(fresh_accuracy=fresh["accuracy"], final_train_loss=final_loss)
            self.steps += 1
            result = Outcome(score=val["accuracy"], train_loss=fresh["loss"], metrics=metrics, samples=samples,
                             seconds=time.perf_counter() - start).to_dict()
            # The weights travel with the outcome, so the driver checkpoints exactly the model that
            # produced it without ever waiting on the actor.
            result["weights"] = self.get_weights()
            return result
        except Exception as err:
            return _failed(candidate_id, err, samples)

    def spans(self) -> list[tuple[int, float, float]]:
        """``(candidate_id, start, end)`` wall-clock times of every evaluation or step so far."""
        return list(self._spans)

    def test_score(self, real: list[ray.ObjectRef]) -> float | None:
        """Test accuracy of the persistent model (None without a model or a test set)."""
        self._load_real(real)
        if self.model is None or self.test is None:
            return None
        return evaluate(self.model, *self.test, self.num_classes)["accuracy"]

    def get_weights(self) -> dict[str, np.ndarray]:
        """The persistent model's training state as numpy arrays (saved without pickling): weights,
        Adam's moments and the random generators, so a restored learner trains on exactly as before."""
        if self.model is None:
            return {}
        state = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        state.update({ADAM_PREFIX + k: v for k, v in optimizer_state_arrays(self.optimizer).items()})
        state[GENERATOR_KEY] = self.generator.get_state().numpy()
        state[TORCH_RNG_KEY] = torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            state[CUDA_RNG_KEY] = torch.cuda.get_rng_state(self.device).numpy()
        return state

    def reset(self) -> None:
        """Start the persistent model afresh (a restarted learner with no saved state to get back)."""
        self.model, self.optimizer, self.generator = None, None, None
        self.has_state = True

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_weights` saved (files with weights only get a fresh Adam)."""
        self._new_persistent_model(generator_seed=self.init_seed + 1)
        model = {k: torch.as_tensor(np.array(v)) for k, v in weights.items()
                 if not k.startswith(ADAM_PREFIX) and not k.startswith("generator/")}
        self.model.load_state_dict(model)
        load_optimizer_state_arrays(self.optimizer, {k.removeprefix(ADAM_PREFIX): v for k, v in weights.items()
                                                     if k.startswith(ADAM_PREFIX)})
        if GENERATOR_KEY in weights:
            self.generator.set_state(torch.as_tensor(np.array(weights[GENERATOR_KEY]), dtype=torch.uint8))
        if TORCH_RNG_KEY in weights:
            torch.set_rng_state(torch.as_tensor(np.array(weights[TORCH_RNG_KEY]), dtype=torch.uint8))
        if CUDA_RNG_KEY in weights and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.as_tensor(np.array(weights[CUDA_RNG_KEY]), dtype=torch.uint8), self.device)
        self.has_state = True  # only once the whole state is back

    def _new_persistent_model(self, generator_seed: int) -> None:
        """A freshly initialized persistent model with its own Adam and minibatch-order generator."""
        torch.manual_seed(self.init_seed)
        self.model = build_model(self.model_name, self.input_shape, self.num_classes, self.hidden).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr,
                                          weight_decay=self.settings.weight_decay)
        self.generator = torch.Generator().manual_seed(generator_seed)

    def device_name(self) -> str:
        return str(self.device)
