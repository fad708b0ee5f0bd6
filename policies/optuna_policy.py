"""``OptunaPolicy``: any Optuna sampler (TPE, CMA-ES, GP, random) behind the ask/tell contract.

The study lives in a journal file in the run directory, so it survives the driver. The sampler is
re-created with a seed derived from the number of trials before every ask: its random state then
depends only on the study history, and a resumed run asks exactly what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Callable

import optuna
from gymnasium import spaces
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from .base import Candidate, Direction, Outcome, Policy
from .space import ParamCodec

SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    # constant_liar: pending trials count as bad ones, so concurrent asks spread out.
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True),
    "cmaes": lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "qmc": lambda seed: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False),
}


def _distributions(param_space: spaces.Dict) -> dict[str, BaseDistribution]:
    codec = ParamCodec(param_space)
    dists: dict[str, BaseDistribution] = {
        name: FloatDistribution(low, high) for name, low, high in codec.continuous
    }
    dists.update({name: CategoricalDistribution(list(range(start, start + n))) for name, start, n in codec.discrete})
    return dists


PRUNERS = ("successive_halving", "hyperband", "wilcoxon", "none")
FIDELITY_PRUNERS = ("successive_halving", "hyperband")  # steps are fidelity rungs (``search.rungs``)
SEED_PRUNERS = ("wilcoxon",)  # steps are a raced candidate's seeds (``search.repeats``)


def make_pruner(name: str, reduction_factor: int, max_resource: int, p_threshold: float = 0.1) -> optuna.pruners.BasePruner:
    """Optuna's pruner by name: over resource steps 1, eta, eta², ... (see ``HalvingScheduler``), or,
    for ``wilcoxon``, over the seeds a candidate is raced on (see ``RacingScheduler``)."""
    if name == "wilcoxon":
        if not 0.0 < p_threshold < 1.0:
            raise ValueError(f"policy.options.p_threshold: value {p_threshold!r} is out of range; allowed: "
                             "between 0 and 1 (exclusive)")
        with warnings.catch_warnings():  # experimental in Optuna since 3.6; its behaviour is tested here
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # n_startup_steps=2: a signed-rank test on fewer pairs says nothing
            return optuna.pruners.WilcoxonPruner(p_threshold=p_threshold, n_startup_steps=2)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=reduction_factor)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource,
                                              reduction_factor=reduction_factor)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"policy.options.pruner: unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")


class OptunaPolicy(Policy):
    """Optuna ask/tell over the simulator's parameters; ``sampler`` is one of ``SAMPLERS``.

    Under successive halving (``search.rungs`` > 1) every rung's result reaches the study through
    ``trial.report`` and ``pruner`` (``successive_halving``, ``hyperband`` or ``none``) decides who goes
    on; ``reduction_factor`` and ``max_resource`` are set by the loop from ``search``. Under racing
    (``search.repeats`` > 1) every seed's score is reported with the seed as the step, and ``wilcoxon``
    (the loop's default there) stops a candidate once the signed-rank test finds it worse than the
    best trial on the same seeds at ``p_threshold``; the trial's value is its mean.

    With ``pareto`` (``objective.score: pareto``) the study has two directions, the task score's and
    realism's (minimized), and each trial is told ``(score, metrics["realism"])``; Optuna prunes no
    multi-objective trial, so the loop refuses rungs and races with it."""

    uses_sampler = True
    multi_objective = True
    # sampler: from policy.sampler (one way to say it)
    loop_options = frozenset({"sampler", "storage_path", "study_name", "reduction_factor", "max_resource", "enqueue",
                              "pareto"})

    @classmethod
    def default_options(cls, config: Any) -> dict[str, Any]:
        # the pruner's steps are what the search reports: seeds when racing, fidelity rungs otherwise
        return {"sampler": config.policy.sampler,
                "pruner": "wilcoxon" if config.search.repeats > 1 else "successive_halving"}

    @classmethod
    def check_options(cls, options: dict[str, Any], config: Any) -> None:
        """A pruner's steps must be what the search reports: seeds when racing, fidelity rungs otherwise."""
        pruner, repeats = options["pruner"], config.search.repeats
        if "p_threshold" in options and pruner not in SEED_PRUNERS:
            raise ValueError(f"policy.options.p_threshold: value {options['p_threshold']!r} is used only by the pruner "
                             f"{' or '.join(map(repr, SEED_PRUNERS))} (search.repeats >= 2), but the pruner is "
                             f"{pruner!r}; allowed: remove it, or race candidates")
        if repeats > 1 and pruner in FIDELITY_PRUNERS:
            raise ValueError(f"policy.options.pruner: {pruner!r} prunes over fidelity rungs, but search.repeats "
                             f"{repeats} races seeds at one fidelity; allowed: {', '.join(SEED_PRUNERS)} or none")
        if repeats == 1 and pruner in SEED_PRUNERS:
            raise ValueError(f"policy.options.pruner: {pruner!r} compares a candidate's seeds, but search.repeats "
                             "is 1; allowed: search.repeats >= 2 with it, or another pruner")

    @classmethod
    def loop_kwargs(cls, *, env: Any, config: Any, run_dir: Any) -> dict[str, Any]:
        from pathlib import Path

        from ..envs import starting_points

        search = config.search
        # the search starts where a user would: at nominal and, for a simulator that declares its
        # randomized factors, at uniform DR (the widest member of the family)
        return {"enqueue": starting_points(env.param_space, env.nominal_params, getattr(env, "ranges", {})),
                "sampler": config.policy.sampler, "storage_path": str(Path(run_dir) / "optuna.journal"),
                "reduction_factor": search.eta, "max_resource": search.eta ** (search.rungs - 1),
                "pareto": config.objective.score == "pareto"}

    def __init__(
        self,
        *,
        param_space: spaces.Dict,
        nominal_params: dict[str, Any],
        seed: int,
        direction: Direction = "maximize",
        sampler: str = "tpe",
        storage_path: str | None = None,
        study_name: str = "feedback-loop",
        pruner: str = "successive_halving",
        reduction_factor: int = 3,
        max_resource: int = 9,
        enqueue: list[dict[str, Any]] | None = None,
        p_threshold: float = 0.1,
        pareto: bool = False,
    ) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if sampler not in SAMPLERS:
            raise ValueError(f"policy.sampler: unknown sampler {sampler!r}; choose one of {sorted(SAMPLERS)}")
        optuna.logging.set_verbosity(logging.WARNING)
        self.sampler_name = sampler
        self._distributions = _distributions(param_space)
        storage = JournalStorage(JournalFileBackend(storage_path)) if storage_path else optuna.storages.InMemoryStorage()
        self.pareto = bool(pareto)
        directions = {"directions": [direction, "minimize"]} if self.pareto else {"direction": direction}
        self.study = optuna.create_study(
            storage=storage, study_name=study_name, **directions, load_if_exists=True,
            sampler=SAMPLERS[sampler](seed), pruner=make_pruner(pruner, reduction_factor, max_resource, p_threshold),
        )
        self.supports_pruning = pruner != "none" and not self.pareto
        if not self.study.trials:  # a new study starts at these points (e.g. nominal, uniform DR)
            for params in enqueue or []:
                self.study.enqueue_trial({k: v for k, v in params.items() if k in self._distributions})
        self._trial_of: dict[int, int] = {}  # candidate id -> trial number
        self._orphans: list[int] = []  # trials asked but unknown to the restored state

    def ask(self, n: int = 1) -> list[Candidate]:
        candidates = []
        for _ in range(n):
            if self._orphans:
                # A trial asked just before an interruption: hand it out again instead of a new one.
                number = self._orphans.pop(0)
                params = self.study.trials[number].params
            else:
                self.study.sampler = SAMPLERS[self.sampler_name](self.seed * 100_003 + len(self.study.trials))
                trial = self.study.ask(self._distributions)
                number, params = trial.number, dict(trial.params)
            cid = self._new_id()
            self._trial_of[cid] = number
            candidates.append(Candidate(id=cid, params=dict(params), info={"trial_number": number}))
        return candidates

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        number = self._trial_of.pop(candidate.id, candidate.info.get("trial_number"))
        if number is None:
            raise KeyError(f"candidate {candidate.id} was not asked by this policy")
        realism = outcome.metrics.get("realism") if self.pareto else None
        if outcome.ok and self.pareto and realism is None:
            raise ValueError(f"candidate {candidate.id}: objective.score 'pareto' needs the outcome's realism, "
                             "and its metrics have none")
        if outcome.ok:
            values = [float(outcome.score), float(realism)] if self.pareto else float(outcome.score)
            self.study.tell(number, values, skip_if_finished=True)
        else:
            self.study.tell(number, state=TrialState.FAIL, skip_if_finished=True)

    def report(self, candidate: Candidate, step: int, outcome: Outcome) -> bool:
        number = self._trial_of.get(candidate.id, candidate.info.get("trial_number"))
        if number is None:
            raise KeyError(f"candidate {candidate.id} was not asked by this policy")
        if not outcome.ok:
            self.tell(candidate, outcome)
            return False
        frozen = self.study.trials[number]
        if frozen.state.is_finished():  # pruned just before an interruption: it stays stopped
            self._trial_of.pop(candidate.id, None)
            return False
        decided = frozen.user_attrs.get(f"go_on_{step}")
        if decided is None:
            # The public Trial handle of a running trial (FrozenTrial keeps the storage id it needs).
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            trial.report(float(outcome.score), step)
            decided = not trial.should_prune()
            # the pruner's answer is kept with the trial: a job redone after a resume gets the same one
            trial.set_user_attr(f"go_on_{step}", decided)
        if not decided:
            self._trial_of.pop(candidate.id, None)
            self.study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
        return bool(decided)

    def state_dict(self) -> dict[str, Any]:
        return {"next_id": self._next_id, "trial_of": {str(k): v for k, v in self._trial_of.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self._trial_of = {int(k): int(v) for k, v in state["trial_of"].items()}
        known = set(self._trial_of.values())
        self._orphans = [
            t.number for t in self.study.trials if t.state == TrialState.RUNNING and t.number not in known
        ]
