"""``StagedScheduler``: the search, then noise-aware selection, then the delivered model.

1. **search**: the search scheduler (FIFO or successive halving) until its budget is spent;
2. **selection**: the search's best ``selection.candidates`` (by the highest fidelity they reached,
   then score) are re-scored on the real *validation* half with ``selection.seeds`` fresh data and
   learner seeds at the search's full fidelity; the best mean wins (a best-of-N single score is
   partly luck), or, under ``objective.score: pareto``, the knee of the re-scored means (``pick``);
3. **final**: the delivered model, trained at its own fidelity (``final.samples`` × ``final.epochs``)
   on fresh data at the selected parameters (their intervals widened by ``final.widen``), scored on
   validation (and the test half, for the report); with ``final.fresh_epochs``, on new data every
   epoch, delivering its best validation epoch.

Every stage is jobs like the search's, so they run on the same actors, are counted in the same
budget, logged in MLflow and checkpointed: a run stopped in any stage resumes where it was.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import seeds
from ..types import Candidate, Fidelity, Job, Objective, Outcome, Result
from .base import Scheduler

FINAL_SEED_ID = seeds.FINAL  # data stream of the delivered model (negative: never a candidate id)
selection_seed_id = seeds.selection  # data stream of a candidate's k-th re-scoring


class StagedScheduler(Scheduler):
    """See the module docstring. ``ranking()`` gives the search's candidates, best first."""

    def __init__(self, search: Scheduler | None, ranking: Callable[[], list[Candidate]], *, candidates: int,
                 seeds: int, top: Fidelity, final: Fidelity, learner_seed: int,
                 choose: Callable[[], Candidate] | None = None, fresh_epochs: bool = False,
                 deliver: Callable[[Candidate], Candidate] | None = None, objective: Objective | None = None,
                 pick: Callable[[dict[int, tuple[float | None, float | None]]], int | None] | None = None) -> None:
        self.search = search
        self.objective = objective or Objective()  # the re-scored mean's direction
        self.ranking = ranking
        self.candidates, self.seeds = candidates, seeds
        self.top, self.final = top, final
        self.learner_seed = learner_seed
        self.choose = choose  # no search (uniform DR): the one candidate to train the model on
        self.fresh_epochs = fresh_epochs  # the delivered model's data: new every epoch
        self.deliver = deliver  # the winner -> what the delivered model trains on (final.widen)
        # re-scored {id: (mean score, mean realism)} -> the winner's id (objective.score: pareto's knee);
        # None: the best mean score wins
        self.pick = pick
        self.phase = "search" if search is not None else "final"
        self.queue: list[Job] = []
        self.rescored: dict[int, list[float | None]] = {}  # candidate id -> selection scores
        self.rescored_realism: dict[int, list[float | None]] = {}  # ... and their realism (with ``pick``)
        self.selected: Candidate | None = None
        self.delivered: Result | None = None

    @property
    def searching(self) -> bool:
        return self.phase == "search"

    @staticmethod
    def reserve(candidates: int, seeds: int, top: Fidelity, final: Fidelity) -> int:
        """Training sample visits the stages after the search spend."""
        return candidates * seeds * top.train_samples + final.train_samples

    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        if self.phase == "search":
            jobs = self.search.next_jobs(free, [j for j in in_flight if j.stage == "search"])
            if jobs or any(j.stage == "search" for j in in_flight):
                return jobs
            self._begin_selection()
        if self.phase == "final" and self.selected is None:
            winner = self.choose() if self.choose else self._winner()
            if winner is None:  # nothing succeeded: there is nothing to deliver
                self.phase = "done"
                return []
            self.selected = self.deliver(winner) if self.deliver else winner
            self.queue.append(Job(self.selected, self.final, seed_id=FINAL_SEED_ID, with_test=True,
                                  model_seed=seeds.final_model(self.learner_seed), stage="final",
                                  fresh_epochs=self.fresh_epochs))
        jobs, self.queue = self.queue[:free], self.queue[free:]
        return jobs

    def _begin_selection(self) -> None:
        shortlist = self.ranking()[: self.candidates] if self.seeds > 0 else []
        self.phase = "selection" if shortlist else "final"
        for candidate in shortlist:
            self.rescored[candidate.id] = []
            for k in range(self.seeds):
                self.queue.append(Job(candidate, self.top, seed_id=selection_seed_id(candidate.id, k),
                                      model_seed=seeds.selection_model(self.learner_seed, k), stage="selection"))

    def _winner(self) -> Candidate | None:
        """The shortlisted candidate with the best mean re-scored validation score (a maximized score: a
        failure counts 0; a minimized one: a candidate with a failure comes last); without re-scoring,
        the search's best."""
        ranked = self.ranking()
        if not self.rescored:
            return ranked[0] if ranked else None
        if self.pick is not None:
            chosen = self.pick({cid: (self._mean(cid), self._mean_realism(cid)) for cid in self.rescored})
            return next((c for c in ranked if c.id == chosen), ranked[0] if ranked else None)
        best = max(self.rescored, key=lambda cid: -float("inf") if (mean := self._mean(cid)) is None
                   else self.objective.utility(mean))
        return next(c for c in ranked if c.id == best)

    def _mean(self, candidate_id: int) -> float | None:
        scores = self.rescored[candidate_id]
        if self.objective.direction == "minimize" and (None in scores or not scores):
            return None  # no error can stand for a failure
        return sum(s or 0.0 for s in scores) / max(1, len(scores))

    def _mean_realism(self, candidate_id: int) -> float | None:
        values = self.rescored_realism.get(candidate_id, [])
        if not values or None in values:
            return None
        return sum(values) / len(values)

    def selection_report(self) -> list[dict[str, Any]]:
        """Each re-scored candidate's fresh validation scores and their mean (for the summary), and the
        realism's where it was measured."""
        rows = []
        for cid, scores in self.rescored.items():
            row = {"candidate_id": cid, "scores": scores, "mean": self._mean(cid)}
            if self.rescored_realism.get(cid):
                row.update(realism=self.rescored_realism[cid], mean_realism=self._mean_realism(cid))
            rows.append(row)
        return rows

    def tell(self, result: Result) -> None:
        stage = result.job.stage
        if stage == "search":
            self.search.tell(result)
        elif stage == "selection":
            self.rescored.setdefault(result.job.candidate.id, []).append(
                result.outcome.score if result.outcome.ok else None)
            if self.pick is not None:  # the knee reads the realism beside the score
                self.rescored_realism.setdefault(result.job.candidate.id, []).append(
                    result.outcome.metrics.get("realism") if result.outcome.ok else None)
            if sum(map(len, self.rescored.values())) == len(self.rescored) * self.seeds:
                self.phase = "final"
        else:
            self.delivered = result
            self.phase = "done"

    def requeue(self, jobs: list[Job]) -> None:
        if self.search is not None:
            self.search.requeue([j for j in jobs if j.stage == "search"])
        self.queue[:0] = [j for j in jobs if j.stage != "search"]

    def state_dict(self, in_flight: list[Job]) -> dict[str, Any]:
        return {"phase": self.phase,
                "search": self.search.state_dict([j for j in in_flight if j.stage == "search"]) if self.search else None,
                "pending": [j.to_dict() for j in in_flight if j.stage != "search"] + [j.to_dict() for j in self.queue],
                "rescored": {str(c): s for c, s in self.rescored.items()},
                "rescored_realism": {str(c): s for c, s in self.rescored_realism.items()},
                "selected": self.selected.to_dict() if self.selected else None,
                "delivered": self.delivered.outcome.to_dict() if self.delivered else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.phase = state["phase"]
        if self.search is not None:
            self.search.load_state_dict(state["search"])
        self.queue = [Job.from_dict(j) for j in state["pending"]]
        self.rescored = {int(c): list(s) for c, s in state["rescored"].items()}
        self.rescored_realism = {int(c): list(s) for c, s in state.get("rescored_realism", {}).items()}
        self.selected = Candidate.from_dict(state["selected"]) if state["selected"] else None
        if state.get("delivered"):
            self.delivered = Result(Job(self.selected, self.final, FINAL_SEED_ID, stage="final",
                                        fresh_epochs=self.fresh_epochs),
                                    Outcome.from_dict(state["delivered"]))
