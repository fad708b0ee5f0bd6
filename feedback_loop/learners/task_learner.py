"""``TaskLearner``: the one "train at these parameters' data and score" path of the project.

The Ray learner actor, the in-process executor, the final scoring and the benchmarks all train
through it, so a score means the same thing wherever it was computed. Two modes:

- *per candidate* (``evaluate``): a fresh model, trained on one batch, scored on validation;
- *persistent* (``step``): one model trains on while a policy moves the parameters under it; its
  whole training state (weights, Adam's moments, minibatch order, torch's generators) round-trips
  through ``get_state``/``set_state`` as numpy arrays, so a restored learner trains on bit-exactly.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from .. import seeds
from ..objectives import latest_state_only
from ..objectives.scorer import Scorer, to_model_inputs
from ..optimizer_state import load_optimizer_state_arrays, optimizer_state_arrays
from ..tasks import Task, build_task
from ..types import Outcome
from .models import build_model
from .training import TrainSettings, check_batch, evaluate, to_tensors, train_epochs

# Keys of a persistent learner's saved state besides its weights (state_dict keys are dotted
# attribute paths, which in practice never contain "/").
ADAM_PREFIX = "adam/"  # Adam's moments: adam/<parameter index>/<exp_avg|exp_avg_sq|step>
GENERATOR_KEY = "generator/minibatch_order"  # the minibatch-order generator's state
TORCH_RNG_KEY = "generator/torch_global"  # torch's global generator (dropout draws from it)
CUDA_RNG_KEY = "generator/torch_cuda"  # ... and the CUDA one, on a GPU


class TaskLearner:
    """A task model (``learner.model``), how it trains, and the real data it is scored on.

    ``learner`` is a ``LearnerConfig`` as a dict, optionally with ``"objective"`` (an ``ObjectiveConfig`` as
    a dict: what is fed back; absent: the task score); ``task`` a bound ``Task``, its ``spec()``, or a number
    of classes (classification); ``real`` is ``(x_val, y_val, x_test, y_test[, x_unlabeled])`` (the test pair
    may be None; an empty validation half means no labels: scores come from the objective alone).
    """

    def __init__(self, learner: dict[str, Any], input_shape: tuple[int, ...], task: Task | dict | int,
                 device: torch.device | str = "cpu", real: tuple | None = None) -> None:
        self.device = torch.device(device)
        self.model_name = learner["model"]
        self.hidden = learner.get("hidden")
        self.init_seed = int(learner["seed"])
        self.settings = TrainSettings(epochs=learner["epochs"], batch_size=learner["batch_size"], lr=learner["lr"],
                                      weight_decay=learner.get("weight_decay", 0.0),
                                      input_scale=learner.get("input_scale", 1.0))
        self.input_shape = tuple(input_shape)
        self.task = build_task(task)
        self.scorer = Scorer(learner.get("objective"), self.task)
        self.val: tuple[torch.Tensor, torch.Tensor] | None = None
        self.test: tuple[torch.Tensor, torch.Tensor] | None = None
        if real is not None:
            self.set_real(*real)
        self.model: torch.nn.Module | None = None  # the persistent model, created by the first step
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator: torch.Generator | None = None
        self._fresh_seed = self.init_seed  # the next fresh persistent model's init and minibatch seed

    def set_real(self, x_val, y_val, x_test=None, y_test=None, x_unlabeled=None) -> None:
        scale = self.settings.input_scale
        self.val = None if len(x_val) == 0 else to_tensors(x_val, y_val, self.device, scale, self.task)
        if self.scorer.uses_realism:  # kept only where a realism objective reads it
            self.scorer.set_real(to_model_inputs(x_unlabeled, self.device, scale))
        self.test = None if x_test is None else to_tensors(x_test, y_test, self.device, scale, self.task)

    def new_model(self, seed: int | None = None) -> torch.nn.Module:
        torch.manual_seed(self.init_seed if seed is None else seed)
        return build_model(self.model_name, self.input_shape, self.task.outputs(), self.hidden).to(self.device)

    def _batch(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"generated samples have shape {tuple(x.shape[1:])}, the real data {self.input_shape}")
        xt, yt = to_tensors(x, y, self.device, self.settings.input_scale, self.task)
        check_batch(xt, y, self.task)
        return xt, yt

    def _scores(self, model: torch.nn.Module, with_test: bool,
                x_synthetic: torch.Tensor | None = None) -> tuple[float | None, dict[str, float]]:
        """The fed-back score (the objective's: the task's score on validation by default), and every
        metric (``val_*`` where there are labels; ``test_*`` too when asked; ``realism`` where it is used)."""
        task_score, metrics = None, {}
        if self.val is not None:
            val = evaluate(model, *self.val, self.task)
            metrics = {f"val_{k}": v for k, v in val.items()}
            task_score = val[self.task.score]
        if with_test and self.test is not None:
            metrics.update({f"test_{k}": v for k, v in evaluate(model, *self.test, self.task).items()})
        if not self.scorer.uses_realism:
            return task_score, metrics
        metrics["realism"] = self.scorer.realism(model, x_synthetic)
        return self.scorer.fed_back(task_score, metrics["realism"]), metrics

    # -- per candidate -----------------------------------------------------------------------------
    def evaluate(self, x: np.ndarray, y: np.ndarray, epochs: int | None = None, *, with_test: bool = False,
                 seed: int | None = None, keep_model: bool = False, fresh_epochs: bool = False) -> Outcome:
        """Train a fresh model (init and minibatch seed ``seed``, default ``learner.seed``) on
        ``(x, y)`` for ``epochs`` and score it on validation (and test, if asked).

        With ``fresh_epochs``, ``(x, y)`` holds ``epochs`` equal parts, one newly rendered batch per
        epoch: epoch k trains once over part k, the model is scored on validation after every epoch,
        and the best-scoring epoch's weights are the model kept and reported (``best_epoch``, from 1);
        under ``objective.score: realism`` the last epoch's (realism does not compare training lengths).
        ``train_loss`` is the loss on the batch *before* training on it (the adversarial signal).
        With ``keep_model`` the trained model's weights are kept in ``self.last_weights`` (numpy).
        """
        start = time.perf_counter()
        seed = self.init_seed if seed is None else int(seed)
        epochs = self.settings.epochs if epochs is None else int(epochs)
        xt, yt = self._batch(x, y)
        model = self.new_model(seed)
        loss_before = evaluate(model, xt, yt, self.task)["loss"]
        generator = torch.Generator().manual_seed(seed)
        if fresh_epochs:
            final_loss, best_epoch = self._train_fresh_epochs(model, xt, yt, epochs, generator)
        else:
            final_loss = train_epochs(model, xt, yt, dataclasses.replace(self.settings, epochs=epochs), generator,
                                      task=self.task)
        score, metrics = self._scores(model, with_test, xt)
        metrics["final_train_loss"] = final_loss
        if fresh_epochs:
            metrics["best_epoch"] = best_epoch
        if keep_model:
            self.last_weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
        visits = len(x) if fresh_epochs else len(x) * epochs
        return Outcome(score=score, train_loss=loss_before, metrics=metrics, samples=len(x),
                       seconds=time.perf_counter() - start, train_samples=visits)

    def _train_fresh_epochs(self, model: torch.nn.Module, xt: torch.Tensor, yt: torch.Tensor, epochs: int,
                            generator: torch.Generator) -> tuple[float, int]:
        """One pass over each of ``epochs`` equal parts of the batch with one optimizer, leaving
        ``model`` at the epoch that scored best on validation; ``(that epoch's training loss, the epoch)``."""
        if len(xt) % epochs:
            raise ValueError(f"fresh_epochs: {len(xt)} samples do not split into {epochs} equal epochs")
        optimizer = torch.optim.Adam(model.parameters(), lr=self.settings.lr, weight_decay=self.settings.weight_decay)
        one_pass = dataclasses.replace(self.settings, epochs=1)
        last_only = latest_state_only(self.scorer.config.score)  # realism: the last epoch, not an early one
        best_score, best_epoch, best_weights, best_loss = None, 0, None, float("nan")
        for epoch, (x_part, y_part) in enumerate(zip(xt.chunk(epochs), yt.chunk(epochs)), start=1):
            loss = train_epochs(model, x_part, y_part, one_pass, generator, optimizer, task=self.task)
            if last_only and epoch < epochs:
                continue
            score = self._scores(model, False, x_part)[0]  # the objective's (the task's by default)
            if self.scorer.better(score, best_score):  # the first of equal scores: the least trained
                best_score, best_epoch, best_loss = score, epoch, loss
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(best_weights)
        return best_loss, best_epoch

    # -- persistent --------------------------------------------------------------------------------
    def step(self, x: np.ndarray, y: np.ndarray, epochs: int, *, with_test: bool = False) -> Outcome:
        """Score the persistent model on the fresh batch, train on it for ``epochs``, score on validation."""
        start = time.perf_counter()
        xt, yt = self._batch(x, y)
        if self.model is None:
            self._new_persistent_model(generator_seed=self._fresh_seed, model_seed=self._fresh_seed)
        fresh = evaluate(self.model, xt, yt, self.task)
        settings = dataclasses.replace(self.settings, epochs=int(epochs))
        final_loss = train_epochs(self.model, xt, yt, settings, self.generator, self.optimizer, task=self.task)
        score, metrics = self._scores(self.model, with_test, xt)
        # the score on the batch before training on it (ADR's performance signal), by the score's name too
        metrics.update({f"fresh_{self.task.score}": fresh[self.task.score], "fresh_score": fresh[self.task.score],
                        "final_train_loss": final_loss})
        return Outcome(score=score, train_loss=fresh["loss"], metrics=metrics, samples=len(x),
                       seconds=time.perf_counter() - start, train_samples=len(x) * int(epochs))

    def test_score(self) -> float | None:
        """The task's score of the persistent model on the test half (None without a model or a test set)."""
        metrics = self.test_metrics()
        return None if metrics is None else metrics[self.task.score]

    def test_metrics(self) -> dict[str, float] | None:
        """Every metric of the persistent model on the test half (None without a model or a test set)."""
        if self.model is None or self.test is None:
            return None
        return evaluate(self.model, *self.test, self.task)

    def get_state(self) -> dict[str, np.ndarray]:
        """The persistent model's training state as numpy arrays (saved without pickling)."""
        if self.model is None:
            return {}
        state = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        state.update({ADAM_PREFIX + k: v for k, v in optimizer_state_arrays(self.optimizer).items()})
        state[GENERATOR_KEY] = self.generator.get_state().numpy()
        state[TORCH_RNG_KEY] = torch.get_rng_state().numpy()
        if self.device.type == "cuda":
            state[CUDA_RNG_KEY] = torch.cuda.get_rng_state(self.device).numpy()
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`get_state` saved (weights alone get a fresh Adam and generators)."""
        self._new_persistent_model(generator_seed=self.init_seed + 1)
        weights = {k: torch.as_tensor(np.array(v)) for k, v in state.items()
                   if not k.startswith(ADAM_PREFIX) and not k.startswith("generator/")}
        self.model.load_state_dict(weights)
        load_optimizer_state_arrays(self.optimizer, {k.removeprefix(ADAM_PREFIX): v for k, v in state.items()
                                                     if k.startswith(ADAM_PREFIX)})
        if GENERATOR_KEY in state:
            self.generator.set_state(torch.as_tensor(np.array(state[GENERATOR_KEY]), dtype=torch.uint8))
        if TORCH_RNG_KEY in state:
            torch.set_rng_state(torch.as_tensor(np.array(state[TORCH_RNG_KEY]), dtype=torch.uint8))
        if CUDA_RNG_KEY in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(torch.as_tensor(np.array(state[CUDA_RNG_KEY]), dtype=torch.uint8), self.device)

    def reset(self, member: int = 0) -> None:
        """Forget the persistent model: the next step starts a fresh one, seeded ``learner.seed +
        member`` (a population's members start from different models)."""
        self.model, self.optimizer, self.generator = None, None, None
        self._fresh_seed = seeds.member_model(self.init_seed, int(member))

    def _new_persistent_model(self, generator_seed: int, model_seed: int | None = None) -> None:
        self.model = self.new_model(model_seed)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.settings.lr,
                                          weight_decay=self.settings.weight_decay)
        self.generator = torch.Generator().manual_seed(generator_seed)
