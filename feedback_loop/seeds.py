"""Every data and model seed stream of a run, in one place.

A job's data comes from ``data_seed(run_seed, seed_id, shard)``: a ``numpy.random.SeedSequence``
keyed by the run's seed, the job's *stream id* and the shard, so a resumed run regenerates exactly
the same batch. Each part of the loop draws from its own stream ids, named here, so that no two
parts ever share data. A new stage takes a new stream here (and ``STREAMS`` and its test show the
streams stay apart); it never invents an offset where it is used.

Data streams (``Job.seed_id``):

==========================  =====================================================
search candidate ``c``      ``c`` (0, 1, 2, ...; a persistent step: its candidate id)
oracle repeat ``k``         ``-1 - k`` (``k`` < 3)
samples figure              ``-7``
refiner fit                 ``-100`` at the start, ``-100 - evaluations`` on a refresh
delivered model             ``-2_000_000``
re-scoring ``k`` of ``c``   ``-2_000_001 - 1000 c - k`` (``k`` < 1000)
race repeat ``k``           ``-10**12 - k`` (the same for every candidate: common seeds)
==========================  =====================================================

Model seeds (a fresh model's initial weights and minibatch order), from ``learner.seed`` (``s``):
``s`` for the search, ``s + member`` for a population's members, ``s + 1000`` for the delivered
model, ``s + 1 + k`` for re-scoring ``k``, ``s + 5000 + k`` for race repeat ``k``. Benchmarks draw
their fresh reference data at ``seed + BENCH_DATA_OFFSET``.

The numbers are what the loop has always used: results at the same seeds stay the same.
"""

from __future__ import annotations

import numpy as np

ORACLE_REPEATS = 3
SAMPLES_FIGURE = -7
REFINER_FIT = -100
FINAL = -2_000_000
RACE = -10**12
SELECTION_SEEDS_MAX = 1000  # re-scorings per candidate that fit between two candidates' streams

FINAL_MODEL_OFFSET = 1000
RACE_MODEL_OFFSET = 5000
BENCH_DATA_OFFSET = 7_000_000  # final_eval and benchmarks: fresh data, never the loop's


def data_seed(run_seed: int, seed_id: int, shard: int = 0) -> int:
    """The seed of one shard of a job's data; a pure function so a resumed run regenerates it."""
    offset = seed_id + 1_000_000
    key = [run_seed, offset, shard] if offset >= 0 else [run_seed, -offset, shard, 1]
    return int(np.random.SeedSequence(key).generate_state(1)[0])


def oracle(k: int) -> int:
    """Data stream of the oracle's ``k``-th scoring run (the simulator's true parameters)."""
    if not 0 <= k < ORACLE_REPEATS:
        raise ValueError(f"oracle repeat {k} is outside 0 to {ORACLE_REPEATS - 1}")
    return -1 - k


def refiner_fit(evaluations: int = 0) -> int:
    """Data stream of the refiner's fit: at the start (0), or on the refresh after ``evaluations``."""
    return REFINER_FIT - evaluations


def selection(candidate_id: int, k: int) -> int:
    """Data stream of the ``k``-th re-scoring of a candidate: below the delivered model's, never shared."""
    if not 0 <= k < SELECTION_SEEDS_MAX:
        raise ValueError(f"re-scoring {k} is outside 0 to {SELECTION_SEEDS_MAX - 1}")
    return FINAL - 1 - SELECTION_SEEDS_MAX * candidate_id - k


def race(k: int) -> int:
    """Data stream of race repeat ``k``: the same for every candidate (a paired comparison)."""
    return RACE - k


def final_model(learner_seed: int) -> int:
    """Model seed of the delivered model."""
    return learner_seed + FINAL_MODEL_OFFSET


def selection_model(learner_seed: int, k: int) -> int:
    """Model seed of re-scoring ``k``."""
    return learner_seed + 1 + k


def race_model(learner_seed: int, k: int) -> int:
    """Model seed of race repeat ``k`` (common to all candidates)."""
    return learner_seed + RACE_MODEL_OFFSET + k


def member_model(learner_seed: int, member: int) -> int:
    """Model seed of a population member's first model."""
    return learner_seed + member


def labels(run_seed: int) -> int:
    """Seed of the choice of which validation samples keep their labels (``data.labels``): one per run
    seed, so every run with that seed keeps the same samples. Its key (length 4, ending in 2) is
    outside every data stream's (length 3, or length 4 ending in 1)."""
    return int(np.random.SeedSequence([run_seed, 0, 0, 2]).generate_state(1)[0])


STREAMS = {
    "search": lambda n: list(range(n)),
    "oracle": lambda n: [oracle(k) for k in range(ORACLE_REPEATS)],
    "samples_figure": lambda n: [SAMPLES_FIGURE],
    "refiner_fit": lambda n: [refiner_fit(e) for e in range(n)],
    "final": lambda n: [FINAL],
    "selection": lambda n: [selection(c, k) for c in range(n) for k in range(3)],
    "race": lambda n: [race(k) for k in range(n)],
}
"""Each stream's ids for a run of ``n`` candidates or evaluations (the test checks they are disjoint)."""
