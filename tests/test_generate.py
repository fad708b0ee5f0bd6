"""``feedback-loop generate``: determinism across worker counts, resume after a real SIGKILL, the
manifest's checksums, one-line errors, the refiner stage on a GPU share, and both readers.

Small sizes on GaussianMixture-v0 (fast) and one Digits case (the refiner needs images); array labels
on Gaze-v0 (regression) and Shapes-v0 (segmentation; a tiny stand-in where it is not installed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium import spaces

from feedback_loop.cli import main
from feedback_loop.envs import Simulator
from feedback_loop.envs.gaussian_mixture import HIDDEN_MEANS, means_to_params
from feedback_loop.envs.generation import generate_batch
from feedback_loop.generate import ShardDataset, generate_dataset, load_manifest, load_params_file, read_shard
from feedback_loop.generate.records import DONE_DIR, complete_records
from feedback_loop.generate.shardfile import encode_shard, sha256_bytes, sha256_file
from feedback_loop.generate.spec import plain, plan_shards, shard_seed
from feedback_loop.simulators import make_simulator, simulator_version

GM = "feedback_loop/GaussianMixture-v0"
TINY_SIMGAN = dict(channels=8, blocks=1, batch_size=16, pretrain_refiner_steps=5, pretrain_disc_steps=5, steps=10,
                   history_size=64)


def write_params(path: Path, sim_id: str = GM, params: dict | None = None, **extra) -> Path:
    env = make_simulator(sim_id)
    document = {"simulator": {"id": sim_id, "kwargs": {}, "version": simulator_version(env, sim_id)},
                "params": plain(params if params is not None else means_to_params(HIDDEN_MEANS)),
                "intervals": {}, "seed": 3, **extra}
    path.write_text(yaml.safe_dump(document))
    return path


def generate(*args: str) -> int:
    return main(["generate", *map(str, args), "--no-progress"])


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("shard-*"))}


def wait_until_settled(out: Path, quiet: float = 1.0, limit: float = 20.0) -> None:
    """Until no file in ``out`` (records included) has changed for ``quiet`` seconds."""
    def state() -> list[tuple[str, int]]:
        found = []
        for path in out.rglob("*"):
            try:
                found.append((str(path), path.stat().st_mtime_ns))
            except FileNotFoundError:  # a temp file renamed meanwhile
                pass
        return sorted(found)

    deadline, last = time.monotonic() + limit, state()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = state()
        if now == last:
            return
        last = now


@pytest.fixture(scope="module")
def gm_file(tmp_path_factory) -> Path:
    return write_params(tmp_path_factory.mktemp("params") / "params.yaml")


@pytest.fixture(scope="module")
def gm_data(ray_session, gm_file, tmp_path_factory) -> Path:
    """1,000 GaussianMixture samples in shards of 300 (the last holds 100), rendered by 2 workers."""
    out = tmp_path_factory.mktemp("gm") / "data"
    assert generate("--params", gm_file, "--n", 1000, "--shard-size", 300, "--out", out, "--workers", 2) == 0
    return out


# -- determinism and the manifest ---------------------------------------------------------------------------
def test_same_parameters_and_seed_give_byte_identical_shards_on_1_and_2_workers(gm_data, tmp_path, capsys):
    # The file names an older simulator version: a warning, and the data of the installed one.
    path = write_params(tmp_path / "old.yaml")
    document = yaml.safe_load(path.read_text())
    document["simulator"]["version"] = "feedback_loop/GaussianMixture-v0 (feedback-loop 0.0.1)"
    path.write_text(yaml.safe_dump(document))
    one = tmp_path / "one"
    assert generate("--params", path, "--n", 1000, "--shard-size", 300, "--out", one, "--workers", 1) == 0
    assert "warning:" in capsys.readouterr().err
    assert shard_bytes(one) == shard_bytes(gm_data) and len(shard_bytes(one)) == 4
    assert load_manifest(one)["shards"] == load_manifest(gm_data)["shards"]


def test_manifest_lists_parameters_version_seeds_counts_and_sha256_of_every_file(gm_data, gm_file):
    manifest = load_manifest(gm_data)
    env = make_simulator(GM)
    assert manifest["status"] == "complete" and manifest["seed"] == 3 and manifest["format"] == "npz"
    assert manifest["simulator"] == {"id": GM, "kwargs": {}, "version": simulator_version(env, GM)}
    assert manifest["params"] == plain(means_to_params(HIDDEN_MEANS))
    assert manifest["counts"] == {"samples": 1000, "shards": 4, "labels": {"0": 500, "1": 500},
                                  "bytes": sum(p.stat().st_size for p in gm_data.glob("shard-*"))}
    assert [s["count"] for s in manifest["shards"]] == [300, 300, 300, 100]
    assert len({s["seed"] for s in manifest["shards"]}) == 4
    assert not {s["seed"] for s in manifest["shards"]} & {shard_seed(4, i) for i in range(4)}  # --seed 4: other data
    assert sorted(p.name for p in gm_data.iterdir()) == ["manifest.json"] + [s["file"] for s in manifest["shards"]]
    for shard in manifest["shards"]:
        path = gm_data / shard["file"]
        assert sha256_file(path) == shard["sha256"] and path.stat().st_size == shard["bytes"]
        assert shard["seed"] == shard_seed(3, shard["index"])
        x, y = read_shard(path)  # each shard is exactly the simulator's batch at its recorded seed
        expected_x, expected_y = generate_batch(env, manifest["params"], shard["count"], shard["seed"])
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)
        assert encode_shard(x, y, "npz") == path.read_bytes()  # the bytes depend on the arrays only


# -- resume -------------------------------------------------------------------------------------------------
def test_resume_after_sigkill_writes_only_the_missing_shards(ray_session, gm_file, tmp_path):
    """A real ``feedback-loop generate`` process, SIGKILLed once some shards exist; the rerun writes the rest."""
    out, n, size = tmp_path / "data", 24 * 5000, 5000
    env = dict(os.environ, RAY_ADDRESS=ray_session.get_runtime_context().gcs_address)  # join this session's Ray
    proc = subprocess.Popen([sys.executable, "-m", "feedback_loop.cli", "generate", "--params", str(gm_file),
                             "--n", str(n), "--shard-size", str(size), "--out", str(out), "--workers", "1",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list((out / DONE_DIR).glob("*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {stderr.decode()[-2000:]}"
    wait_until_settled(out)  # Ray stops the dead driver's actors within a moment
    plan = plan_shards(n, size, 3, "npz")
    before = complete_records(out, plan, None)
    stamps = {i: (out / plan[i].file).stat().st_mtime_ns for i in before}
    assert 2 <= len(before) < len(plan)
    assert json.loads((out / "manifest.json").read_text())["status"] == "incomplete"

    result = generate_dataset(load_params_file(gm_file), out, n, shard_size=size, workers=2, progress=False)
    assert sorted(result.written) == sorted(set(range(len(plan))) - set(before))
    assert result.skipped == len(before)
    assert {i: (out / plan[i].file).stat().st_mtime_ns for i in before} == stamps  # complete shards untouched
    manifest = load_manifest(out)
    assert [s["sha256"] for s in manifest["shards"]] == [sha256_file(out / s.file) for s in plan]
    assert not list(out.glob(".*")), "no temp files or records left behind"


def test_rerun_rewrites_a_corrupt_or_missing_shard_and_removes_temp_files(gm_data, gm_file, tmp_path, capsys):
    out = tmp_path / "data"
    shutil.copytree(gm_data, out)
    original = shard_bytes(out)
    (out / "shard-00001.npz").write_bytes(original["shard-00001.npz"][:-10] + b"0123456789")
    (out / "shard-00003.npz").unlink()
    (out / ".shard-00002.npz.999-deadbeef.tmp").write_bytes(b"half a shard")
    result = generate_dataset(load_params_file(gm_file), out, 1000, shard_size=300, workers=1, progress=False)
    assert sorted(result.written) == [1, 3] and result.skipped == 2
    assert shard_bytes(out) == original and not list(out.glob(".*"))

    capsys.readouterr()
    assert generate("--params", gm_file, "--n", 1000, "--shard-size", 300, "--out", out) == 0
    assert "nothing to write" in capsys.readouterr().out


def test_other_settings_into_the_same_folder_are_refused(gm_data, gm_file, tmp_path, capsys):
    out = tmp_path / "data"
    shutil.copytree(gm_data, out)
    capsys.readouterr()
    assert generate("--params", gm_file, "--n", 1000, "--shard-size", 300, "--out", out, "--seed", 9) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds another dataset (seed: 3 in the folder, 9 now)" in err
    assert generate("--params", gm_file, "--n", 900, "--shard-size", 250, "--out", out, "--format", "parquet") == 2
    err = capsys.readouterr().err
    assert "n: 1000 in the folder, 900 now" in err and "shard_size: 300" in err and 'format: "npz"' in err


# -- one-line errors (no Ray needed) ---------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("simulator"), "missing key 'simulator'"),
    (lambda d: d.pop("params"), "missing key 'params'"),
    (lambda d: d["params"].pop("c1_m1_y"), "params lacks ['c1_m1_y']"),
    (lambda d: d["params"].update(c0_m0_x=7.0), "parameter 'c0_m0_x': value 7.0 is outside its bounds [-5.0, 5.0]"),
    (lambda d: d["params"].update(colour=1), "unknown parameter(s) ['colour']"),
    (lambda d: d["simulator"].update(id="feedback_loop/Nope-v0"), "unknown simulator 'feedback_loop/Nope-v0'"),
    (lambda d: d.update(ranges={"c0_m0_x": [1.0, 9.0]}), "parameter 'c0_m0_x': value 9.0 is outside its bounds"),
])
def test_bad_params_file_is_one_line_naming_the_problem(gm_file, tmp_path, capsys, change, message):
    document = yaml.safe_load(gm_file.read_text())
    change(document)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(document))  # JSON is read as well as YAML
    assert generate("--params", path, "--n", 10, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and message in err
    assert not (tmp_path / "out").exists()


def test_unusable_inputs_and_folders_are_one_line(gm_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    (tmp_path / "broken.yaml").write_text("simulator: [unclosed")
    cases = [
        (["--params", gm_file, "--n", 10, "--out", blocker / "sub"], "cannot write there"),
        (["--params", gm_file, "--n", 10, "--out", tmp_path / "foreign"], "not empty and holds no manifest.json"),
        (["--params", tmp_path / "broken.yaml", "--n", 10, "--out", tmp_path / "o"], "not valid YAML or JSON"),
        (["--params", tmp_path / "missing.yaml", "--n", 10, "--out", tmp_path / "o"], "no such file"),
        (["--params", gm_file, "--n", 0, "--out", tmp_path / "o"], "--n 0: must be at least 1"),
        (["--params", gm_file, "--n", 10, "--out", tmp_path / "o", "--refiner"], "give its weights with --refiner-weights"),
        (["--params", gm_file, "--n", 10, "--out", tmp_path / "o", "--refiner-weights", tmp_path / "nope.npz"],
         "no such file"),
        (["--params", gm_file, "--n", 10, "--out", tmp_path / "o", "--refiner-weights", blocker],
         "refiners take image samples (C, H, W); feedback_loop/GaussianMixture-v0 renders samples of shape (2,)"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert generate(*args) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err and message in err, (args, err)


# -- readers --------------------------------------------------------------------------------------------------
def test_torch_reader_yields_every_sample_once_across_dataloader_workers(gm_data):
    import torch
    from torch.utils.data import DataLoader

    x, y = map(np.concatenate, zip(*(read_shard(gm_data / s["file"]) for s in load_manifest(gm_data)["shards"])))
    dataset = ShardDataset(gm_data, verify=True)
    assert len(dataset) == 1000
    seen = list(dataset)
    assert isinstance(seen[0][0], torch.Tensor) and seen[0][0].shape == (2,) and seen[0][1].dtype == torch.int64
    np.testing.assert_array_equal(np.stack([s[0].numpy() for s in seen]), x)
    batches = list(DataLoader(dataset, batch_size=128, num_workers=2))
    got_x = torch.cat([b[0] for b in batches]).numpy()
    assert len(got_x) == 1000
    order = np.lexsort(got_x.T)
    np.testing.assert_array_equal(got_x[order], x[np.lexsort(x.T)])  # each sample exactly once
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == sorted(y.tolist())


# -- the refiner stage, from a run directory (Digits, parquet, Ray Data reader) --------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A run directory as the loop leaves it: config.yaml, summary.json and the refiner's weights
    (a real SimGAN, fitted for a few steps on Digits, saved with save_weights)."""
    import torch

    from feedback_loop.config import config_from_dict, dump_config
    from feedback_loop.envs.digits import DigitsEnv
    from feedback_loop.refiners import SimGANConfig, SimGANRefiner, save_weights

    run_dir = tmp_path_factory.mktemp("run")
    config = config_from_dict({"name": "digits", "seed": 5, "simulator": {"id": "feedback_loop/Digits-v0"},
                               "refiner": {"name": "simgan", "options": TINY_SIMGAN}})
    dump_config(config, run_dir / "config.yaml")
    env = DigitsEnv()
    (run_dir / "summary.json").write_text(json.dumps({"selected_params": plain(env.nominal_params),
                                                      "policy": "uniform", "mlflow_run_id": None}))
    refiner = SimGANRefiner(SimGANConfig(**TINY_SIMGAN))
    x, _ = env.sample_batch(env.nominal_params, 64, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only contend on 2 shared cores
    try:
        refiner.fit(x, env.real_data().x_val[:64])
    finally:
        torch.set_num_threads(threads)
    save_weights(refiner, run_dir / "refiner_weights.npz")
    return run_dir


def test_refiner_stage_runs_on_a_gpu_share_and_ray_data_reads_the_parquet_back(ray_session, digits_run, tmp_path,
                                                                                capsys):
    import ray.data
    import torch

    from feedback_loop.generate import load_run_dir
    from feedback_loop.refiners import SimGANRefiner, load_weights

    weights = digits_run / "refiner_weights.npz"
    hidden = weights.rename(digits_run / "elsewhere.npz")
    assert generate("--from", digits_run, "--refiner", "--n", 10, "--out", tmp_path / "none") == 2
    assert "has no fitted refiner" in capsys.readouterr().err
    hidden.rename(weights)

    out = tmp_path / "refined"
    result = generate_dataset(load_run_dir(digits_run, with_refiner=True), out, 300, shard_size=128,
                              fmt="parquet", refiner_gpus=0.5, progress=False)
    assert len(result.placements) == 3  # every shard went through a refiner actor holding a GPU share
    for where in result.placements:
        assert len(where["gpu_ids"]) == 1
        assert where["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    manifest = load_manifest(out)
    assert manifest["seed"] == 5 and manifest["refiner"]["name"] == "simgan"
    assert manifest["refiner"]["weights_sha256"] == sha256_file(weights)
    assert manifest["sample"]["x_shape"] == [1, 8, 8] and manifest["source"]["run_dir"] == str(digits_run.resolve())

    env = make_simulator("feedback_loop/Digits-v0")
    refiner = SimGANRefiner(TINY_SIMGAN)
    load_weights(refiner, weights)
    x, y = read_shard(out / manifest["shards"][2]["file"])
    raw_x, raw_y = generate_batch(env, manifest["params"], 44, manifest["shards"][2]["seed"])
    np.testing.assert_array_equal(y, raw_y)
    assert x.shape == (44, 1, 8, 8) and not np.array_equal(x, raw_x)
    np.testing.assert_allclose(x, refiner.refine(raw_x), rtol=1e-5, atol=1e-5)
    for shard in manifest["shards"]:  # parquet bytes, too, depend on the arrays only (no timestamps)
        assert encode_shard(*read_shard(out / shard["file"]), "parquet") == (out / shard["file"]).read_bytes()

    # Ray Data reads the folder back with each sample's shape (manifest.json is not a parquet file).
    expected = {s["index"]: read_shard(out / s["file"]) for s in manifest["shards"]}
    batches = list(ray.data.read_parquet(str(out)).iter_batches(batch_size=None, batch_format="numpy"))
    got_x, got_y = np.concatenate([b["x"] for b in batches]), np.concatenate([b["y"] for b in batches])
    want_x, want_y = np.concatenate([x for x, _ in expected.values()]), np.concatenate([y for _, y in expected.values()])
    assert got_x.shape == (300, 1, 8, 8) and got_x.dtype == np.float32 and got_y.dtype == np.int64
    assert sorted(map(bytes, got_x)) == sorted(map(bytes, want_x)) and sorted(got_y) == sorted(want_y)
    assert next(iter(ShardDataset(out)))[0].shape == (1, 8, 8)  # torch reads parquet shards too


# -- array labels: a regression (Gaze-v0) and a segmentation (Shapes-v0), both formats, both readers ----------
REGRESSION = "feedback_loop/Gaze-v0"
SHAPES = "feedback_loop/Shapes-v0"
TINY_SEGMENTATION = "tests.test_generate:TinySegmentation"


class TinySegmentation(Simulator):
    """A bright square (class 1) on a dark 6x6 image, a class per pixel: the stand-in for Shapes-v0
    where that simulator is not installed."""

    task = "segmentation"
    num_classes = 2
    class_names = ("background", "square")

    def __init__(self) -> None:
        super().__init__()
        self.param_space = spaces.Dict({"size": spaces.Box(1.0, 4.0, shape=(), dtype=np.float32)})
        self.nominal_params = {"size": 2.0}
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1, 6, 6), dtype=np.float32)

    def sample_batch(self, params, n, seed):
        p = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        size = np.broadcast_to(np.round(np.asarray(p["size"])).astype(int), (n,))
        top, left = rng.integers(0, 7 - size), rng.integers(0, 7 - size)
        pixels = np.arange(6)
        rows = (pixels >= top[:, None]) & (pixels < (top + size)[:, None])
        cols = (pixels >= left[:, None]) & (pixels < (left + size)[:, None])
        y = (rows[:, :, None] & cols[:, None, :]).astype(np.int64)
        x = np.clip(0.2 + 0.6 * y + 0.05 * rng.standard_normal(y.shape), 0.0, 1.0).astype(np.float32)
        return x[:, None], y


def segmentation_sim() -> str:
    """Shapes-v0 when it is installed and follows the contract; else the tiny stand-in above."""
    from feedback_loop.simulators import SimulatorError, checked_simulator

    try:
        checked_simulator(SHAPES)
        return SHAPES
    except SimulatorError:  # not registered, or breaks the contract while it is being built
        return TINY_SEGMENTATION


@pytest.fixture(scope="module", params=[("regression", "npz"), ("regression", "parquet"),
                                        ("segmentation", "npz"), ("segmentation", "parquet")],
                ids=lambda p: "-".join(p))
def array_data(request, ray_session, tmp_path_factory) -> tuple[str, str, Path]:
    """50 samples with array labels in shards of 20 (the last holds 10), rendered by 2 workers:
    ``(simulator id, format, folder)``."""
    task, fmt = request.param
    sim_id = REGRESSION if task == "regression" else segmentation_sim()
    folder = tmp_path_factory.mktemp(f"{task}-{fmt}")
    path = write_params(folder / "params.yaml", sim_id, params=make_simulator(sim_id).nominal_params)
    assert generate("--params", path, "--n", 50, "--shard-size", 20, "--out", folder / "data", "--workers", 2,
                    "--format", fmt) == 0
    return sim_id, fmt, folder / "data"


def test_array_labels_come_back_as_sample_batch_made_them_from_both_readers(array_data):
    import ray.data
    import torch

    sim_id, fmt, out = array_data
    env = make_simulator(sim_id)
    manifest = load_manifest(out)
    shape, dtype = tuple(manifest["sample"]["y_shape"]), np.dtype(manifest["sample"]["y_dtype"])
    assert (shape, dtype) == (((2,), np.float32) if sim_id == REGRESSION else (env.observation_space.shape[1:], np.int64))
    want_x, want_y = [], []
    for shard in manifest["shards"]:
        x, y = read_shard(out / shard["file"])  # the package's reader: each shard is sample_batch at its seed
        expected_x, expected_y = env.sample_batch(manifest["params"], shard["count"], shard["seed"])
        np.testing.assert_array_equal(x, expected_x)
        np.testing.assert_array_equal(y, expected_y)
        assert y.shape == (shard["count"], *shape) and y.dtype == dtype
        assert encode_shard(x, y, fmt) == (out / shard["file"]).read_bytes()  # the bytes depend on the arrays only
        want_x.append(x)
        want_y.append(y)
    want_x, want_y = np.concatenate(want_x), np.concatenate(want_y)

    seen = list(ShardDataset(out, verify=True))  # torch, shard by shard
    assert len(seen) == 50 and seen[0][1].shape == shape and seen[0][1].dtype == getattr(torch, dtype.name)
    np.testing.assert_array_equal(np.stack([label.numpy() for _, label in seen]), want_y)
    if fmt == "parquet":  # Ray Data gives each label back with its shape (Arrow's fixed-shape tensor column)
        batches = list(ray.data.read_parquet(str(out)).iter_batches(batch_size=None, batch_format="numpy"))
        got_x, got_y = np.concatenate([b["x"] for b in batches]), np.concatenate([b["y"] for b in batches])
        assert got_y.shape == (50, *shape) and got_y.dtype == dtype and got_x.shape == want_x.shape
        rows = lambda x, y: sorted(a.tobytes() + b.tobytes() for a, b in zip(x, y))  # noqa: E731 (any order)
        assert rows(got_x, got_y) == rows(want_x, want_y)


def test_manifest_records_the_task_and_counts_what_it_counts(array_data):
    sim_id, _, out = array_data
    manifest = load_manifest(out)
    y = np.concatenate([read_shard(out / s["file"])[1] for s in manifest["shards"]])
    assert set(manifest["counts"]) == {"samples", "shards", "bytes",
                                       "label_stats" if sim_id == REGRESSION else "pixels"}
    if sim_id == REGRESSION:
        assert manifest["task"]["name"] == "regression" and manifest["task"]["direction"] == "minimize"
        assert manifest["task"]["options"]["names"] == ["pitch", "yaw"]
        assert "num_classes" not in manifest["sample"]  # a regression has targets, not classes
        stats = manifest["counts"]["label_stats"]
        assert list(stats) == ["pitch", "yaw"]
        for name, column in zip(stats, y.astype(np.float64).T):  # the shards' stats add up to all labels'
            assert stats[name]["count"] == 50
            assert stats[name]["min"] == column.min() and stats[name]["max"] == column.max()
            np.testing.assert_allclose([stats[name]["mean"], stats[name]["std"]], [column.mean(), column.std()],
                                       rtol=1e-12, atol=1e-12)
        assert all(set(s["label_stats"]) == {"pitch", "yaw"} and "label_counts" not in s for s in manifest["shards"])
    else:
        classes = make_simulator(sim_id).num_classes
        assert manifest["task"]["name"] == "segmentation" and manifest["task"]["options"]["num_classes"] == classes
        assert manifest["sample"]["num_classes"] == classes
        assert manifest["counts"]["pixels"] == {str(k): int(c) for k, c in enumerate(np.bincount(y.ravel(), minlength=classes))}
        assert [len(s["pixel_counts"]) for s in manifest["shards"]] == [classes] * 3
        assert sum(manifest["counts"]["pixels"].values()) == y.size


def test_classification_manifest_names_its_task_and_classes(gm_data):
    manifest = load_manifest(gm_data)
    assert manifest["task"] == {"name": "classification", "options": {"num_classes": 2}, "score": "accuracy",
                                "direction": "maximize"}
    assert manifest["sample"] == {"x_shape": [2], "x_dtype": "float32", "y_shape": [], "y_dtype": "int64",
                                  "num_classes": 2}
    assert [len(s["label_counts"]) for s in manifest["shards"]] == [2] * 4


def test_label_stats_of_shards_add_up_to_the_whole_and_records_of_another_task_are_redone(tmp_path):
    from feedback_loop.generate.labelcounts import count_field, shard_counts, total_counts
    from feedback_loop.tasks import Regression

    task = Regression(names=["a", "b", "c", "d"])
    y = np.random.default_rng(0).normal(1e3, 2.0, size=(103, 2, 2)).astype(np.float32)  # a mean far from 0
    task.bind(None, y)
    records = [shard_counts(task, y[i:i + 20]) for i in range(0, 103, 20)]
    whole = shard_counts(task, y)["label_stats"]
    totals = total_counts(json.loads(json.dumps(records)))["label_stats"]  # as read back from the records
    for name in "abcd":
        assert totals[name]["count"] == 103
        np.testing.assert_allclose([totals[name][k] for k in ("mean", "std", "min", "max")],
                                   [whole[name][k] for k in ("mean", "std", "min", "max")], rtol=1e-12)

    # A shard whose record counts something else (written before tasks existed, or for another task)
    # is not complete for this task: it is rewritten, never summed wrongly.
    plan = plan_shards(10, 10, 0, "npz")
    data = encode_shard(np.zeros((10, 2), np.float32), np.zeros((10, 4), np.float32), "npz")
    (tmp_path / plan[0].file).write_bytes(data)
    record = {"index": 0, "file": plan[0].file, "seed": plan[0].seed, "count": 10,
              "sha256": sha256_bytes(data), "label_counts": [10]}
    saved = {"shards": [record]}
    assert complete_records(tmp_path, plan, saved) == {0: record}
    assert complete_records(tmp_path, plan, saved, count_field(task)) == {}
