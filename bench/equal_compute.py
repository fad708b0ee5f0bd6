"""Equal compute: is the model the loop delivers better than one trained on uniform-DR data, given the
same training budget (``budget.train_samples``: sample visits = samples × epochs, search included)?

For every seed, on the real *test* half (touched only here, to report):
- ``loop``: the config's policy (default: TPE with successive halving) with noise-aware selection and
  the delivered model, all inside ``--train-samples``;
- ``persistent``: a persistent policy (default ``adr``) spending the same budget on its one model;
- ``population``: a population policy (default ``pbt``) spending the same budget on its members' steps,
  delivering as its policy's ``deliver`` says (``--population ''`` skips it); its learners' CPU shares are
  lowered to fit this machine when the config's would not;
- ``uniform_dr``: one model on fresh uniform-DR data with the whole budget; its samples/epochs split
  is chosen on the *validation* half among ``--uniform-epochs`` (that choice is not charged to it);
- ``uniform_persistent``: uniform DR trained as the persistent policies train — one learner, a fresh
  uniform-DR batch every step, the best validation state delivered — so that a persistent or
  population policy's gain is measured against the same training regime without the parameter moves
  (``--no-uniform-persistent`` skips it);
- ``uniform_fresh``: uniform DR as one model trained the way the loop's delivered model is (the
  loop's ``uniform`` path: ``final.epochs``, and with ``final.fresh_epochs`` new data every epoch and
  the best validation epoch kept), with the whole budget (``--no-uniform-fresh`` skips it);
- ``nominal``: one model as ``uniform_dr``, at the simulator's nominal parameters;
- ``oracle``: the same learner trained to convergence on the real validation half (epochs chosen by
  3-fold cross-validation inside it), and an RBF SVM (C chosen the same way): the strongest references;
- with ``--single-fidelity-evaluations N`` (the issue's 120): the config's policy without successive
  halving, N evaluations at full fidelity (``learner.samples`` × ``learner.epochs``; seed 0); the
  config's search with its successive halving given that run's compute (N full-fidelity evaluations
  plus a delivered model, no re-scoring; seeds 0–2); and how much sooner each of those reached the
  single-fidelity run's best validation score at full fidelity
  (``speedup_to_single_fidelity_result``: the single-fidelity search's seconds over the multi-fidelity
  search's; None where a run never reached it). The same for the loop runs above, whose search has
  only what re-scoring and the delivered model leave of ``--train-samples``
  (``loop_speedup_to_single_fidelity_result``). What each delivers is reported beside
  (``single_fidelity_delivered_test_acc``, ``multi_fidelity_delivered_test_acc``, their
  ``_train_samples`` and ``_wall_seconds``). The single best of N noisy evaluations is partly luck,
  so the same is measured with a noise-robust target (``--rescore-seeds`` K, default 4): every
  incumbent of each search (its best full-fidelity evaluation so far, each time it changed) is trained
  again with K fresh seeds and scored on validation; the target is the single-fidelity search's final
  incumbent so re-scored, and a search reaches it when its incumbent first re-scores at least that
  high (``rescored_speedup_to_single_fidelity_result``; ``multi_fidelity_final_incumbent_rescored`` is
  what each search ends with). These stages run with ``--skip loop`` too.

Every stage is kept in ``--run-dir`` (loop runs resume; the references are stored with the settings
they were computed at, one-model uniform DR, nominal and the oracle per seed), so an interrupted
benchmark, or one rerun to add a stage or seeds, trains nothing twice.
A stored run made with other settings (a changed example config, say) is refused, naming each
differing key, never read back as this one's.
Run directories are named after the budget and the simulator's own ``version``, so runs of a changed
simulator are never read back as this one's. ``--skip loop,one_model,references`` leaves stages out
(their fields are then absent or None).

Prints one JSON line last. ``python bench/equal_compute.py --train-samples 3000000 --seeds 3``
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

import ray

from feedback_loop.checkpoint import atomic_write
from feedback_loop.config import ConfigError, load_config
from feedback_loop.executors.resources import ensure_ray
from feedback_loop.final_eval import learner_dict, mean_std, oracle_choice, real_test_accuracy, synthetic_accuracy
from feedback_loop.ledger import read_history
from feedback_loop.loop import SUMMARY_FILE, LoopRunner
from feedback_loop.policies import POLICIES, UniformDR
from feedback_loop.schedulers import fidelities
from feedback_loop.simulators import make_simulator, simulator_version
from feedback_loop.tracking import flatten


def run_loop(config_path: str, overrides: list[str], run_dir: Path, tracking_uri: str | None) -> dict:
    """A loop run to the end (a finished one is read back; an interrupted one resumed), refused when
    ``run_dir`` holds a run made with other settings (a changed example config, say)."""
    config = refuse_other_settings(config_path, overrides, run_dir)
    if (run_dir / SUMMARY_FILE).is_file():
        return json.loads((run_dir / SUMMARY_FILE).read_text())
    if (run_dir / "checkpoint.json").is_file():
        return LoopRunner.from_run_dir(run_dir).run(progress=False)
    return LoopRunner(config, run_dir, tracking_uri=tracking_uri).run(progress=sys.stderr.isatty())


def refuse_other_settings(config_path: str, overrides: list[str], run_dir: Path) -> Any:
    """The run's config; exits naming each differing key when ``run_dir`` already holds a run made
    with other settings."""
    config = load_config(config_path, overrides)
    if (run_dir / "config.yaml").is_file():
        try:
            changed = settings_changed(load_config(run_dir / "config.yaml"), config)
        except ConfigError as err:  # written by another version of feedback-loop
            changed = [f"its config.yaml no longer loads: {err}"]
        if changed:
            raise SystemExit(f"{run_dir} holds a run made with other settings ({'; '.join(changed)}); "
                             "move it away or choose another --run-dir")
    return config


def settings_changed(stored: Any, wanted: Any) -> list[str]:
    """``key: stored -> wanted`` for every config key whose value differs, but for those that do not
    say what is trained: the quoted references, where it is tracked, the machine's resources (the
    population's CPU shares follow the machine), and a persistent policy's stages after a search it
    does not have."""
    ignored = {"references", "tracking", "resources"}
    if POLICIES[wanted.policy.name].learner_mode_for(wanted.policy.options) == "persistent":
        ignored |= {"search", "selection", "final"}
    a, b = flatten(dataclasses.asdict(stored)), flatten(dataclasses.asdict(wanted))
    keys = [k for k in sorted(set(a) | set(b)) if k.split(".")[0] not in ignored]
    return [f"{k}: {a.get(k)} -> {b.get(k)}" for k in keys if a.get(k) != b.get(k)]


def record(result: dict, name: str, values: list[float | None]) -> None:
    """``name`` (the mean), ``name_std`` and ``name_per_seed`` into ``result``; a run that delivered
    nothing is None in ``name_per_seed`` and left out of the mean (and counted in ``name_missing``)."""
    present = [v for v in values if v is not None]
    result[f"{name}_missing"] = len(values) - len(present)
    if not present:
        result[name] = result[f"{name}_std"] = None
        result[f"{name}_per_seed"] = values
        return
    mean, std = mean_std(present)
    result[name], result[f"{name}_std"] = round(mean, 4), round(std, 4)
    result[f"{name}_per_seed"] = [None if v is None else round(v, 4) for v in values]


def evaluations_at(run_dir: Path, fidelity: list[int]) -> list[dict]:
    """A run's successful search evaluations at ``fidelity``, in the order they were told (history entries)."""
    return [e for e in read_history(run_dir)
            if e["stage"] == "search" and e["score"] is not None and e.get("fidelity") == fidelity]


def search_at_full_fidelity(run_dir: Path, fidelity: list[int]) -> list[tuple[float, float]]:
    """``(elapsed seconds, validation score)`` of a run's successful search evaluations at ``fidelity``."""
    return [(e["elapsed"], e["score"]) for e in evaluations_at(run_dir, fidelity)]


def seconds_to_reach(evaluations: list[tuple[float, float]], target: float) -> float | None:
    """When the first evaluation scoring at least ``target`` was told (None: never)."""
    return next((elapsed for elapsed, score in evaluations if score >= target - 1e-12), None)


def incumbents(run_dir: Path, fidelity: list[int]) -> list[dict]:
    """The search's best evaluation at ``fidelity`` so far, each time it changed (history entries:
    ``elapsed``, ``id``, ``params``, ``ranges``, ``score``). Higher is better, as for every score here."""
    changes: list[dict] = []
    for entry in evaluations_at(run_dir, fidelity):
        if not changes or entry["score"] > changes[-1]["score"]:
            changes.append(entry)
    return changes


def rescore_incumbents(run_dir: Path, changes: list[dict], fidelity: list[int], sim, learner: dict,
                       seeds: list[int]) -> dict[str, float]:
    """Each of a run's incumbents (``changes``, from ``incumbents``) trained again at ``learner``'s
    fidelity with ``seeds`` fresh data and learner seeds, its mean real *validation* accuracy by
    candidate id (stored in the run directory: a rerun trains nothing twice)."""
    key = {"seeds": seeds, "learner": learner, "fidelity": fidelity, "incumbents": [c["id"] for c in changes]}

    def compute() -> dict[str, float]:
        refs = {str(c["id"]): [synthetic_accuracy.remote(sim.id, sim.kwargs, c["params"], c["ranges"], learner,
                                                         seed, "validation") for seed in seeds] for c in changes}
        return {cid: float(sum(ray.get(r)) / len(r)) for cid, r in refs.items()}

    return stored(run_dir / "rescored-incumbents.json", key, compute)


def seconds_to_rescored(changes: list[dict], rescored: dict[str, float], target: float) -> float | None:
    """When the search's incumbent first had a re-scored mean of at least ``target`` (None: never)."""
    return seconds_to_reach([(c["elapsed"], rescored[str(c["id"])]) for c in changes], target)


def single_fidelity_run(args, root: Path, simulator: str) -> tuple[list[str], Path]:
    """The overrides and run directory of the config's policy at full fidelity for
    ``--single-fidelity-evaluations`` evaluations (seed 0)."""
    n = args.single_fidelity_evaluations
    # only its search is measured: its delivered model is trained as searched (final.widen 0)
    return ([*args.set, f"budget.evaluations={n}", "budget.train_samples=null", "budget.seconds=null",
             "search.rungs=1", "search.repeats=1", "selection.candidates=0", "seed=0", "policy.seed=0", "final.widen=0"],
            root / f"single-fidelity-{n}{simulator}")


def multi_fidelity_runs(args, root: Path, simulator: str, config) -> list[tuple[list[str], Path]]:
    """The overrides and run directories of the config's search (successive halving as configured)
    given the single-fidelity run's compute: its N full-fidelity evaluations plus its delivered
    model, no re-scoring (as that run has none); seeds 0 to 2 (fewer with fewer ``--seeds``)."""
    n = args.single_fidelity_evaluations
    top, final = fidelities(config)
    compute = n * top.train_samples + final.train_samples
    return [([*args.set, f"budget.train_samples={compute}", "budget.evaluations=null", "budget.seconds=null",
              "selection.candidates=0", f"seed={s}", f"policy.seed={s}", "final.widen=0"],
             root / f"multi-fidelity-{n}{simulator}-seed{s}") for s in range(min(3, args.seeds))]


def single_fidelity_speedup(args, run: tuple[list[str], Path], multi: list[tuple[list[str], Path]],
                            loop_dirs: list[Path], full: list[int], sim, learner: dict) -> dict:
    """The single-fidelity run (``single_fidelity_run``), the multi-fidelity runs given its compute
    (``multi_fidelity_runs``), and how much sooner each of those, and each loop run, reached its best
    validation score at full fidelity; with ``--rescore-seeds``, also ``rescored_speedup``'s fields."""
    n = args.single_fidelity_evaluations
    overrides, run_dir = run
    summary = run_loop(args.config, overrides, run_dir, args.tracking_uri)
    multis = [run_loop(args.config, o, d, args.tracking_uri) for o, d in multi]
    # what each delivers: the single-fidelity run's one seed beside the multi-fidelity runs' (and the loop's)
    test, wall = summary.get("delivered_test_score"), summary.get("wall_seconds")
    out: dict = {"single_fidelity_evaluations": n,
                 "single_fidelity_delivered_test_acc": None if test is None else round(test, 4),
                 "single_fidelity_train_samples": summary.get("train_samples"),
                 "single_fidelity_wall_seconds": None if wall is None else round(wall, 1)}
    record(out, "multi_fidelity_delivered_test_acc", [s["delivered_test_score"] for s in multis])
    record(out, "multi_fidelity_wall_seconds", [s["wall_seconds"] for s in multis])
    out["multi_fidelity_train_samples"] = [s["train_samples"] for s in multis]
    out["multi_fidelity_evaluations"] = [s["evaluations"] for s in multis]
    single = search_at_full_fidelity(run_dir, full)
    if not single:  # every evaluation failed, or a persistent policy (no full-fidelity evaluations)
        return {**out, "speedup_to_single_fidelity_result": None,
                "single_fidelity_note": "no successful evaluation at full fidelity"}
    target = max(score for _, score in single)
    seconds = seconds_to_reach(single, target)
    out.update(single_fidelity_best_val=round(target, 4), single_fidelity_seconds_to_best=round(seconds, 1))
    for name, dirs in (("multi_fidelity", [d for _, d in multi]), ("loop", loop_dirs)):
        reached = [seconds_to_reach(search_at_full_fidelity(d, full), target) for d in dirs]
        out[f"{name}_seconds_to_single_fidelity_result"] = [None if r is None else round(r, 1) for r in reached]
        out[f"{name}_speedup_to_single_fidelity_result"] = [None if r is None else round(seconds / r, 2)
                                                            for r in reached]
    # the field: the multi-fidelity search given the same compute as the single-fidelity one
    out["speedup_to_single_fidelity_result"] = out["multi_fidelity_speedup_to_single_fidelity_result"]
    if args.rescore_seeds:
        out.update(rescored_speedup(run_dir, [d for _, d in multi], full, sim, learner, args.rescore_seeds))
    return out


def rescored_speedup(single_dir: Path, multi_dirs: list[Path], full: list[int], sim, learner: dict,
                     n_seeds: int) -> dict:
    """The speed-up with a noise-robust target: what each search has found is its incumbent's mean
    over ``n_seeds`` fresh seeds (``rescore_incumbents``), not its luckiest single evaluation. The
    target is the single-fidelity search's final incumbent so measured; each search reaches it when its
    incumbent first re-scores at least that high. The single-fidelity run has at least one successful
    full-fidelity evaluation (``single_fidelity_speedup`` checks)."""
    seeds = [RESCORE_SEED + k for k in range(n_seeds)]
    single = incumbents(single_dir, full)
    rescored = rescore_incumbents(single_dir, single, full, sim, learner, seeds)
    target = rescored[str(single[-1]["id"])]
    seconds = seconds_to_rescored(single, rescored, target)
    out: dict = {"rescore_seeds": n_seeds, "single_fidelity_rescored_result": round(target, 4),
                 "single_fidelity_seconds_to_rescored_result": round(seconds, 1),
                 "single_fidelity_incumbents": len(single)}
    reached, final, counts = [], [], []
    for run_dir in multi_dirs:
        changes = incumbents(run_dir, full)
        scores = rescore_incumbents(run_dir, changes, full, sim, learner, seeds) if changes else {}
        reached.append(seconds_to_rescored(changes, scores, target))
        final.append(round(scores[str(changes[-1]["id"])], 4) if changes else None)
        counts.append(len(changes))
    out["multi_fidelity_incumbents"] = counts
    out["multi_fidelity_final_incumbent_rescored"] = final
    out["multi_fidelity_seconds_to_rescored_result"] = [None if r is None else round(r, 1) for r in reached]
    out["rescored_speedup_to_single_fidelity_result"] = [None if r is None else round(seconds / r, 2)
                                                         for r in reached]
    return out


def stored(path: Path, key: dict, compute) -> dict:
    """``compute()``'s fields, kept in ``path`` with ``key`` so that a rerun with the same settings
    (after an interruption, or to add a stage) reads them back instead of training again."""
    if is_stored(path, key):
        return json.loads(path.read_text())["fields"]
    fields = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: handle.write(json.dumps({"key": key, "fields": fields}).encode()))
    return fields


def is_stored(path: Path, key: dict) -> bool:
    """Whether ``path`` holds fields computed with exactly ``key``."""
    return path.is_file() and json.loads(path.read_text()).get("key") == json.loads(json.dumps(key))


def uniform_and_nominal(args, env, sim, learner: dict, budget: int, seeds: list[int], root: Path) -> dict:
    """One model on fresh uniform-DR data with the whole budget (its samples/epochs split chosen on
    validation), and the same at the nominal parameters; real test accuracy per seed. The split and
    each seed's pair are stored apart, so adding seeds trains only the new ones."""
    uniform = UniformDR(param_space=env.param_space, nominal_params=env.nominal_params, seed=0,
                        range_params=getattr(env, "ranges", {})).ask(1)[0]
    key = {"budget": budget, "uniform_epochs": args.uniform_epochs, "learner": learner,
           "simulator": simulator_version(env, sim.id)}

    def choose_split() -> dict:
        refs = {e: synthetic_accuracy.remote(sim.id, sim.kwargs, uniform.params, uniform.ranges,
                                             {**learner, "samples": budget // e, "epochs": e}, 0, "validation")
                for e in map(int, args.uniform_epochs.split(","))}
        scores = {e: ray.get(r) for e, r in refs.items()}
        epochs = max(scores, key=scores.get)
        return {"epochs": epochs, "samples": budget // epochs,
                "validation_by_epochs": {str(e): round(v, 4) for e, v in scores.items()}}

    adopt_all_seeds_file(root, "uniform-and-nominal", key, "uniform-split.json", lambda fields: (
        fields["uniform_dr_split"], fields["uniform_dr_split"]["epochs"],
        [{"uniform_dr": u, "nominal": n} for u, n in zip(fields["uniform_dr_test_acc_per_seed"],
                                                          fields["nominal_test_acc_per_seed"])]))
    split = stored(root / "uniform-split.json", key, choose_split)
    chosen = {**learner, "samples": split["samples"], "epochs": split["epochs"]}
    per_seed = stored_per_seed(root, "uniform-and-nominal", {**key, "epochs": split["epochs"]}, seeds, lambda s: {
        "uniform_dr": synthetic_accuracy.remote(sim.id, sim.kwargs, uniform.params, uniform.ranges, chosen, 100 + s,
                                                "test"),
        "nominal": synthetic_accuracy.remote(sim.id, sim.kwargs, None, None, chosen, 100 + s, "test")})
    out: dict = {"uniform_dr_split": split}
    for name in ("uniform_dr", "nominal"):
        record(out, f"{name}_test_acc", [scores[name] for scores in per_seed])
    return out


def stored_per_seed(root: Path, name: str, key: dict, seeds: list[int], start) -> list[dict]:
    """Each seed's fields (``start(seed)`` gives them as Ray refs), kept in ``root/{name}-seed{s}.json``
    with ``key`` and the seed, so that adding seeds computes only the new ones. Every missing seed is
    started at once (Ray spreads them over the cores), each stored when done."""
    keys = {s: {**key, "seed": s} for s in seeds}
    pending = {s: start(s) for s in seeds if not is_stored(root / f"{name}-seed{s}.json", keys[s])}
    return [stored(root / f"{name}-seed{s}.json", keys[s],
                   lambda s=s: {field: ray.get(ref) for field, ref in pending[s].items()}) for s in seeds]


def adopt_all_seeds_file(root: Path, name: str, key: dict, shared: str, split) -> None:
    """Split ``{name}.json`` (all seeds in one file, as versions before per-seed storage wrote it) into
    ``shared`` (what every seed uses: uniform DR's split, the oracle's choice) and ``{name}-seed{s}.json``,
    when it was computed with these settings. ``split(fields)`` gives the old file's fields as the shared
    fields, the epochs in each seed's key and each seed's fields (in the old file's seed order)."""
    combined = root / f"{name}.json"
    if not combined.is_file() or (root / shared).is_file():
        return
    saved = json.loads(combined.read_text())
    old_key = dict(saved.get("key", {}))
    seeds = old_key.pop("seeds", [])
    if old_key != json.loads(json.dumps(key)):
        return
    common, epochs, per_seed = split(saved["fields"])
    stored(root / shared, key, lambda: common)
    for seed, fields in zip(seeds, per_seed):
        stored(root / f"{name}-seed{seed}.json", {**key, "epochs": epochs, "seed": seed}, lambda fields=fields: fields)


def references(args, sim, learner: dict, seeds: list[int], root: Path, version: Any) -> dict:
    """The converged learner and the RBF SVM on the real validation half, scored on the test half. What
    they are fitted with (``oracle_choice``) and each seed's converged learner are stored apart, so
    adding seeds trains only the new ones."""
    key = {"oracle_epochs": args.oracle_epochs, "learner": learner, "simulator": version}
    adopt_all_seeds_file(root, "oracle", key, "oracle-choice.json", lambda fields: (
        {name: fields[name] for name in ("oracle_epochs", "oracle_cv_by_epochs", "svm_test_acc", "svm_c")},
        fields["oracle_epochs"], [{"oracle_test_acc": v} for v in fields["oracle_test_acc_per_seed"]]))
    choice = stored(root / "oracle-choice.json", key, lambda: oracle_choice(
        sim.id, sim.kwargs, learner, [int(e) for e in args.oracle_epochs.split(",")]))
    converged = {**learner, "epochs": choice["oracle_epochs"]}
    per_seed = stored_per_seed(root, "oracle", {**key, "epochs": choice["oracle_epochs"]}, seeds, lambda s: {
        "oracle_test_acc": real_test_accuracy.remote(sim.id, sim.kwargs, converged, s)})
    out: dict = {}
    record(out, "oracle_test_acc", [scores["oracle_test_acc"] for scores in per_seed])
    return {**out, **choice}


def fit_learners(config, policy: str) -> list[str]:
    """``resources.learner_cpus`` lowered so that a population's learners (one per member) and the
    generators fit on this Ray (no override when they already do)."""
    members = config.policy.options.get(
        "population", inspect.signature(POLICIES[policy].__init__).parameters["population"].default)
    res = config.resources
    if res.learner_cpus is None:  # unset: the loop fits the shares to this Ray itself
        return []
    generators = members if res.placement == "pack" else res.generators
    spare = ray.cluster_resources().get("CPU", 0) - generators * (res.generator_cpus or 0.0)
    if members * res.learner_cpus <= spare + 1e-9:
        return []
    return [f"resources.learner_cpus={max(0.05, round(spare / members - 0.005, 2))}"]


STAGES = ("loop", "one_model", "references")  # the others have their own switches above
RESCORE_SEED = 900  # fresh seeds of the re-scored incumbents: 900, 901, ...


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="examples/digits.yaml", help="the loop's config (policy, search, learner)")
    ap.add_argument("--train-samples", type=int, default=3_000_000, help="budget.train_samples of every setting")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--persistent", default="adr", help="persistent policy to compare ('' to skip)")
    ap.add_argument("--population", default="pbt", help="population policy to compare ('' to skip)")
    ap.add_argument("--uniform-persistent", action=argparse.BooleanOptionalAction, default=True,
                    help="also train uniform DR as a persistent learner with its best validation state delivered")
    ap.add_argument("--uniform-fresh", action=argparse.BooleanOptionalAction, default=True,
                    help="uniform DR as one model trained as the loop's delivered model is, with the whole budget")
    ap.add_argument("--uniform-epochs", default="10,15,30", help="epochs tried for the one uniform-DR model")
    ap.add_argument("--oracle-epochs", default="15,30,60,120,200", help="epochs tried (by CV) for the oracle")
    ap.add_argument("--single-fidelity-evaluations", type=int, default=0,
                    help="also run the policy at full fidelity for this many evaluations (0: skip)")
    ap.add_argument("--rescore-seeds", type=int, default=4,
                    help="fresh seeds re-scoring each search incumbent for the noise-robust speed-up, "
                         "one full-fidelity training per incumbent and seed (0: skip)")
    ap.add_argument("--skip", default="", help=f"comma-separated stages to leave out: {', '.join(STAGES)}")
    ap.add_argument("--run-dir", default="runs/equal-compute")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides for the loop")
    ap.add_argument("--tracking-uri", default=None)
    args = ap.parse_args()
    skip = {stage for stage in args.skip.split(",") if stage}
    if skip - set(STAGES):
        ap.error(f"--skip: unknown stage(s) {sorted(skip - set(STAGES))}; allowed: {', '.join(STAGES)}")
    if not 0 <= args.rescore_seeds <= 100:
        ap.error(f"--rescore-seeds: {args.rescore_seeds} is outside 0 to 100 (0 skips the re-scoring)")

    started = time.monotonic()
    root = Path(args.run_dir)
    budget = args.train_samples
    base = [*args.set, f"budget.train_samples={budget}", "budget.evaluations=null", "budget.seconds=null"]
    config = load_config(args.config, base)
    if args.single_fidelity_evaluations and config.search.repeats > 1:
        # its readers time single full-fidelity evaluations; a raced candidate's seeds are one evaluation
        ap.error(f"--single-fidelity-evaluations: the speed-up stages cannot read a raced search (search.repeats "
                 f"{config.search.repeats}); allowed: search.repeats 1 with them")
    ensure_ray(config.resources.ray_address)
    sim = config.simulator
    env = make_simulator(sim.id, sim.kwargs)
    learner = learner_dict(config.learner)
    seeds = list(range(args.seeds))
    result: dict = {"train_samples_budget": budget, "seeds": args.seeds, "config": args.config}

    # the budget and the simulator's version are in the run directories' names: a rerun at another
    # budget, or after the simulator changed, never reuses these runs
    own_version = getattr(env, "version", None)
    simulator = "" if own_version is None else f"-sim{own_version}"
    tag = f"{budget}{simulator}"
    result["simulator"] = version = simulator_version(env, sim.id)

    # the loop and the other policies: full runs, each inside the budget, one directory per seed
    def per_seed(name: str, extra: list[str]) -> list[tuple[list[str], Path]]:
        return [(base + [*extra, f"seed={s}", f"policy.seed={s}"], root / f"{name}-{tag}-seed{s}") for s in seeds]

    once = ["search.rungs=1", "search.repeats=1", "selection.candidates=0"]  # no search to halve or race, none to re-score
    planned: dict[str, list[tuple[list[str], Path]]] = {"loop": per_seed("loop", [])}
    if args.persistent:
        planned["persistent"] = per_seed(args.persistent, [f"policy.name={args.persistent}", *once])
    if args.uniform_persistent:
        planned["uniform_persistent"] = per_seed("uniform-persistent", ["policy.name=uniform",
                                                                        "policy.options={persistent: true}", *once])
    if args.uniform_fresh:
        # final.widen widens a searched winner: a no-op at uniform DR's whole bounds, left at 0
        planned["uniform_fresh"] = per_seed("uniform-fresh", ["final.widen=0", "policy.name=uniform", *once])
    if args.population:
        extra = [f"policy.name={args.population}", *once]
        planned["population"] = per_seed(args.population, extra + fit_learners(load_config(args.config, base + extra),
                                                                              args.population))
    if args.single_fidelity_evaluations:
        planned["single_fidelity"] = [single_fidelity_run(args, root, simulator)]
        planned["multi_fidelity"] = multi_fidelity_runs(args, root, simulator, config)
    loop_dirs = [run_dir for _, run_dir in planned["loop"]]
    if "loop" in skip:
        del planned["loop"]
    # every stored run is checked before anything trains: a stale one is refused in seconds, not
    # after an hour of the stages before it
    for runs in planned.values():
        for overrides, run_dir in runs:
            refuse_other_settings(args.config, overrides, run_dir)

    def run_stage(stage: str) -> list[dict]:
        return [run_loop(args.config, overrides, run_dir, args.tracking_uri) for overrides, run_dir in planned[stage]]

    if "loop" in planned:
        loops = run_stage("loop")
        record(result, "loop_test_acc", [s["delivered_test_score"] for s in loops])
        record(result, "loop_val_acc", [s["delivered_val_score"] for s in loops])
        record(result, "loop_wall_seconds", [s["wall_seconds"] for s in loops])
        result["loop_train_samples"] = [s["train_samples"] for s in loops]
        result["loop_samples_rendered"] = [s["samples_generated"] for s in loops]
    if "persistent" in planned:
        persistent = run_stage("persistent")
        result["persistent_policy"] = args.persistent
        record(result, "persistent_test_acc", [s["delivered_test_score"] for s in persistent])
        record(result, "persistent_wall_seconds", [s["wall_seconds"] for s in persistent])
    if "uniform_persistent" in planned:
        uniform = run_stage("uniform_persistent")
        record(result, "uniform_persistent_test_acc", [s["delivered_test_score"] for s in uniform])
        record(result, "uniform_persistent_val_acc", [s["delivered_val_score"] for s in uniform])
        record(result, "uniform_persistent_wall_seconds", [s["wall_seconds"] for s in uniform])
    if "uniform_fresh" in planned:
        fresh = run_stage("uniform_fresh")
        record(result, "uniform_fresh_test_acc", [s["delivered_test_score"] for s in fresh])
        record(result, "uniform_fresh_val_acc", [s["delivered_val_score"] for s in fresh])
        record(result, "uniform_fresh_wall_seconds", [s["wall_seconds"] for s in fresh])
        epochs = config.final.epochs or config.learner.epochs
        result["uniform_fresh_split"] = {"samples": budget // epochs, "epochs": epochs,
                                         "fresh_epochs": config.final.fresh_epochs}
    if "population" in planned:
        population = run_stage("population")
        result["population_policy"] = args.population
        record(result, "population_test_acc", [s["delivered_test_score"] for s in population])
        record(result, "population_val_acc", [s["delivered_val_score"] for s in population])
        record(result, "population_wall_seconds", [s["wall_seconds"] for s in population])
        result["population_train_samples"] = [s["train_samples"] for s in population]
        result["population_delivered_member"] = [s.get("delivered_member") for s in population]
        result["population_copies"] = [len((s.get("population") or {}).get("lineage", [])) for s in population]

    # uniform DR and nominal: one model with the whole budget, the split chosen on validation
    if "one_model" not in skip:
        result.update(uniform_and_nominal(args, env, sim, learner, budget, seeds, root))

    # the strongest references: converged learner and RBF SVM on the real validation half
    if "references" not in skip:
        result.update(references(args, sim, learner, seeds, root, version))

    if "single_fidelity" in planned:  # last: the longest, and optional
        full = [config.learner.samples, config.learner.epochs]
        result.update(single_fidelity_speedup(args, planned["single_fidelity"][0], planned["multi_fidelity"],
                                              loop_dirs if "loop" in planned else [], full, sim, learner))

    loop, uniform = result.get("loop_test_acc"), result.get("uniform_dr_test_acc")
    references_present = [result.get("oracle_test_acc"), result.get("svm_test_acc")]
    strongest = max((v for v in references_present if v is not None), default=None)
    result["loop_minus_uniform_dr"] = None if loop is None or uniform is None else round(loop - uniform, 4)
    result["gap_closed_vs_strongest_reference"] = round((loop - uniform) / (strongest - uniform), 4) \
        if None not in (loop, uniform, strongest) and strongest > uniform else None
    # the strongest simple baseline: uniform DR as one model (either way) or as a persistent learner
    baselines = [v for v in (uniform, result.get("uniform_fresh_test_acc"), result.get("uniform_persistent_test_acc"))
                 if v is not None]
    result["strongest_uniform_test_acc"] = strongest_uniform = max(baselines, default=None)
    for name in ("loop", "persistent", "population"):
        if result.get(f"{name}_test_acc") is not None and strongest_uniform is not None:
            result[f"{name}_minus_strongest_uniform"] = round(result[f"{name}_test_acc"] - strongest_uniform, 4)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    result["targets"] = {"loop_minus_uniform_dr": ">= 0.02", "loop_test_acc": ">= 0.94"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
