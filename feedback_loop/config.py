"""Run configuration: a YAML file loaded into typed dataclasses, with ``--set a.b=value`` overrides.

Every field has a one-line docstring. Unknown keys and wrong types are errors that name the key
path and what was expected, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_types import ConfigError, _from_dict, coerce_value  # noqa: F401  (coerce_value: preflight's, via here)


@dataclass
class SimulatorConfig:
    id: str = "feedback_loop/GaussianMixture-v0"
    """Gymnasium id of the simulator (e.g. ``feedback_loop/Digits-v0``) or an import path ``module:Class``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the simulator's constructor."""


@dataclass
class DataConfig:
    real: str | None = None
    """Real data to score against: None for the simulator's own, a ``.npz`` file (x, y[, x_test, y_test,
    x_unlabeled]) or ``module:function``."""
    labels: int | None = None
    """Validation samples that keep their labels (stratified by class, chosen with the run's ``seed``); the
    other validation inputs become unlabeled real data. None: all; 0: none (then ``objective.score`` must
    not read labels)."""


@dataclass
class TaskConfig:
    name: str | None = None
    """What the learner learns: ``classification``, ``regression``, ``segmentation`` or ``module:Class`` (a
    ``feedback_loop.tasks.Task``); None: the simulator's ``task`` attribute, else classification."""
    options: dict[str, Any] = field(default_factory=dict)
    """The task's constructor options, e.g. regression's ``{score: rmse, loss: l1}`` (see ``feedback_loop.tasks``)."""


@dataclass
class LearnerConfig:
    model: str = "mlp"
    """Task model: ``mlp``, ``cnn``, ``fcn`` (dense prediction) or an import path ``module:function(input_shape,
    outputs)``, where ``outputs`` is the task's classes, targets or classes per pixel."""
    hidden: int | None = None
    """Hidden width of the built-in model (None: its default)."""
    samples: int = 1000
    """Generated samples each evaluation trains on."""
    epochs: int = 20
    """Training epochs over those samples."""
    batch_size: int = 64
    """Minibatch size."""
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    input_scale: float = 1.0
    """Inputs are multiplied by this before the model sees them (e.g. 1/16 for optdigits counts)."""
    seed: int = 0
    """Seed of the model's initial weights and minibatch order (the same for every candidate)."""
    persistent_samples: int | None = None
    """Samples per step of a persistent learner (adversarial, adr, pbt; uniform with ``persistent: true``);
    None: ``samples``."""
    persistent_epochs: int = 1
    """Passes over each step's samples for a persistent learner."""


@dataclass
class PolicyConfig:
    name: str = "optuna"
    """Policy: ``optuna``, ``random``, ``reinforce`` (searches, a fresh model per candidate), ``uniform``
    (uniform domain randomization), ``adversarial``, ``adr`` or ``pbt`` (persistent learners); see
    ``feedback_loop.policies.POLICIES``."""
    sampler: str = "tpe"
    """Optuna sampler when ``name: optuna``: ``tpe``, ``cmaes``, ``gp``, ``random`` or ``qmc``."""
    seed: int = 0
    """Seed of the policy's own randomness."""
    options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for the policy's constructor."""


@dataclass
class BudgetConfig:
    evaluations: int | None = 60
    """Stop after this many evaluations (None: no limit; then ``seconds`` must be set)."""
    seconds: float | None = None
    """Stop asking for new candidates after this many seconds of wall-clock time (None: no limit)."""
    train_samples: int | None = None
    """Training sample visits (samples × epochs) of every evaluation, re-scoring and the final model;
    the run stops when it is spent (None: no limit). Equal compute means equal ``train_samples``."""


@dataclass
class SearchConfig:
    rungs: int = 1
    """Fidelity rungs of successive halving (1: every evaluation at ``learner.samples`` × ``learner.epochs``)."""
    eta: int = 3
    """Each rung trains ``eta`` times the sample visits of the one below; the best 1/``eta`` move up."""
    repeats: int = 1
    """Race each candidate over this many seeds at full fidelity and score it by their mean (1: one
    evaluation each). The seeds are common to all candidates; with Optuna, ``WilcoxonPruner`` stops a
    candidate once it is clearly worse than the best on the same seeds. Needs ``rungs`` = 1."""


@dataclass
class SelectionConfig:
    candidates: int = 0
    """The search's best candidates re-scored on validation with fresh seeds before one is chosen (0: off)."""
    seeds: int = 2
    """Fresh data and learner seeds per re-scored candidate."""


@dataclass
class FinalConfig:
    samples: int | None = None
    """Fresh samples the delivered model trains on (None: ``learner.samples``)."""
    epochs: int | None = None
    """Its epochs (None: ``learner.epochs``)."""
    fresh_epochs: bool = False
    """Train it as a persistent learner trains: every epoch on ``samples`` newly rendered samples (so
    ``samples`` × ``epochs`` are rendered, none seen twice), scored on validation after each epoch,
    and the best epoch's model delivered. The same ``train_samples``; ``epochs`` times the rendering."""
    finetune: bool = False
    """Fine-tune the delivered model on the labelled real validation samples (``data.labels`` of them),
    its epochs chosen by cross-validation inside them; reported as ``finetuned_test_score`` and delivered
    as ``model_finetuned.npz``. The test half is never read to choose anything."""
    widen: float = 0.0
    """Widen the selected candidate's intervals (the simulator's range factors and per-sample ranges)
    toward their whole bounds by this fraction of the room left before the delivered model trains (0:
    as searched; 1: every factor uniform over its bounds). The search judges candidates on few samples,
    where narrow intervals pay; the delivered model trains on many more, where wider ones may (on the
    digits they did not: BENCHMARKS.md). Persistent and population policies deliver their own model and
    ignore it."""


@dataclass
class ObjectiveConfig:
    score: str = "task"
    """What is fed back: ``task`` (the task's score on the labelled validation samples), ``realism`` (a
    distance from the candidate's synthetic batch to the unlabeled real inputs; lower is better, no labels
    needed), ``both`` (the task score penalized by ``weight`` × realism, in the task's direction) or ``pareto``
    (both kept apart: a two-objective Optuna study (policy ``optuna`` or ``random``), the front logged as
    ``pareto_front.json`` and ``.png``, and its knee delivered; see ``objectives/pareto.py``)."""
    realism: str = "mmd"
    """The distance: ``mmd`` (unbiased MMD², Gaussian kernel, median-heuristic bandwidth) or ``c2st`` (held-out
    accuracy of a real-vs-synthetic classifier; 0.5 = indistinguishable)."""
    features: str = "raw"
    """Where the distance is measured: ``raw`` (the inputs), ``learner`` (the candidate's task model's
    penultimate features) or ``module:function`` (``f(x: ndarray) -> ndarray`` of shape (n, d))."""
    weight: float = 1.0
    """With ``score: both``: the realism's weight against the task score."""


@dataclass
class ResourcesConfig:
    ray_address: str | None = None
    """Ray cluster address (None: the run starts a Ray of its own, whatever else runs on the machine,
    unless ``RAY_ADDRESS`` is set as in a Ray job; ``auto``: join the ``ray start`` cluster this machine is in)."""
    generators: int = 1
    """Number of generator actors."""
    learners: int = 2
    """Number of learner actors (evaluations in parallel)."""
    generator_cpus: float | None = None
    """CPUs reserved by each generator actor (None: fit the machine: 0.5 where every actor has room, else
    all shares scaled down together to what Ray has)."""
    generator_gpus: float = 0.0
    """GPUs (fractional allowed) reserved by each generator actor."""
    learner_cpus: float | None = None
    """CPUs reserved by each learner actor (None: fit the machine: 0.75 where every actor has room, else
    scaled down with the others)."""
    learner_gpus: float | None = None
    """GPUs (fractional allowed) reserved by each learner actor (None: an equal part of the GPUs Ray has,
    shared with the refiner; 0 on a machine without GPUs)."""
    prefetch: int = 1
    """Extra candidates in flight per learner, so their data is generated while learners train."""
    shards: int = 1
    """Shards each candidate's data is split into (spread over the generator actors)."""
    placement: str = "none"
    """``pack``: one placement group per learner slot keeps its own generator and the learner on one node
    (``resources.generators`` is then one per learner); ``none``: Ray places actors freely."""
    max_restarts: int = 3
    """How often Ray restarts a dead generator or learner actor."""
    max_task_retries: int = 2
    """How often an evaluation whose actor died is retried before it counts as failed."""


@dataclass
class RefinerConfig:
    name: str = "none"
    """Refiner between generators and learners: ``none`` or ``simgan`` (``refiner: simgan`` is shorthand)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Refiner settings, e.g. SimGAN's ``{steps: 500, lambda_reg: 1.0, channels: 32}`` (see SimGANConfig)."""
    fit_samples: int = 4000
    """Synthetic samples (at nominal parameters) the refiner is fitted on, with the real validation inputs unlabeled."""
    refresh_every: int | None = None
    """Refit the refiner every N evaluations on data at the best parameters so far (None: fit once per run)."""
    refresh_steps: int = 100
    """Adversarial steps of each refresh."""
    cpus: float | None = None
    """CPUs reserved by the refiner actor (None: fit the machine, 0.5 where there is room)."""
    gpus: float | None = None
    """GPUs (fractional allowed) reserved by the refiner actor (None: a part of the GPUs Ray has; 0 without)."""


@dataclass
class TrackingConfig:
    tracking_uri: str | None = None
    """MLflow tracking URI (None: ``MLFLOW_TRACKING_URI`` or ``sqlite:///mlflow.db`` in the working directory;
    ``none``: no tracking at all)."""
    experiment: str | None = None
    """MLflow experiment name (None: the config's ``name``)."""


@dataclass
class Config:
    name: str = "feedback-loop"
    """Name of this configuration; also the default MLflow experiment and run-directory prefix."""
    seed: int = 0
    """Seed of the data generation (each candidate's data seed derives from it)."""
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    """The simulator whose parameters the policy tunes."""
    data: DataConfig = field(default_factory=DataConfig)
    """The real data the loop scores against."""
    task: TaskConfig = field(default_factory=TaskConfig)
    """What the learner learns and the score fed back (``task: regression`` is shorthand for its name)."""
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    """The task model trained on generated data."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """The policy that proposes parameters."""
    policy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-policy constructor options used by ``compare``, e.g. ``{reinforce: {population: 8}}``."""
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    """When to stop."""
    search: SearchConfig = field(default_factory=SearchConfig)
    """Multi-fidelity search (successive halving over samples × epochs)."""
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    """Noise-aware selection: re-scoring the best candidates with fresh seeds."""
    final: FinalConfig = field(default_factory=FinalConfig)
    """The delivered model, trained after the search at the selected parameters."""
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    """Ray actors and their resources."""
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    """What the loop feeds back: the task score, a label-free realism distance, or both."""
    refiner: RefinerConfig = field(default_factory=RefinerConfig)
    """Optional refiner (SimGAN) that makes synthetic samples look real before learners see them."""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    """MLflow tracking."""
    references: dict[str, str] = field(default_factory=dict)
    """Figures measured elsewhere, printed beside the delivered model's (quoted, with where they come from)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> "Config":
        """Check values that types alone cannot; raise ``ConfigError`` naming the field."""
        checks = [
            ("learner.samples", self.learner.samples, 1, None),
            ("learner.epochs", self.learner.epochs, 1, None),
            ("learner.batch_size", self.learner.batch_size, 1, None),
            ("learner.persistent_samples", self.learner.persistent_samples or 1, 1, None),
            ("learner.persistent_epochs", self.learner.persistent_epochs, 1, None),
            ("resources.generators", self.resources.generators, 1, None),
            ("resources.learners", self.resources.learners, 1, None),
            ("resources.prefetch", self.resources.prefetch, 0, None),
            ("resources.shards", self.resources.shards, 1, None),
            ("resources.max_restarts", self.resources.max_restarts, 0, None),
            ("resources.max_task_retries", self.resources.max_task_retries, 0, None),
            ("resources.generator_cpus", self.resources.generator_cpus, 0, None),
            ("resources.learner_cpus", self.resources.learner_cpus, 0, None),
            ("resources.generator_gpus", self.resources.generator_gpus, 0, None),
            ("resources.learner_gpus", self.resources.learner_gpus, 0, None),
        ]
        for path, value, low, high in checks:
            if value is not None and (value < low or (high is not None and value > high)):  # None: fitted at start
                allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
                raise ConfigError(f"{path}: value {value!r} is out of range; allowed: {allowed}")
        if self.resources.placement not in ("none", "pack"):
            raise ConfigError(f"resources.placement: unknown value {self.resources.placement!r}; choose none or pack")
        if self.refiner.name not in ("none", "simgan"):
            raise ConfigError(f"refiner.name: unknown refiner {self.refiner.name!r}; choose none or simgan")
        if self.refiner.fit_samples < 1:
            raise ConfigError(f"refiner.fit_samples: value {self.refiner.fit_samples} is out of range; allowed: >= 1")
        if self.refiner.refresh_every is not None and self.refiner.refresh_every < 1:
            raise ConfigError(f"refiner.refresh_every: value {self.refiner.refresh_every} is out of range; allowed: >= 1 or null")
        if not self.learner.lr > 0:
            raise ConfigError(f"learner.lr: value {self.learner.lr!r} must be > 0")
        if self.budget.evaluations is None and self.budget.seconds is None and self.budget.train_samples is None:
            raise ConfigError("budget: set budget.evaluations, budget.seconds or budget.train_samples; "
                              "with none of them the run never stops")
        for path, value, low in [("budget.train_samples", self.budget.train_samples, 1),
                                 ("search.rungs", self.search.rungs, 1), ("search.eta", self.search.eta, 2),
                                 ("selection.candidates", self.selection.candidates, 0),
                                 ("selection.seeds", self.selection.seeds, 1),
                                 ("final.samples", self.final.samples, 1), ("final.epochs", self.final.epochs, 1)]:
            if value is not None and value < low:
                raise ConfigError(f"{path}: value {value!r} is out of range; allowed: >= {low}")
        self._validate_objective()
        if not 0.0 <= self.final.widen <= 1.0:
            raise ConfigError(f"final.widen: value {self.final.widen!r} is out of range; allowed: 0 to 1")
        if not 1 <= self.search.repeats <= 100:
            raise ConfigError(f"search.repeats: value {self.search.repeats!r} is out of range; allowed: 1 to 100")
        if self.selection.seeds > 100:
            raise ConfigError(f"selection.seeds: value {self.selection.seeds} is out of range; allowed: 1 to 100")
        if self.budget.evaluations is not None and self.budget.evaluations < 1:
            raise ConfigError(f"budget.evaluations: value {self.budget.evaluations!r} is impossible; allowed: >= 1")
        if self.budget.seconds is not None and not self.budget.seconds > 0:
            raise ConfigError(f"budget.seconds: value {self.budget.seconds!r} is impossible; allowed: > 0")
        if self.resources.shards > self.learner.samples:
            raise ConfigError(
                f"resources.shards: {self.resources.shards} shards cannot split learner.samples="
                f"{self.learner.samples}; allowed: <= learner.samples"
            )
        return self

    def _validate_objective(self) -> None:
        """The objective's names and the labels budget (combinations with the policy: preflight)."""
        from .objectives import check_objective_config

        if self.data.labels is not None and self.data.labels < 0:
            raise ConfigError(f"data.labels: value {self.data.labels} is out of range; allowed: >= 0, or null for all")
        check_objective_config(self)


def config_from_dict(data: dict[str, Any]) -> Config:
    """A validated ``Config`` from a plain dict (as parsed from YAML)."""
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got {type(data).__name__}")
    if isinstance(data.get("refiner"), str):  # ``refiner: simgan`` shorthand
        data = {**data, "refiner": {"name": data["refiner"]}}
    if isinstance(data.get("task"), str):  # ``task: regression`` shorthand
        data = {**data, "task": {"name": data["task"]}}
    return _from_dict(Config, data).validate()


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as YAML (``3``, ``0.5``, ``null``)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set budget.evaluations=20")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r}: {err}") from err
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or defaults when ``path`` is None) and apply ``--set`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from err
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, got {type(loaded).__name__}")
        data = loaded
    for assignment in overrides or []:
        apply_override(data, assignment)
    return config_from_dict(data)


def dump_config(config: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
