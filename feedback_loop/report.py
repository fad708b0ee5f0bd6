"""The end of a run: final scores (test half, oracle), ``summary.json`` and the plots.

The test half is touched only here, to report; nothing computed here reaches the policy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from . import seeds
from .checkpoint import Checkpointer, atomic_write
from .delivery import MODEL_FILE, save_model
from .config import Config
from .executors import Executor, LearnerLostError
from .ledger import Ledger
from .policies import POLICIES
from .types import Candidate, Fidelity, Job

logger = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
BEST_WEIGHTS_FILE = "best_learner_weights.npz"  # a copy of the persistent learner's best state
ORACLE_SEEDS = seeds.ORACLE_REPEATS  # the oracle score is averaged over this many data seeds


def oracle_scores(executor: Executor, env: gym.Env, fidelity: Fidelity, fresh_epochs: bool = False,
                  score: str = "accuracy") -> dict[str, float | None]:
    """The oracle's validation and test scores: the same learner trained as the delivered model is, on
    the simulator's true parameters, where it knows them (references, not counted in ``train_samples``).
    A failure here leaves a score None, never the run."""
    scores: dict[str, float | None] = {"oracle_score": None, "oracle_test_score": None}
    oracle = env.oracle_params() if hasattr(env, "oracle_params") else None
    if oracle is None:
        return scores
    for k in range(ORACLE_SEEDS):
        executor.submit(Job(Candidate(id=-1 - k, params=oracle), fidelity, seed_id=seeds.oracle(k), with_test=True,
                            fresh_epochs=fresh_epochs))
    try:
        results = executor.drain()
    except LearnerLostError as err:  # the scores stay None; the run and its summary stand
        logger.warning("final scoring stopped: %s", err)
        results = []
    oracle_results = []
    for result in results:
        if not result.outcome.ok:
            logger.warning("an oracle scoring run failed: %s", result.outcome.error)
        else:
            oracle_results.append(result.outcome)
    if oracle_results:
        scores["oracle_score"] = float(np.mean([o.score for o in oracle_results]))
        tests = [o.metrics[f"test_{score}"] for o in oracle_results if f"test_{score}" in o.metrics]
        scores["oracle_test_score"] = float(np.mean(tests)) if tests else None
    return scores


def race_best(ledger: Ledger) -> dict[str, Any] | None:
    """Under racing (``search.repeats``), the search's best candidate by its mean over seeds:
    ``best_score`` is one seed's, so partly luck."""
    ranked = ledger.ranked_means()
    if not ranked:
        return None
    candidate, seeds, mean = ranked[0]
    return {"candidate_id": candidate.id, "mean_score": mean, "seeds": seeds, "params": candidate.params}


def summarize(config: Config, ledger: Ledger, scheduler: Any, task: Any) -> dict[str, Any]:
    """The search's part of ``summary.json``, the selection and the delivered model's scores (every
    score is the task's: ``score_name``, higher or lower better as ``score_direction`` says)."""
    best = ledger.best
    selected = getattr(scheduler, "selected", None)
    delivered = getattr(scheduler, "delivered", None)
    outcome = delivered.outcome if delivered is not None and delivered.outcome.ok else None
    test_key = f"test_{task.score}"
    return {
        "task": task.spec(),
        "score_name": task.score,
        "score_direction": task.direction,
        "policy": config.policy.name,
        "sampler": config.policy.sampler if POLICIES[config.policy.name].uses_sampler else None,
        "simulator": config.simulator.id,
        "evaluations": ledger.evaluations,
        "failed_evaluations": ledger.failed,
        "errors": [{"error": error, "count": count} for error, count in ledger.errors.items()],
        "samples_generated": ledger.samples_generated,
        "train_samples": ledger.train_samples,
        "train_samples_budget": config.budget.train_samples,
        "best_score": None if best is None else best["score"],
        "best_params": None if best is None else best["candidate"]["params"],
        "best_ranges": None if best is None else best["candidate"]["ranges"],
        "best_candidate_id": None if best is None else best["candidate"]["id"],
        # The mean shows what a policy's data is worth typically, not only at its luckiest.
        "mean_score": ledger.mean_score(),
        **({"race_best": race_best(ledger)} if config.search.repeats > 1 else {}),
        "selection": scheduler.selection_report() if hasattr(scheduler, "selection_report") else [],
        "selected_candidate_id": None if selected is None else selected.id,
        "selected_params": None if selected is None else selected.params,
        "selected_ranges": None if selected is None else selected.ranges,
        # with final.widen, selected_* are what the delivered model trained on; these, what the search scored
        "searched_params": None if selected is None else selected.info.get("searched_params", selected.params),
        "final_widen": 0.0 if selected is None else selected.info.get("widen", 0.0),  # 0 where nothing widened
        "delivered_val_score": None if outcome is None else outcome.score,
        "delivered_test_score": None if outcome is None else outcome.metrics.get(test_key),
        # with final.fresh_epochs, the epoch whose model was delivered (the best on validation)
        "delivered_best_epoch": None if outcome is None else outcome.metrics.get("best_epoch"),
        "test_score": None if outcome is None else outcome.metrics.get(test_key),
        "model_file": MODEL_FILE if outcome is not None else None,
        "references": dict(config.references),
    }


def add_intervals(summary: dict[str, Any], env: gym.Env) -> None:
    """Ordered intervals ``[a, b]`` of the simulator's randomized factors at the best and the selected
    parameters (``best_intervals``, ``selected_intervals``), as reports show them."""
    from .envs import intervals

    ranges = getattr(env, "ranges", {})
    for key in ("best", "selected"):
        params = summary.get(f"{key}_params")
        summary[f"{key}_intervals"] = intervals(ranges, params) if ranges and params else None


def save_delivered(run_dir: Path, weights: dict[str, Any], prepared: Any, candidate: Candidate, fidelity: Fidelity,
                   fresh_epochs: bool = False, best_epoch: int | None = None) -> None:
    """``model.npz``: the delivered model's weights and what rebuilds it (``feedback_loop.load_model``),
    with the parameters it trained at and, with fresh epochs, which epoch's weights they are."""
    learner = prepared.config.learner
    save_model(run_dir / MODEL_FILE, weights, model=learner.model, hidden=learner.hidden,
               input_shape=prepared.input_shape, task=prepared.task, input_scale=learner.input_scale,
               simulator=prepared.config.simulator.id, params=candidate.params, ranges=candidate.ranges,
               samples=fidelity.samples, epochs=fidelity.epochs,
               **({"fresh_epochs": True, "best_epoch": best_epoch} if fresh_epochs else {}))


def delivered_diagnostics(run_dir: Path, real: Any, task: Any) -> tuple[dict[str, Any], Any]:
    """Every metric of the delivered model on the real test half (``delivered_test_metrics``), where it
    errs (the task's diagnostics: a classification's per-class accuracy and confusions, a regression's
    per-target errors, a segmentation's per-class IoU), and their figure; for the report only. Nothing
    without a model or a test half."""
    from .delivery import load_model

    if not (run_dir / MODEL_FILE).exists() or getattr(real, "x_test", None) is None:
        return {}, None
    model = load_model(run_dir)
    found = task.diagnostics(model.predict(real.x_test), real.y_test)
    fields: dict[str, Any] = {"delivered_test_metrics": model.metrics(real.x_test, real.y_test)}
    if task.name == "classification":  # the fields reports and scripts already read
        fields.update({"delivered_test_per_class": found["per_class_accuracy"],
                       "delivered_test_confusion": found["confusion"],
                       "delivered_test_top_confusions": found["top_confusions"]})
    else:
        fields["delivered_test_diagnostics"] = found
    return fields, task.diagnostics_figure(found, title="the delivered model on the real test half")


def copy_best_weights(run_dir: Path, checkpointer: Checkpointer) -> None:
    """A stable name for a persistent policy's delivered state (``best_learner_weights.npz``)."""
    name = checkpointer.files.get("best_weights_file")
    if name:
        source = run_dir / name
        atomic_write(run_dir / BEST_WEIGHTS_FILE, lambda handle: handle.write(source.read_bytes()))


def figures(config: Config, ledger: Ledger, env: gym.Env, real: Any, run_dir: Path,
            refine: Any = None, population: dict[str, Any] | None = None, task: Any = None) -> dict[str, Any]:
    """The best-score plot and the samples at the best parameters (refined too, with a refiner), and a
    population's parameter schedule; each saved in ``run_dir`` and returned by artifact name."""
    from .envs.generation import generate_batch
    from .plots import best_so_far_figure, samples_figure

    out: dict[str, Any] = {}
    figure = best_so_far_figure(ledger.history, title=f"{config.name}: {config.policy.name}",
                                score_name=getattr(task, "score", "score"), direction=ledger.objective.direction)
    if figure is not None:
        out["best_score.png"] = figure
    if population:
        from .plots import population_figure

        figure = population_figure(population, title=f"{config.name}: {config.policy.name} schedule")
        if figure is not None:
            out["population_schedule.png"] = figure
    if ledger.best is not None:
        params, ranges = ledger.best["candidate"]["params"], ledger.best["candidate"]["ranges"]
        x, y = generate_batch(env, params, ranges=ranges, n=400, seed=seeds.data_seed(config.seed, seeds.SAMPLES_FIGURE))
        labelled = len(real.x_val) > 0  # without labels (data.labels: 0) the real column is left out
        figure = samples_figure(x, y, real.x_val if labelled else None, real.y_val if labelled else None,
                                title=f"{config.name}: generated at the best parameters vs real")
        if figure is not None:
            out["best_samples.png"] = figure
        if refine is not None and x.ndim == 4:
            from .refiners.grid import refinement_grid

            # a simulator of brightness images (eyes) says so with ``image_cmap = "gray"``; digits are ink
            out["refinement_grid.png"] = refinement_grid(x, refine(x, y), real.inputs(), None,
                                                         cmap=getattr(env, "image_cmap", "gray_r"))
    for name, figure in out.items():
        figure.savefig(run_dir / name, dpi=100)
    return out
