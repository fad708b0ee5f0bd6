"""``feedback-loop generate``: write a dataset from a run's (or a params file's) parameters."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import UserError
from .spec import DEFAULT_SHARD_SIZE, FORMATS


def add_command(sub: "argparse._SubParsersAction") -> None:
    cmd = sub.add_parser(
        "generate", help="write a dataset with a run's parameters (Ray Data, resumable)",
        description="Render N samples with the parameters a run chose (--from) or a params file holds "
        "(--params, as `feedback-loop export` writes it) into DIR as shards plus manifest.json, on Ray Data: "
        "deterministic (same parameters and seed: byte-identical shards on any number of workers) and "
        "resumable (running the same command again writes only the shards that are missing).")
    where = cmd.add_mutually_exclusive_group(required=True)
    where.add_argument("--from", dest="run_dir", metavar="RUN_DIR",
                       help="a finished run: its delivered (else best) parameters, simulator and seed")
    where.add_argument("--params", metavar="FILE", help="a params file (YAML or JSON) as `feedback-loop export` writes")
    cmd.add_argument("--n", type=int, required=True, help="number of samples")
    cmd.add_argument("--out", required=True, metavar="DIR", help="output folder (new, empty, or this dataset's)")
    cmd.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, metavar="S",
                     help="samples per shard file (default: %(default)s)")
    cmd.add_argument("--format", choices=FORMATS, default="npz",
                     help="npz (arrays x, y) or parquet (columns x, y; ray.data.read_parquet reads it) (default: %(default)s)")
    cmd.add_argument("--seed", type=int, help="data seed (default: the run's or the file's seed, else 0)")
    cmd.add_argument("--refiner", action="store_true",
                     help="pass the samples through the run's fitted refiner (with --from)")
    cmd.add_argument("--refiner-weights", metavar="FILE",
                     help="with --params: a refiner weight file (e.g. RUN_DIR/refiner_weights.npz); implies --refiner")
    cmd.add_argument("--refiner-options", metavar="JSON", default="{}",
                     help="with --refiner-weights: the refiner's options as in the run's config, e.g. "
                          "'{\"channels\": 32, \"blocks\": 3}' (default: the refiner's defaults)")
    cmd.add_argument("--refiner-workers", type=int, default=1, metavar="K", help="refiner actors, 1 CPU each (default: %(default)s)")
    cmd.add_argument("--refiner-gpus", type=float, metavar="F",
                     help="GPU share of each refiner actor (default: 0.5 when Ray has GPUs, else 0)")
    cmd.add_argument("--workers", type=int, metavar="W", help="render actors, 1 CPU each (default: Ray's CPUs, less the refiner's)")
    cmd.add_argument("--ray-address", help="Ray cluster to use (default: the run's resources.ray_address, else local)")
    cmd.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    cmd.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from .records import MANIFEST
    from .run import generate_dataset

    source, ray_address = _source(args)
    try:
        result = generate_dataset(
            source, args.out, args.n, shard_size=args.shard_size, fmt=args.format, seed=args.seed,
            workers=args.workers, refiner_workers=args.refiner_workers, refiner_gpus=args.refiner_gpus,
            progress=not args.no_progress, ray_address=ray_address)
    except KeyboardInterrupt:
        print("\ninterrupted: the shards written so far are kept; run the same command again to write the rest",
              file=sys.stderr)
        return 130
    counts = result.manifest["counts"]
    if result.written:
        print(f"wrote {len(result.written)} of {counts['shards']} shards ({counts['samples']:,} samples in all"
              f"{f', {result.skipped} complete already' if result.skipped else ''}) to {args.out} "
              f"in {result.seconds:.1f} s; checksums in {Path(args.out) / MANIFEST}")
    else:
        print(f"{args.out} is complete: {counts['shards']} shards ({counts['samples']:,} samples) verified "
              "against their checksums; nothing to write")
    return 0


def _source(args: argparse.Namespace):
    """The parameters' source, with its refiner, and the Ray address to use."""
    from .sources import RefinerSource, load_params_file, load_run_dir

    if args.run_dir:
        if args.refiner_weights:
            raise UserError("--refiner-weights goes with --params; with --from, --refiner uses the run's own refiner")
        source = load_run_dir(args.run_dir, with_refiner=args.refiner)
        from ..config import load_config

        address = args.ray_address or load_config(Path(args.run_dir) / "config.yaml").resources.ray_address
        return source, address
    source = load_params_file(args.params)
    if args.refiner and not args.refiner_weights:
        raise UserError("--refiner: a params file carries no refiner; give its weights with --refiner-weights FILE "
                        "(e.g. RUN_DIR/refiner_weights.npz), or use --from RUN_DIR --refiner")
    if args.refiner_weights:
        weights = Path(args.refiner_weights)
        if not weights.is_file():
            raise UserError(f"--refiner-weights {str(weights)!r}: no such file")
        try:
            options = json.loads(args.refiner_options)
        except ValueError as err:
            raise UserError(f"--refiner-options: not valid JSON ({err})") from None
        if not isinstance(options, dict):
            raise UserError(f"--refiner-options: expected a JSON object, got {args.refiner_options!r}")
        source.refiner = RefinerSource("", options, weights)  # the name comes from the weight file
    return source, args.ray_address
