"""Schedulers decide what the executor runs next: the search (FIFO, successive halving or racing), then the
stages after it (re-scoring with fresh seeds, the delivered model). ``build_scheduler`` picks them
from a config."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..config import Config
from ..ledger import Ledger
from ..policies import Policy
from ..types import Fidelity
from .base import Budget, Scheduler
from .fifo import FifoScheduler
from .halving import HalvingScheduler, rung_fidelities
from .racing import RacingScheduler
from .stages import StagedScheduler
from .widening import widen_candidate


def fidelities(config: Config) -> tuple[Fidelity, Fidelity]:
    """The search's full fidelity and the delivered model's."""
    learner, final = config.learner, config.final
    return (Fidelity(learner.samples, learner.epochs),
            Fidelity(final.samples or learner.samples, final.epochs or learner.epochs))


def reserve(config: Config) -> int:
    """Training sample visits kept for re-scoring and the final model of a per-candidate search. It is
    computed from ``selection``/``final`` whatever the policy; a persistent policy has neither stage, and
    its budget keeps nothing back (``build_scheduler``)."""
    top, final = fidelities(config)
    return StagedScheduler.reserve(config.selection.candidates, config.selection.seeds, top, final)


def build_scheduler(config: Config, policy: Policy, ledger: Ledger, elapsed: Callable[[], float],
                    range_params: Mapping[str, Any]) -> Scheduler:
    """A persistent policy's steps (FIFO), or the search and its stages for a per-candidate policy.
    ``range_params``: the simulator's randomized factors (``Simulator.ranges``, ``{}`` without), which
    ``final.widen`` widens."""
    learner, selection = config.learner, config.selection
    if policy.learner_mode == "persistent":  # its model is trained by the search itself
        step = Fidelity(learner.persistent_samples or learner.samples, learner.persistent_epochs)
        return FifoScheduler(policy, step, Budget(config.budget, ledger, elapsed), kind="step")
    top, final = fidelities(config)
    stages = dict(candidates=selection.candidates, seeds=selection.seeds, top=top, learner_seed=learner.seed,
                  fresh_epochs=config.final.fresh_epochs, objective=ledger.objective,
                  deliver=(lambda winner: widen_candidate(winner, config.final.widen, policy.param_space, range_params))
                  if config.final.widen else None)
    if not policy.searches and config.budget.train_samples:
        # uniform DR needs no search: the whole budget goes into one model on fresh uniform-DR data
        whole = Fidelity(max(1, config.budget.train_samples // final.epochs), final.epochs)
        return StagedScheduler(None, ledger.ranking, **{**stages, "candidates": 0}, final=whole,
                               choose=lambda: policy.ask(1)[0])
    budget = Budget(config.budget, ledger, elapsed, reserve=reserve(config))
    search: Scheduler
    if config.search.repeats > 1:
        search = RacingScheduler(policy, top, config.search.repeats, budget, learner.seed)
    elif config.search.rungs > 1:
        search = HalvingScheduler(policy, rung_fidelities(top, config.search.rungs, config.search.eta),
                                  config.search.eta, budget, ledger.objective)
    else:
        search = FifoScheduler(policy, top, budget)
    if config.objective.score == "pareto":  # the fronts in knee order are the shortlist; the knee wins
        from ..objectives import pareto

        direction = ledger.objective.direction
        return StagedScheduler(search, lambda: pareto.ranking(ledger, direction), **stages, final=final,
                               pick=lambda means: pareto.pick_rescored(means, direction,
                                                                       pareto.search_points(ledger.history)))
    return StagedScheduler(search, ledger.ranking, **stages, final=final)


__all__ = ["Budget", "Scheduler", "FifoScheduler", "HalvingScheduler", "RacingScheduler", "StagedScheduler", "build_scheduler",
           "fidelities", "reserve", "rung_fidelities", "widen_candidate"]
