"""Who trains in a run: a fresh model per candidate, or persistent learners with N members.

``Topology`` is the one place that knows the difference. Per candidate (Optuna, REINFORCE, random
search, uniform DR) every job trains a fresh model and the final stage delivers one. Persistent
(ADR, VADRA, persistent uniform DR: N = 1; PBT: N > 1) keeps N learners training on while the policy
moves the parameters under them; each member's state is paired with the checkpoint that counts its
steps, and the run delivers a state it reached. The loop asks the topology where a result's state is
kept, what the executor starts from and what the run delivers, and never branches on the policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checkpoint import Checkpointer, member_field
from .types import Candidate, Fidelity, Job, Result

logger = logging.getLogger(__name__)
BEST_STATE = "best_weights_file"  # the checkpoint field of the best validation state any member reached


@dataclass(frozen=True)
class Topology:
    """``persistent``: learners that train on (else a fresh model per job); ``members``: how many."""

    persistent: bool = False
    members: int = 1

    @classmethod
    def of(cls, policy: Any) -> "Topology":
        """The topology a policy asks for (its ``learner_mode`` and, when persistent, its ``members``)."""
        if policy.learner_mode != "persistent":
            return cls()
        return cls(persistent=True, members=max(1, int(getattr(policy, "members", 1))))

    @property
    def population(self) -> bool:
        """More than one persistent learner (PBT)."""
        return self.persistent and self.members > 1

    def learners(self, configured: int) -> int:
        """Learner actors: one per member when persistent, else the configured number."""
        return self.members if self.persistent else configured

    # -- the run's states -------------------------------------------------------------------------
    def initial_states(self, checkpointer: Checkpointer) -> dict[int, dict[str, Any] | None]:
        """Each persistent member's state as the checkpoint left it (None: start afresh); {} per candidate."""
        if not self.persistent:
            return {}
        return {m: checkpointer.load_file(member_field(m)) for m in range(self.members)}

    def history_fields(self, job: Job) -> dict[str, Any]:
        """What a population's history line adds: the member and its generation."""
        return {"member": job.member, "generation": job.candidate.info.get("generation")} if self.population else {}

    def keep_state(self, checkpointer: Checkpointer, result: Result, improved: bool) -> None:
        """A persistent step's state goes with the checkpoint that counts it (and as the best, when it is)."""
        if result.state and result.job.stage != "final":
            checkpointer.stage(member_field(result.job.member), result.state)
            if improved:  # model selection on validation, as for any learner
                checkpointer.stage(BEST_STATE, result.state)

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, run_dir: Path, checkpointer: Checkpointer, prepared: Any, ledger: Any, policy: Any,
                executor: Any | None) -> dict[str, Any]:
        """What a persistent run delivers as ``model.npz`` and its scores (tested when ``executor`` is
        given); a per-candidate run's final stage has delivered already (nothing to add).

        The state: the best validation state any member reached (``best_state``: every persistent policy
        but a population asked for ``best_member``), or the latest state of the member with the best
        validation score at the end (``best_member``). Under ``objective.score: realism`` a single
        learner delivers its latest state (a population defaults to ``best_member``): realism compares
        data, and states trained for different lengths are not comparable on it."""
        from . import report
        from .objectives import latest_state_only

        if not self.persistent:
            return {}
        out: dict[str, Any] = {}
        if self.population:
            out.update(population=policy.report(), delivered_member=None)
        chosen = self._chosen_state(ledger, policy, out.get("population"),
                                    latest=latest_state_only(prepared.config.objective.score))
        if chosen is None or not checkpointer.files.get(chosen["field"]):
            return out
        if chosen["field"] == BEST_STATE:
            report.copy_best_weights(run_dir, checkpointer)
        state = checkpointer.load_file(chosen["field"])
        test_score = None
        if executor is not None:
            try:
                test_score = executor.test_score(state)
            except Exception as err:  # a dead learner: report without this score
                logger.warning("the delivered model could not be tested: %s", err)
        steps = Fidelity(ledger.samples_generated, prepared.config.learner.persistent_epochs)
        report.save_delivered(run_dir, state, prepared, chosen["candidate"], steps)
        out.update(delivered_val_score=chosen["score"], delivered_test_score=test_score, test_score=test_score,
                   model_file=report.MODEL_FILE)
        if self.population:
            out.update(delivered_member=chosen["candidate"].member, delivered_generation=chosen["generation"])
        elif chosen["field"] != BEST_STATE:
            out.update(delivered_state="latest")  # a single learner's latest state (realism)
        return out

    def _chosen_state(self, ledger: Any, policy: Any, population: dict[str, Any] | None,
                      latest: bool = False) -> dict[str, Any] | None:
        """The checkpoint field of the delivered state, with its candidate, validation score and generation
        (``latest``: a single learner's latest state instead of its best)."""
        if getattr(policy, "deliver", "best_state") == "best_member" and population is not None:
            member = policy.best_member()
            if member is None:
                return None
            params = population["members"][member]["params"]
            generation = max((e["generation"] for e in population["schedule"]  # its latest scored generation
                              if e["member"] == member and e["score"] is not None), default=None)
            return {"field": member_field(member), "candidate": Candidate(id=-1, params=params, member=member),
                    "score": population["members"][member]["latest_score"], "generation": generation}
        if latest and population is None:
            last = next((e for e in reversed(ledger.history) if e["stage"] == "search" and e["status"] == "ok"), None)
            if last is None:
                return None
            candidate = Candidate(id=last["id"], params=last["params"], ranges=last["ranges"], member=0)
            return {"field": member_field(0), "candidate": candidate, "score": last["score"], "generation": None}
        if ledger.best is None:
            return None
        best = Candidate.from_dict(ledger.best["candidate"])
        return {"field": BEST_STATE, "candidate": best, "score": ledger.best_score,
                "generation": best.info.get("generation")}
