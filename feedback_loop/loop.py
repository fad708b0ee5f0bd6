"""The closed loop: ask → submit → wait → tell → record → checkpoint, until the budget is spent.

``LoopRunner`` wires the parts and its ``run`` reads top to bottom. Each part has one job:
the ``Scheduler`` asks the policy and decides what to submit, the ``Executor`` runs jobs (Ray actors
or this process), the ``Ledger`` counts and journals outcomes, the ``Checkpointer`` makes every told
outcome durable, and ``Callback``s log (MLflow, the one writer) and show progress.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from . import report
from .objectives import summary as objective_summary
from .callbacks import Callback, UserHook
from .checkpoint import CHECKPOINT_FILE, Checkpointer, atomic_write_text, load_checkpoint, member_field
from .config import Config, ConfigError, dump_config, load_config
from .executors import Executor, LearnerLostError, RayLostError
from .executors.resources import check_reachable
from .interrupts import StopRequest
from .ledger import Ledger
from .preflight import PreparedRun, build_policy, prepare_run
from .progress import ProgressBar
from .schedulers import build_scheduler, fidelities
from .topology import Topology
from .tracking import MlflowLogger, make_tracker, resolve_tracking_uri
from .types import Candidate, Outcome, Result

CONFIG_FILE = "config.yaml"
SUMMARY_FILE = report.SUMMARY_FILE
FIRST_FAILURES = 3  # a run whose first evaluations (this many, or all that fit in flight) all fail stops


class EarlyFailureError(RuntimeError):
    """The first evaluations of a run all failed: something is wrong for every candidate."""


class LoopRunner:
    """Runs (or resumes) one closed-loop optimization described by a ``Config`` in ``run_dir``.

    ``executor`` replaces the Ray actor pool: an ``Executor`` (e.g. an ``InProcessExecutor`` in
    tests), or a class taking ``RayExecutor``'s arguments (a benchmark's instrumented subclass).
    ``final_scores=False`` skips the scores that need extra training or the test half at the end: the
    oracle (the model trained on the real validation data) and a persistent run's delivered test score.
    The search's stages (re-scoring, the delivered model) run either way.
    """

    def __init__(self, config: Config, run_dir: str | Path, *, tracking_uri: str | None = None,
                 extra_tags: dict[str, str] | None = None, executor: Executor | None = None,
                 prepared: PreparedRun | None = None, final_scores: bool = True) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.tracking_uri = resolve_tracking_uri(tracking_uri or config.tracking.tracking_uri)
        self.extra_tags = dict(extra_tags or {})
        self.prepared = prepared or prepare_run(config)  # every bad input is refused here, before Ray
        self.env, self.real = self.prepared.env, self.prepared.real
        self.executor = executor
        self.final_scores = final_scores
        self.ledger = Ledger(self.prepared.objective)  # best and ranking in the fed-back score's direction
        self.checkpointer = Checkpointer(self.run_dir)
        self.saved: dict[str, Any] | None = None  # the checkpoint of a resumed run
        check_reachable(config.resources.ray_address)  # fail fast, before anything is written

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "LoopRunner":
        """A runner for an existing run directory (for ``resume``)."""
        run_dir = Path(run_dir)
        if not (run_dir / CONFIG_FILE).is_file():
            raise ConfigError(f"{str(run_dir)!r} is not a run directory: it has no {CONFIG_FILE}")
        tracking_uri = load_checkpoint(run_dir / CHECKPOINT_FILE)["tracking_uri"]
        runner = cls(load_config(run_dir / CONFIG_FILE), run_dir, tracking_uri=tracking_uri)
        runner.saved = runner.checkpointer.load()
        return runner

    # -- wiring --------------------------------------------------------------------------------
    def _open(self) -> None:
        """Policy, scheduler, tracker and executor for a new run, or as the checkpoint left them."""
        cfg = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.policy = build_policy(self.prepared, self.run_dir)
        self.topology = Topology.of(self.policy)  # fresh models per candidate, or persistent members
        self.scheduler = build_scheduler(cfg, self.policy, self.ledger, self._elapsed,
                                         getattr(self.prepared.env, "ranges", {}))
        self.tracker = make_tracker(self.tracking_uri, cfg.tracking.experiment or cfg.name)
        if self.saved is None:
            if (self.run_dir / CHECKPOINT_FILE).exists():
                raise ConfigError(f"--run-dir: {str(self.run_dir)!r} already holds a run; continue it with "
                                  f"'feedback-loop resume {self.run_dir}' or choose another directory")
            dump_config(cfg, self.run_dir / CONFIG_FILE)
            self.run_id, self.status = uuid.uuid4().hex[:8], "running"
            task = self.prepared.task  # tagged, so that runs of one task and score are found together
            tags = {"task": task.name, "score_name": task.score, "score_direction": task.direction, **self.extra_tags,
                    **({"config_warnings": "\n".join(self.prepared.warnings)} if self.prepared.warnings else {})}
            self.mlflow_run_id = self.tracker.start_run(cfg, self.run_id, self.run_dir, tags)
        else:
            self.run_id, self.mlflow_run_id = self.saved["run_id"], self.saved["mlflow_run_id"]
            self.status = self.saved["status"] if self.saved["status"] == "finished" else "running"
            self.ledger.load_state_dict(self.saved["ledger"], self.run_dir)
            self.policy.load_state_dict(self.saved["policy"])
            self.scheduler.load_state_dict(self.saved["scheduler"])
            self.tracker.reopen_parent(self.mlflow_run_id)
            self.tracker.drop_children_except(self.ledger.completed_keys())
        self.mlflow = MlflowLogger(self.tracker, self.ledger)
        if not isinstance(self.executor, Executor):
            from .executors.ray_pool import RayExecutor

            self.executor = (self.executor or RayExecutor)(
                cfg, self.real, input_shape=self.prepared.input_shape, task=self.prepared.task,
                topology=self.topology, run_id=self.run_id, run_dir=self.run_dir,
                nominal_params=self.env.nominal_params, on_refiner_losses=self.mlflow.log_refiner_losses)
        if self.saved is None:
            self._checkpoint()
        else:  # e.g. the refiner refits done, so that a resumed run does not refit again
            self.executor.load_state_dict(self.saved.get("executor") or {})

    # -- the loop ------------------------------------------------------------------------------
    def run(self, *, progress: bool = True,
            on_outcome: Callable[[Candidate, Outcome], None] | None = None) -> dict[str, Any]:
        """Run until the budget is spent; returns the summary (also written to ``summary.json``)."""
        self._open()
        if self.status == "finished":
            return json.loads((self.run_dir / SUMMARY_FILE).read_text())
        self._started = time.monotonic()
        self._unlogged: list[tuple[Result, dict]] = []  # told, not yet in MLflow
        self.callbacks: list[Callback] = [self.mlflow, *([ProgressBar(self.config.budget, self.ledger, self._elapsed)]
                                                         if progress else []),
                                          *([UserHook(on_outcome)] if on_outcome is not None else [])]
        try:
            with StopRequest() as stop:
                try:
                    self._run_jobs(stop)
                except (KeyboardInterrupt, EarlyFailureError, LearnerLostError, RayLostError) as err:
                    self._stop("FAILED" if isinstance(err, EarlyFailureError) else "KILLED")
                    raise
            return self._finish()
        finally:
            for callback in self.callbacks:
                callback.close()
            self.executor.close()

    def _run_jobs(self, stop: StopRequest) -> None:
        # persistent members start from the states paired with the checkpoint (none per candidate)
        self.executor.start(self.topology.initial_states(self.checkpointer))
        self._fill()
        self._checkpoint()
        while self.executor.in_flight():
            results = self.executor.wait(timeout=0.5)
            for result in results:
                self._unlogged.append((result, self._tell(result)))
            if not stop.requested:  # hand the learners their next work before the slow bookkeeping
                self._fill()
            self._log_unlogged()
            if results:
                self.executor.after_results(self.ledger, searching=self.scheduler.searching)
            self._checkpoint()  # one checkpoint holds the told results and the new pending jobs
            for callback in self.callbacks:
                callback.after_checkpoint(results)
            if stop.requested:  # Ctrl-C: finished results are kept; what is in flight is redone on resume
                raise KeyboardInterrupt
            self._stop_if_all_failed(len(results))

    def _stop(self, status: str) -> None:
        """Ctrl-C, a lost learner or nothing but failures: what is in flight is cancelled (it stays
        pending in the checkpoint and is redone on resume), the MLflow run is marked ``status``, and
        the checkpoint is left resumable."""
        self.scheduler.requeue(self.executor.cancel())
        self.status = "interrupted"
        self._log_unlogged()
        self._checkpoint()
        for callback in self.callbacks:
            callback.on_stop(status)

    def _fill(self) -> None:
        """Submit jobs until the executor has as many in flight as it wants (or the budget is spent)."""
        in_flight = self.executor.in_flight()
        for job in self.scheduler.next_jobs(self.executor.capacity - len(in_flight), in_flight):
            self.executor.submit(job)
        for member, state in self.executor.take_copies().items():  # exploited: the member's state is the copy
            if state:
                self.checkpointer.stage(member_field(member), state)

    def _tell(self, result: Result) -> dict[str, Any]:
        """Tell the scheduler (and so the policy), record in the ledger; keep a learner's state with it."""
        self.scheduler.tell(result)
        job = result.job
        if not result.outcome.ok and result.outcome.samples:  # it reached the learner: charge what it may have used
            result.outcome.train_samples = job.fidelity.train_samples
        entry, improved = self.ledger.record(job.candidate, result.outcome, self._elapsed(), stage=job.stage, extra={
            "job": job.key, "rung": job.rung, "repeat": job.repeat, "fidelity": [job.fidelity.samples, job.fidelity.epochs],
            **self.topology.history_fields(job),
            **objective_summary.history_fields(self.config, self.prepared.task, result.outcome.metrics)})
        if job.stage == "final" and result.state:  # the delivered model (a redone job writes the same weights)
            report.save_delivered(self.run_dir, result.state, self.prepared, job.candidate, job.fidelity,
                                  job.fresh_epochs, result.outcome.metrics.get("best_epoch"))
        self.topology.keep_state(self.checkpointer, result, improved)
        return entry

    def _log_unlogged(self) -> None:
        """MLflow gets every told result before the checkpoint that counts it."""
        while self._unlogged:
            for callback in self.callbacks:
                callback.on_result(*self._unlogged[0])
            self._unlogged.pop(0)

    def _stop_if_all_failed(self, new: int) -> None:
        first = min(FIRST_FAILURES, self.executor.capacity, self.config.budget.evaluations or FIRST_FAILURES)
        if self.ledger.first_all_failed(first, new):
            raise EarlyFailureError(
                f"the first {first} evaluations all failed, so the run stopped; the first error: "
                f"{next(iter(self.ledger.errors))}. Fix the cause, then continue with 'feedback-loop resume {self.run_dir}'")

    def _elapsed(self) -> float:
        started = getattr(self, "_started", None)
        return self.ledger.elapsed_seconds + (0.0 if started is None else time.monotonic() - started)

    def _checkpoint(self) -> None:
        self.ledger.journal(self.run_dir)  # the history lines first, then the checkpoint counting them
        ledger = {**self.ledger.state_dict(), "elapsed_seconds": self._elapsed()}
        in_flight = self.executor.in_flight()
        self.checkpointer.save({
            "run_id": self.run_id, "mlflow_run_id": self.mlflow_run_id, "tracking_uri": self.tracking_uri,
            "status": self.status, "ledger": ledger, "policy": self.policy.state_dict(),
            "scheduler": self.scheduler.state_dict(in_flight), "executor": self.executor.state_dict()},
            step=self.ledger.evaluations)

    def _finish(self) -> dict[str, Any]:
        self.ledger.elapsed_seconds = self._elapsed()
        self._started = None
        summary = report.summarize(self.config, self.ledger, self.scheduler, self.prepared.task)
        report.add_intervals(summary, self.env)
        if self.final_scores:  # the oracle, trained as the delivered model is
            summary.update(report.oracle_scores(self.executor, self.env, fidelities(self.config)[1],
                                                self.config.final.fresh_epochs and not self.topology.persistent,
                                                self.prepared.task.score))
        # a persistent run delivers a state it reached (a per-candidate run's final stage has delivered)
        summary.update(self.topology.deliver(self.run_dir, self.checkpointer, self.prepared, self.ledger, self.policy,
                                             self.executor if self.final_scores else None))
        summary.update(objective_summary.summary_fields(  # what choices were made on; the realism reached
            self.config, self.prepared.task, summary,
            objective_summary.delivered_metrics(self.scheduler, self.ledger, summary), self.real))
        if self.config.objective.score == "pareto":  # the front, the rule and the point it delivered
            summary.update(self._pareto_front(summary))
        if "population" in summary:  # members, lineage and schedule
            self.tracker.log_population(summary["population"])
        summary.update({
            "wall_seconds": round(self.ledger.elapsed_seconds, 3), "mlflow_tracking_uri": self.tracking_uri,
            "mlflow_experiment_id": self.tracker.experiment_id, "mlflow_run_id": self.mlflow_run_id,
            "run_dir": str(self.run_dir.resolve()),
            "warnings": list(self.prepared.warnings),  # settings that did nothing (config_rules), [] when none
            "status": "finished" if summary.get("delivered_val_score") is not None
            or summary.get("delivered_realism") is not None else "failed",
        })
        if self.config.final.finetune and summary.get("model_file"):  # on the labelled real samples, CV inside them
            from .finetune import finetune_delivered

            summary.update(finetune_delivered(self.run_dir, self.prepared, seed=self.config.seed))
        diagnostics, figure = report.delivered_diagnostics(self.run_dir, self.real, self.prepared.task)
        summary.update(diagnostics)
        if figure is not None:
            name = "delivered_per_class.png" if self.prepared.task.name == "classification" else "delivered_diagnostics.png"
            figure.savefig(self.run_dir / name, dpi=100)
            self.tracker.log_figure(figure, name)
        refiner = getattr(self.executor, "refiner", None)
        for name, figure in report.figures(self.config, self.ledger, self.env, self.real, self.run_dir,
                                           refiner.refine_now if refiner else None,
                                           summary.get("population"), self.prepared.task).items():
            self.tracker.log_figure(figure, name)
        for callback in self.callbacks:
            callback.on_end(summary)
        atomic_write_text(self.run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
        self.status = "finished"
        self._checkpoint()
        return summary

    def _pareto_front(self, summary: dict[str, Any]) -> dict[str, Any]:
        """``pareto_front.json`` and ``.png`` (run directory and MLflow); the summary's fields about them."""
        from .objectives import pareto

        front = pareto.report(self.ledger.history, self.ledger.objective.direction, self.prepared.task.score,
                              getattr(self.scheduler.selected, "id", None), summary.get("selection"))
        figure = pareto.write(self.run_dir, front)
        self.tracker.log_dict(front, pareto.FRONT_JSON)
        self.tracker.log_figure(figure, pareto.FRONT_PLOT)
        return {"pareto_front": pareto.FRONT_JSON, "pareto_front_size": len(front["front"]),
                "pareto_rule": pareto.RULE}


def default_run_dir(config: Config) -> Path:
    return Path("runs") / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"


def run_loop(config: Config, run_dir: str | Path | None = None, *, progress: bool = True,
             tracking_uri: str | None = None) -> dict[str, Any]:
    """Python API: run a config to the end and return its summary."""
    return LoopRunner(config, run_dir or default_run_dir(config), tracking_uri=tracking_uri).run(progress=progress)


def resume_loop(run_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Python API: continue an interrupted run from its checkpoint."""
    return LoopRunner.from_run_dir(run_dir).run(progress=progress)
