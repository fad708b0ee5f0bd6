"""MLflow tracking: one parent run per loop run, one nested child run per evaluation.

Only the driver writes to MLflow, through one ``MlflowClient`` (the fluent API is not
thread-safe and SQLite locks under concurrent writers).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from .callbacks import Callback
from .policies import POLICIES
from .types import Candidate, Outcome, Result

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
PARENT_TAG = "mlflow.parentRunId"
# summary.json fields logged as the parent run's final_* metrics
FINAL_METRICS = ("best_score", "test_score", "oracle_score", "oracle_test_score", "train_samples",
                 "delivered_realism", "delivered_objective_score", "finetuned_test_score")
# MLflow 3's UI opens an experiment by its kind: GenAI (traces, judges) or model training (the runs table)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


class TrackingError(RuntimeError):
    """The MLflow store cannot be reached or used; the message says which URI and why."""


def resolve_tracking_uri(configured: str | None) -> str:
    """Config value, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``; SQLite paths made absolute."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str(Path(uri[len(prefix):]).resolve())
    return uri


def _artifact_root(uri: str) -> str | None:
    """Keep artifacts next to a local SQLite store rather than in the working directory."""
    if uri.startswith("sqlite:////"):
        return (Path(uri[len("sqlite:///"):]).parent / "mlartifacts").as_uri()
    return None


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast on an MLflow server that does not answer (the client would retry for minutes)."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return  # it answered: a server is there (maybe behind a proxy without /health)
    except (urllib.error.URLError, OSError) as err:
        raise TrackingError(
            f"tracking.tracking_uri: cannot reach the MLflow server at {uri!r} ({getattr(err, 'reason', err)}). "
            "Start it (mlflow server --host 127.0.0.1 --port 5000) or leave tracking_uri unset for sqlite:///mlflow.db."
        ) from err


# MLflow refuses a param name with any other character (a config's free-form `references` keys may have them)
_NOT_IN_PARAM_NAME = re.compile(r"[^A-Za-z0-9_\-. :/]")


def param_name(key: str) -> str:
    """``key`` as an MLflow param name: characters MLflow refuses become ``_``."""
    return _NOT_IN_PARAM_NAME.sub("_", key)[:250]


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return out


class Tracker:
    """The single MLflow writer of a run."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.tracking_uri = tracking_uri
        check_reachable(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        try:
            self.experiment_id = self._experiment(experiment)
        except Exception as err:  # MLflow raises many types for an unreachable or broken store
            raise TrackingError(
                f"tracking.tracking_uri: cannot use MLflow store {tracking_uri!r}: {err}. "
                "Check the URI, or that the MLflow server is running."
            ) from err
        self.parent_run_id: str | None = None

    def _experiment(self, name: str) -> str:
        """The experiment's id, created (or, when it exists, tagged) as a model-training experiment.

        A kind someone chose explicitly (not one MLflow inferred) is left as it is.
        """
        tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return self.client.create_experiment(name, artifact_location=_artifact_root(self.tracking_uri), tags=tags)
        kind = found.tags.get(EXPERIMENT_KIND_TAG, "")
        if not kind or kind.endswith("_inferred") or kind == "no_inferred_type":
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        return found.experiment_id

    # -- parent run --------------------------------------------------------------------------
    def start_run(self, config: Any, run_id: str, run_dir: Path, extra_tags: dict[str, str]) -> str:
        """The parent run of a new loop run: its config as params, tags to find and compare it by."""
        tags = {"policy": config.policy.name, "simulator": config.simulator.id, "run_dir": str(Path(run_dir).resolve()),
                "feedback_loop_run_id": run_id, **({"sampler": config.policy.sampler}
                                                   if POLICIES[config.policy.name].uses_sampler else {}), **extra_tags}
        return self.start_parent(f"{config.name}-{run_id}", config.to_dict(), tags)

    def start_parent(self, run_name: str, config: dict[str, Any], tags: dict[str, str]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.parent_run_id = run.info.run_id
        names: dict[str, str] = {}
        for key, value in flatten(config).items():
            name = param_name(key)
            if name in names:  # two keys that differ only in refused characters: keep both apart
                name = param_name(f"{name[:240]}_{len(names)}")
            names[name] = value[:6000]
        params = [Param(k, v) for k, v in names.items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(self.parent_run_id, params=params[i:i + 100])
        return self.parent_run_id

    def reopen_parent(self, run_id: str) -> None:
        self.parent_run_id = run_id
        self.client.update_run(run_id, status="RUNNING")

    def log_progress(self, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.parent_run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()]
        )

    def finish_parent(self, summary: dict[str, Any], status: str) -> None:
        run_id = self.parent_run_id
        metrics = {k: summary[k] for k in FINAL_METRICS if isinstance(summary.get(k), (int, float))}
        score = summary.get("score_name")
        if score:  # the delivered model's scores under the task's own names too (final_delivered_test_mae)
            metrics.update({f"delivered_{half}_{score}": summary[f"delivered_{half}_score"] for half in ("val", "test")
                            if isinstance(summary.get(f"delivered_{half}_score"), (int, float))})
        now = int(time.time() * 1000)
        tags = [RunTag(k, json.dumps(summary.get(k))[:5000]) for k in
                ("best_params", "selected_params", "best_intervals", "selected_intervals") if summary.get(k)]
        self.client.log_batch(run_id, metrics=[Metric(f"final_{k}", float(v), now, 0) for k, v in metrics.items()], tags=tags)
        self.client.log_dict(run_id, summary, "summary.json")
        self.client.set_terminated(run_id, status=status)

    def log_records(self, prefix: str, records: list[dict[str, float]]) -> None:
        """Per-step records ``{"step": i, name: value, ...}`` as parent metrics ``prefix + name``."""
        now = int(time.time() * 1000)
        metrics = [Metric(f"{prefix}{k}", float(v), now, int(r.get("step", i)))
                   for i, r in enumerate(records) for k, v in r.items() if k != "step"]
        for i in range(0, len(metrics), 900):
            self.client.log_batch(self.parent_run_id, metrics=metrics[i:i + 900])

    def log_population(self, population: dict[str, Any]) -> None:
        """A population's parameter schedule and lineage on the parent run: metrics
        ``member<m>/<param>`` and ``member<m>/score`` per generation (the step), ``member<m>/copied_from``
        at each generation where member m copied another, and both as ``population.json``."""
        now = int(time.time() * 1000)
        metrics = []
        for entry in population.get("schedule", []):
            prefix, step = f"member{entry['member']}/", int(entry["generation"])
            values = {**{k: v for k, v in entry["params"].items() if isinstance(v, (int, float))},
                      **({"score": entry["score"]} if entry.get("score") is not None else {})}
            metrics += [Metric(prefix + k, float(v), now, step) for k, v in values.items()]
        metrics += [Metric(f"member{e['member']}/copied_from", float(e["copied_from"]), now, int(e["generation"]))
                    for e in population.get("lineage", [])]
        for i in range(0, len(metrics), 900):
            self.client.log_batch(self.parent_run_id, metrics=metrics[i:i + 900])
        self.client.log_dict(self.parent_run_id, population, "population.json")

    def set_status(self, status: str) -> None:
        self.client.set_terminated(self.parent_run_id, status=status)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        self.client.log_figure(self.parent_run_id, figure, artifact_file)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        self.client.log_dict(self.parent_run_id, data, artifact_file)

    # -- child runs, one per evaluation ----------------------------------------------------------
    def log_evaluation(self, step: int, candidate: Candidate, outcome: Outcome, job: dict[str, Any] | None = None) -> str:
        """A child run for one result; ``job`` adds its key, stage and rung as tags."""
        job = job or {}
        tags = {PARENT_TAG: self.parent_run_id, "candidate_id": str(candidate.id), "status": outcome.status,
                **{k: str(v) for k, v in job.items()}}
        if outcome.error:
            tags["error"] = outcome.error[:5000]
        name = f"eval-{candidate.id}" if job.get("stage", "search") == "search" else f"{job['stage']}-{candidate.id}"
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        now = int(time.time() * 1000)
        params = [Param(k, str(v)) for k, v in candidate.params.items()]
        if candidate.ranges:
            params.append(Param("ranges", json.dumps(candidate.ranges)[:6000]))
        values = {"step": step, "samples": outcome.samples, "seconds": outcome.seconds}
        if outcome.score is not None:
            values["score"] = outcome.score
        if outcome.train_loss is not None:
            values["train_loss"] = outcome.train_loss
        values.update(outcome.metrics)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
        self.client.log_batch(run.info.run_id, metrics=metrics, params=params)
        self.client.set_terminated(run.info.run_id, status="FINISHED" if outcome.ok else "FAILED")
        return run.info.run_id

    def child_runs(self) -> list[Any]:
        runs, token = [], None
        while True:
            page = self.client.search_runs(
                [self.experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{self.parent_run_id}'",
                max_results=1000, page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def drop_children_except(self, kept_jobs: set[str]) -> int:
        """Delete child runs of jobs the checkpoint does not hold (logged just before a crash)."""
        dropped = 0
        seen: set[str] = set()
        for run in self.child_runs():
            key = run.data.tags.get("job", "")
            if key not in kept_jobs or key in seen:
                self.client.delete_run(run.info.run_id)
                dropped += 1
            else:
                seen.add(key)
        return dropped


class NullTracker:
    """``tracking_uri: none``: the loop runs without MLflow (unit tests, throwaway runs); every
    tracking call does nothing and run ids are None."""

    experiment_id = None
    parent_run_id = None

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def make_tracker(tracking_uri: str, experiment: str) -> Tracker | NullTracker:
    return NullTracker() if tracking_uri == "none" else Tracker(tracking_uri, experiment)


class MlflowLogger(Callback):
    """The loop's MLflow writer: a child run per result, the parent's progress metrics, the end."""

    def __init__(self, tracker: Tracker, ledger: Any) -> None:
        self.tracker = tracker
        self.ledger = ledger

    def on_result(self, result: Result, entry: dict[str, Any]) -> None:
        candidate, outcome = result.job.candidate, result.outcome
        step = entry["step"]
        job = result.job
        tags = {"job": job.key, "stage": job.stage, "rung": job.rung, "repeat": job.repeat}
        if candidate.member is not None:  # a population's member (and whom it copied before this step)
            tags.update(member=candidate.member, **({"copied_from": candidate.copy_from}
                                                    if candidate.copy_from is not None else {}))
        self.tracker.log_evaluation(step, candidate, outcome, tags)
        metrics = {"samples_generated": entry["samples_generated"], "train_samples": entry["train_samples"]}
        # Numbers a policy puts on its candidates (e.g. ADR's entropy) are logged for monitoring.
        metrics.update({f"policy_{k}": v for k, v in candidate.info.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if job.stage != "search":  # re-scoring and the final model: their own curves
            metrics = {"train_samples": entry["train_samples"], **({f"{job.stage}_score": outcome.score}
                                                                   if outcome.ok else {})}
        elif outcome.ok:
            metrics["score"] = outcome.score
            if candidate.member is not None:
                metrics[f"member{candidate.member}_score"] = outcome.score
        if job.stage == "search" and entry["best_score"] is not None:
            metrics["best_score"] = entry["best_score"]
        self.tracker.log_progress(step, metrics)

    def log_refiner_losses(self, records: list[dict[str, float]]) -> None:
        self.tracker.log_records("refiner_", records)

    def on_end(self, summary: dict[str, Any]) -> None:
        self.tracker.finish_parent(summary, "FINISHED" if summary["status"] == "finished" else "FAILED")

    def on_stop(self, status: str) -> None:
        self.tracker.set_status(status)
