"""One shard on disk: deterministic bytes (npz or parquet), atomic writes, SHA-256, reading back.

Labels are stored as the task gives them: a class index per sample (a plain column in parquet), or
an array per sample (a regression's float vector, a segmentation's class map), which parquet holds,
as it holds the samples, in Arrow's fixed-shape tensor type.

The same arrays always give the same bytes: the npz writer fixes every zip timestamp (``np.savez``
stamps the current time), and the parquet writer uses fixed options (no timestamps are written).
A shard is written to a hidden temp file and renamed into place, so a killed writer leaves either
no file or a whole one; whether a whole file is *complete* is decided by its checksum record
(``records.py``).
"""

from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=False, write_statistics=False,
                       version="2.6")


def encode_shard(x: np.ndarray, y: np.ndarray, fmt: str) -> bytes:
    """The bytes of a shard file holding samples ``x`` and labels ``y``."""
    return _encode_npz(x, y) if fmt == "npz" else _encode_parquet(x, y)


def _encode_npz(x: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in (("x", x), ("y", y)):
            with archive.open(zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH), "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _encode_parquet(x: np.ndarray, y: np.ndarray) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"x": _column(x), "y": _column(y)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=max(1, len(x)), **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def _column(array: np.ndarray) -> "pa.Array":
    """An Arrow column of one value per row: plain for scalars (a class index), else Arrow's canonical
    fixed-shape tensor type, so that pyarrow and ``ray.data.read_parquet`` both give the array back
    with its shape, ``(N, *per_row_shape)``, without any help (samples, label vectors, label maps)."""
    import pyarrow as pa

    array = np.ascontiguousarray(array)
    if array.size and array.strides != _c_strides(array):
        # C-contiguous with an odd stride on a size-1 axis (e.g. x[:, None]): Arrow would record a
        # permutation it then cannot read back; a copy has the plain strides.
        array = array.copy(order="C")
    return pa.FixedShapeTensorArray.from_numpy_ndarray(array) if array.ndim > 1 else pa.array(array)


def _c_strides(array: np.ndarray) -> tuple[int, ...]:
    """The strides a freshly allocated C-ordered array of this shape and dtype has."""
    strides, step = [], array.itemsize
    for size in reversed(array.shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _array(table: "pa.Table", name: str) -> np.ndarray:
    """Column ``name`` of a shard's table as numpy, with its per-row shape when it is a tensor column."""
    column = table.column(name).combine_chunks()
    return column.to_numpy_ndarray() if hasattr(column, "to_numpy_ndarray") else column.to_numpy(zero_copy_only=False)


TEMP_GLOB = ".*.tmp"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a hidden temp file beside it, fsync, rename.

    Unlike ``checkpoint.atomic_write`` (``mkstemp``: owner-only), the file gets the usual
    permissions (0666 minus the umask): a dataset is meant to be read by others."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of a shard file (the format from its suffix); nothing is unpickled."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return arrays["x"], arrays["y"]
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return _array(table, "x"), _array(table, "y")
