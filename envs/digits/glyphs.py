"""Stroke skeletons of the ten digits, several structural variants each.

Every glyph is drawn by hand in a unit frame (x to the right, y *down*, the digit spans y in [0, 1]
and roughly x in [0.2, 0.8]); nothing here is derived from real images. A stroke is a list of
control points and a kind: ``"smooth"`` (a Catmull-Rom spline through the points), ``"closed"``
(the same, closed into a loop) or ``"line"`` (a polyline). Both kinds are *linear* in the control
points, so a glyph sampled at ``P`` points is ``B @ C``: a fixed ``(P, K)`` basis ``B`` times the
``(K, 2)`` control points ``C``. The renderer jitters ``C`` per sample and evaluates all glyphs of
a batch with one batched matmul.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Point counts the renderer may ask for (thin strokes need denser centrelines than thick ones).
POINT_LEVELS = (128, 80, 48, 32)  # must match render.RADIUS_GROUPS


def arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, k: int) -> list[tuple[float, float]]:
    """``k`` points on an ellipse from angle ``a0`` to ``a1`` (degrees, counter-clockwise as seen
    on the page, 90 = top)."""
    out = []
    for i in range(k):
        a = math.radians(a0 + (a1 - a0) * i / (k - 1))
        out.append((cx + rx * math.cos(a), cy - ry * math.sin(a)))
    return out


def ellipse(cx: float, cy: float, rx: float, ry: float, k: int = 8, start: float = 90.0) -> list[tuple[float, float]]:
    """``k`` points around a full ellipse (for a ``"closed"`` stroke)."""
    return arc(cx, cy, rx, ry, start, start + 360.0 * (k - 1) / k, k)


# digit -> list of (variant name, list of strokes (kind, points)); the first variant is the most common.
SKELETONS: dict[int, list[tuple[str, list[tuple[str, list[tuple[float, float]]]]]]] = {
    0: [
        ("oval", [("closed", ellipse(0.5, 0.5, 0.3, 0.48))]),
        # started at the top and carried on past the start: the ends overlap.
        ("overshoot", [("smooth", arc(0.5, 0.5, 0.3, 0.48, 60, 470, 11))]),
        ("slashed", [("closed", ellipse(0.5, 0.5, 0.3, 0.48)), ("line", [(0.74, 0.08), (0.26, 0.92)])]),
    ],
    1: [
        ("stroke", [("line", [(0.5, 0.0), (0.5, 1.0)])]),
        ("flag", [("line", [(0.3, 0.24), (0.5, 0.0), (0.5, 1.0)])]),
        ("flag_base", [("line", [(0.3, 0.24), (0.5, 0.0), (0.5, 1.0)]), ("line", [(0.28, 1.0), (0.72, 1.0)])]),
        # the continental 1: a long up-stroke from the middle left.
        ("long_flag", [("line", [(0.2, 0.45), (0.56, 0.0), (0.56, 1.0)])]),
    ],
    2: [
        ("hook", [
            ("smooth", [(0.22, 0.25), (0.4, 0.03), (0.65, 0.05), (0.76, 0.25), (0.68, 0.45), (0.45, 0.7), (0.22, 0.98)]),
            ("line", [(0.22, 0.98), (0.8, 0.98)]),
        ]),
        # a small loop where the diagonal meets the base.
        ("loop", [
            ("smooth", [(0.22, 0.25), (0.4, 0.03), (0.66, 0.06), (0.75, 0.27), (0.62, 0.52), (0.36, 0.8),
                        (0.22, 0.96), (0.3, 1.0), (0.4, 0.92), (0.32, 0.86), (0.3, 0.94), (0.5, 0.98), (0.8, 0.97)]),
        ]),
        ("z", [("line", [(0.22, 0.04), (0.76, 0.04), (0.22, 0.97), (0.8, 0.97)])]),
        # curly 2 without a flat base: the tail sweeps up to the right.
        ("swan", [
            ("smooth", [(0.25, 0.2), (0.45, 0.02), (0.7, 0.1), (0.72, 0.35), (0.5, 0.62), (0.25, 0.95),
                        (0.45, 0.9), (0.65, 0.94), (0.8, 0.85)]),
        ]),
    ],
    3: [
        ("round", [
            ("smooth", [(0.25, 0.15), (0.45, 0.02), (0.7, 0.08), (0.72, 0.3), (0.48, 0.47), (0.72, 0.6),
                        (0.76, 0.82), (0.5, 0.99), (0.22, 0.88)]),
        ]),
        # two bowls meeting in a sharp point.
        ("cusp", [
            ("smooth", [(0.25, 0.15), (0.45, 0.02), (0.7, 0.08), (0.72, 0.28), (0.4, 0.47)]),
            ("smooth", [(0.4, 0.47), (0.72, 0.58), (0.76, 0.82), (0.5, 0.99), (0.22, 0.88)]),
        ]),
        ("flat_top", [
            ("line", [(0.25, 0.03), (0.76, 0.03), (0.45, 0.42)]),
            ("smooth", [(0.45, 0.42), (0.72, 0.55), (0.76, 0.8), (0.5, 0.99), (0.22, 0.88)]),
        ]),
    ],
    4: [
        ("open", [("line", [(0.3, 0.0), (0.2, 0.62), (0.85, 0.62)]), ("line", [(0.65, 0.15), (0.65, 1.0)])]),
        ("closed", [("line", [(0.64, 0.0), (0.18, 0.64), (0.85, 0.64)]), ("line", [(0.64, 0.0), (0.64, 1.0)])]),
        # upright open 4 whose stem starts above the left stroke.
        ("open_upright", [("line", [(0.24, 0.08), (0.24, 0.56), (0.82, 0.56)]), ("line", [(0.66, 0.0), (0.66, 1.0)])]),
    ],
    5: [
        ("classic", [
            ("line", [(0.74, 0.02), (0.3, 0.02)]),
            ("line", [(0.3, 0.02), (0.27, 0.45)]),
            ("smooth", [(0.27, 0.45), (0.5, 0.37), (0.73, 0.5), (0.75, 0.77), (0.52, 0.98), (0.22, 0.88)]),
        ]),
        # flag rising to the right, slanted stem, large round belly.
        ("round_belly", [
            ("line", [(0.32, 0.05), (0.8, 0.0)]),
            ("line", [(0.32, 0.05), (0.22, 0.45)]),
            ("smooth", [(0.22, 0.45), (0.55, 0.33), (0.8, 0.6), (0.62, 0.95), (0.25, 0.9)]),
        ]),
        ("angular", [
            ("line", [(0.75, 0.02), (0.28, 0.02), (0.26, 0.45), (0.68, 0.45), (0.74, 0.9), (0.24, 0.97)]),
        ]),
    ],
    6: [
        ("curved", [
            ("smooth", [(0.7, 0.05), (0.45, 0.15), (0.28, 0.45), (0.27, 0.75), (0.45, 0.98), (0.7, 0.88),
                        (0.72, 0.62), (0.5, 0.5), (0.3, 0.62)]),
        ]),
        ("straight_stem", [("line", [(0.66, 0.0), (0.29, 0.7)]), ("closed", ellipse(0.5, 0.76, 0.22, 0.23, 8, 180))]),
        ("big_loop", [
            ("smooth", [(0.65, 0.02), (0.4, 0.2), (0.25, 0.5), (0.3, 0.85), (0.55, 0.98), (0.78, 0.75),
                        (0.65, 0.45), (0.4, 0.45), (0.26, 0.6)]),
        ]),
    ],
    7: [
        ("plain", [("line", [(0.2, 0.03), (0.8, 0.03), (0.4, 1.0)])]),
        ("crossbar", [("line", [(0.2, 0.03), (0.8, 0.03), (0.4, 1.0)]), ("line", [(0.38, 0.52), (0.78, 0.52)])]),
        ("serif", [("line", [(0.2, 0.2), (0.2, 0.03), (0.8, 0.03), (0.42, 1.0)])]),
        ("curved_stem", [
            ("line", [(0.2, 0.03), (0.8, 0.03)]),
            ("smooth", [(0.8, 0.03), (0.62, 0.33), (0.5, 0.65), (0.47, 1.0)]),
        ]),
    ],
    8: [
        ("two_loops", [("closed", ellipse(0.5, 0.26, 0.22, 0.24, 8)), ("closed", ellipse(0.5, 0.73, 0.27, 0.26, 8, 90))]),
        # one continuous stroke crossing itself in the middle.
        ("figure_eight", [
            ("closed", [(0.7, 0.15), (0.5, 0.02), (0.3, 0.16), (0.36, 0.36), (0.64, 0.6), (0.73, 0.82),
                        (0.5, 0.99), (0.27, 0.82), (0.36, 0.6), (0.64, 0.38)]),
        ]),
        ("small_top", [("closed", ellipse(0.56, 0.22, 0.17, 0.21, 8)), ("closed", ellipse(0.47, 0.7, 0.28, 0.29, 8, 90))]),
    ],
    9: [
        ("straight_tail", [("closed", ellipse(0.47, 0.28, 0.25, 0.26, 8, 0)), ("line", [(0.72, 0.2), (0.72, 1.0)])]),
        ("curved_tail", [
            ("closed", ellipse(0.47, 0.28, 0.25, 0.26, 8, 0)),
            ("smooth", [(0.72, 0.22), (0.72, 0.6), (0.66, 0.88), (0.46, 1.0), (0.28, 0.92)]),
        ]),
        ("slanted_tail", [("closed", ellipse(0.47, 0.28, 0.25, 0.26, 8, 0)), ("line", [(0.72, 0.24), (0.48, 1.0)])]),
    ],
}

VARIANTS: dict[int, tuple[str, ...]] = {d: tuple(name for name, _ in SKELETONS[d]) for d in range(10)}


# -- basis matrices ---------------------------------------------------------------------------------
def _catmull_rom_rows(m: int, closed: bool, ts: np.ndarray) -> np.ndarray:
    """Weights (len(ts), m) of a uniform Catmull-Rom spline through ``m`` points at global
    parameters ``ts`` in [0, number of segments]."""
    nseg = m if closed else m - 1
    rows = np.zeros((len(ts), m))
    for r, t in enumerate(ts):
        i = min(int(math.floor(t)), nseg - 1)
        u = t - i
        w = 0.5 * np.array([-u**3 + 2 * u**2 - u, 3 * u**3 - 5 * u**2 + 2, -3 * u**3 + 4 * u**2 + u, u**3 - u**2])
        for k, wk in zip((i - 1, i, i + 1, i + 2), w):
            if closed:
                rows[r, k % m] += wk
            elif k < 0:  # reflected phantom point 2*p0 - p1
                rows[r, 0] += 2 * wk
                rows[r, 1] -= wk
            elif k > m - 1:  # 2*p_last - p_{last-1}
                rows[r, m - 1] += 2 * wk
                rows[r, m - 2] -= wk
            else:
                rows[r, k] += wk
    return rows


def _polyline_rows(m: int, ts: np.ndarray) -> np.ndarray:
    rows = np.zeros((len(ts), m))
    for r, t in enumerate(ts):
        i = min(int(math.floor(t)), m - 2)
        u = t - i
        rows[r, i] += 1 - u
        rows[r, i + 1] += u
    return rows


def _stroke_rows(kind: str, m: int, ts: np.ndarray) -> np.ndarray:
    if kind == "line":
        return _polyline_rows(m, ts)
    return _catmull_rom_rows(m, kind == "closed", ts)


def _stroke_span(kind: str, m: int) -> int:
    return m if kind == "closed" else m - 1


@dataclass(frozen=True)
class GlyphTable:
    """All glyphs stacked and padded: what the renderer needs."""

    control: np.ndarray  # (G, K, 2) control points, zero-padded
    bases: dict[int, np.ndarray]  # P -> (G, P, K) basis
    digit: np.ndarray  # (G,) digit of each glyph
    offset: np.ndarray  # (10,) index of each digit's first glyph
    count: np.ndarray  # (10,) number of variants of each digit
    lengths: np.ndarray  # (G,) centreline length in the unit frame


def _glyph_basis(strokes, P: int) -> tuple[np.ndarray, np.ndarray, float]:
    ctrl = np.concatenate([np.asarray(pts, dtype=np.float64) for _, pts in strokes])
    K = len(ctrl)
    # arc length of each stroke from a dense sampling
    dense = []
    for kind, pts in strokes:
        m = len(pts)
        ts = np.linspace(0, _stroke_span(kind, m), 400)
        xy = _stroke_rows(kind, m, ts) @ np.asarray(pts, dtype=np.float64)
        seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
        dense.append((ts, np.concatenate([[0.0], np.cumsum(seg)])))
    lengths = np.array([c[-1] for _, c in dense])
    total = float(lengths.sum())
    # points per stroke proportional to length, at least 2 each, summing to P
    alloc = np.maximum(2, np.floor(lengths / total * P).astype(int))
    while alloc.sum() > P:
        alloc[np.argmax(alloc)] -= 1
    while alloc.sum() < P:
        alloc[np.argmax(lengths / alloc)] += 1
    basis = np.zeros((P, K))
    row, col = 0, 0
    for (kind, pts), (ts, cum), k in zip(strokes, dense, alloc):
        m = len(pts)
        # uniform in arc length; a closed stroke does not repeat its start point
        targets = np.linspace(0, cum[-1], k + (1 if kind == "closed" else 0))[:k]
        t_at = np.interp(targets, cum, ts)
        basis[row:row + k, col:col + m] = _stroke_rows(kind, m, t_at)
        row += k
        col += m
    return ctrl, basis, total


def build_table() -> GlyphTable:
    glyphs = [(d, strokes) for d in range(10) for _, strokes in SKELETONS[d]]
    K = max(sum(len(p) for _, p in strokes) for _, strokes in glyphs)
    G = len(glyphs)
    control = np.zeros((G, K, 2))
    bases = {P: np.zeros((G, P, K)) for P in POINT_LEVELS}
    lengths = np.zeros(G)
    for g, (_, strokes) in enumerate(glyphs):
        for P in POINT_LEVELS:
            ctrl, basis, total = _glyph_basis(strokes, P)
            bases[P][g, :, : basis.shape[1]] = basis
        control[g, : len(ctrl)] = ctrl
        lengths[g] = total
    count = np.array([len(SKELETONS[d]) for d in range(10)])
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    digit = np.array([d for d, _ in glyphs])
    return GlyphTable(control, bases, digit, offset, count, lengths)
