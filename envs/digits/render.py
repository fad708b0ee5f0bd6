"""Batch renderer: skeleton glyphs -> optdigits 8x8 block counts, vectorized with torch.

Per sample: pick a glyph (digit variant), jitter its control points, evaluate the centreline at
``P`` points (one batched matmul), warp it (waist height, smooth elastic field, aspect, slant,
rotation), fit the inked bounding box into the 32x32 box preserving the aspect ratio, stamp a disk
of the stroke radius at every centreline point into a binary 32x32 bitmap, rescale it horizontally
so its ink spans between the sample's ``min_width`` and ``max_width`` (as a bitmap normalizer
stretches a narrow scanned 1 or squeezes a wide 0), thicken or thin it towards the sample's ``ink``
fraction by at most ``ink_reach`` px (a normalizer's stroke-width normalization), and count the
on-pixels in 4x4 blocks.

Why this is fast: the disk stamp is a lookup. For each (radius bin, sub-pixel position) pair a
table holds the canvas offsets the disk covers (covered offsets point into a cropped-away margin
otherwise), so stamping is one gather, one add and one scatter of bytes. Samples are grouped by
stroke radius: thin strokes need dense centrelines but small disks, thick strokes the opposite,
which keeps the work per sample roughly constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .glyphs import GlyphTable, build_table

BOX = 32  # side of the normalized optdigits bitmap
BLOCK = 4  # optdigits counts on-pixels in 4x4 blocks
SUB = 8  # sub-pixel positions per pixel axis in the stamp table
RADIUS_STEP = 0.0625  # radius resolution of the stamp table, in bitmap pixels
ELASTIC_WAVES = 3  # random plane waves per axis in the elastic displacement field
INK_REACH_MAX = 4  # px: the farthest stroke-width normalization looks (the ink_reach factor's upper bound)

# (max stroke radius in px, centreline points) per group; radii above the last are clipped to it.
RADIUS_GROUPS = ((1.0, 128), (2.0, 80), (3.0, 48), (5.0, 32))


@dataclass
class _Stamp:
    radius_max: float
    margin: int  # canvas margin on each side (>= window radius + 1)
    side: int  # padded canvas side
    table: torch.Tensor  # (radius bins * SUB * SUB, window) int64 offsets


def _make_stamp(radius_max: float, device: torch.device) -> _Stamp:
    R = int(math.ceil(radius_max))
    margin = R + 1
    side = BOX + 2 * margin
    o = torch.arange(-R, R + 1)
    dy, dx = torch.meshgrid(o, o, indexing="ij")
    # keep only window cells that some point in the base pixel can reach
    cx = ((dx.double() + 0.5).abs() - 0.5).clamp(min=0)
    cy = ((dy.double() + 0.5).abs() - 0.5).clamp(min=0)
    keep = cx**2 + cy**2 <= radius_max**2
    dx, dy = dx[keep], dy[keep]
    n_r = int(round(radius_max / RADIUS_STEP)) + 1
    radii = torch.arange(n_r, dtype=torch.float64) * RADIUS_STEP
    f = (torch.arange(SUB, dtype=torch.float64) + 0.5) / SUB
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    d2 = ((dx.double() + 0.5)[None, :] - fx.reshape(-1, 1)) ** 2 + ((dy.double() + 0.5)[None, :] - fy.reshape(-1, 1)) ** 2
    covered = d2[None] <= radii.view(-1, 1, 1) ** 2  # (n_r, SUB*SUB, W)
    offsets = (dy * side + dx).view(1, 1, -1).expand_as(covered)
    dump = -margin * side - margin  # the top-left margin pixel of the point's own canvas, cropped later
    table = torch.where(covered, offsets, torch.full_like(offsets, dump)).reshape(n_r * SUB * SUB, -1)
    return _Stamp(radius_max, margin, side, table.to(device))


class Renderer:
    """Holds the glyph table and stamp tables on one device; ``render`` draws a batch."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.table: GlyphTable = build_table()
        dev = self.device
        self.control = torch.as_tensor(self.table.control, dtype=torch.float32, device=dev)
        self.bases = {P: torch.as_tensor(b, dtype=torch.float32, device=dev) for P, b in self.table.bases.items()}
        self.offset = torch.as_tensor(self.table.offset, device=dev)
        self.count = torch.as_tensor(self.table.count, device=dev)
        self.stamps = [_make_stamp(r, dev) for r, _ in RADIUS_GROUPS]
        self.n_control = self.control.shape[1]

    # ------------------------------------------------------------------------------------------
    def render(
        self,
        labels: torch.Tensor,  # (n,) int64 digits
        variant_weights: torch.Tensor,  # (n, 10, Vmax) nonnegative; rows of zeros mean uniform
        f: dict[str, torch.Tensor],  # per-sample factor values, each (n,)
        gen: torch.Generator,
        forced_variant: torch.Tensor | None = None,  # (n,) variant index, overrides the weights
        bitmaps: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(counts, variant)``: (n, 8, 8) float32 block counts (or, with ``bitmaps``, the
        (n, 32, 32) uint8 binary bitmaps) and the variant index drawn for each sample."""
        dev = self.device
        n = labels.shape[0]
        K = self.n_control
        # Every random number is drawn here, in a fixed order, so a seed fixes the batch.
        u_variant = torch.rand(n, generator=gen, device=dev)
        jitter_noise = torch.randn(n, K, 2, generator=gen, device=dev)
        wave_dir = torch.rand(n, 2, ELASTIC_WAVES, generator=gen, device=dev) * (2 * math.pi)
        wave_freq = 0.7 + 0.6 * torch.rand(n, 2, ELASTIC_WAVES, generator=gen, device=dev)
        wave_phase = torch.rand(n, 2, ELASTIC_WAVES, generator=gen, device=dev) * (2 * math.pi)

        # variant choice: inverse CDF of the normalized weights of the sample's digit
        count = self.count[labels]
        if forced_variant is None:
            w = variant_weights[torch.arange(n, device=dev), labels].clone()  # (n, Vmax)
            vmax = w.shape[1]
            valid = torch.arange(vmax, device=dev)[None, :] < count[:, None]
            w = torch.where(valid, w, torch.zeros_like(w))
            total = w.sum(1, keepdim=True)
            w = torch.where(total > 0, w, valid.to(w.dtype))  # all-zero weights: uniform
            cdf = w.cumsum(1)
            cdf = cdf / cdf[:, -1:]
            variant = torch.minimum((cdf < u_variant[:, None]).sum(1), count - 1)
        else:
            variant = forced_variant.to(dev)
        glyph = self.offset[labels] + variant

        radius = (f["stroke_width"] / 2).clamp(min=0.0, max=RADIUS_GROUPS[-1][0])
        if bitmaps:
            out = torch.zeros(n, BOX, BOX, dtype=torch.uint8, device=dev)
        else:
            out = torch.zeros(n, BOX // BLOCK, BOX // BLOCK, dtype=torch.float32, device=dev)
        lo = -1.0
        for (r_hi, P), stamp in zip(RADIUS_GROUPS, self.stamps):
            idx = torch.nonzero((radius > lo) & (radius <= r_hi)).view(-1)
            lo = r_hi
            if idx.numel() == 0:
                continue
            sub = {k: v[idx] for k, v in f.items()}
            pts = self._centreline(
                glyph[idx], P, sub, jitter_noise[idx], wave_dir[idx], wave_freq[idx], wave_phase[idx]
            )
            bitmap = self._rasterize(pts, radius[idx], stamp)
            bitmap = fit_width(bitmap, sub["min_width"], sub["max_width"])
            bitmap = normalize_ink(bitmap, sub["ink"], sub["ink_reach"])
            if bitmaps:
                out[idx] = bitmap
            else:
                nb = BOX // BLOCK
                out[idx] = bitmap.reshape(-1, nb, BLOCK, nb, BLOCK).sum((2, 4), dtype=torch.int32).to(torch.float32)
        return out, variant

    # ------------------------------------------------------------------------------------------
    def _centreline(self, glyph, P, f, jitter_noise, wave_dir, wave_freq, wave_phase) -> torch.Tensor:
        """(m, P, 2) centreline points in the unit frame (y down), fully warped."""
        ctrl = self.control[glyph] + jitter_noise * f["jitter"][:, None, None]
        pts = torch.bmm(self.bases[P][glyph], ctrl)  # (m, P, 2)
        x, y = pts[..., 0], pts[..., 1]

        # waist: a monotone warp of the height that moves the middle of the digit up or down
        # (where the loops of 8 and 3 meet, how big the loop of 9 or 6 is).
        y = y + 4.0 * f["waist"][:, None] * y * (1.0 - y)

        # smooth elastic field: a few random plane waves per axis with wavelength ~ elastic_wavelength
        amp = f["elastic"][:, None] * math.sqrt(2.0 / ELASTIC_WAVES)
        k = 2 * math.pi * wave_freq / f["elastic_wavelength"][:, None, None]  # (m, 2, W)
        kx, ky = k * torch.cos(wave_dir), k * torch.sin(wave_dir)
        arg = x[:, None, :, None] * kx[:, :, None, :] + y[:, None, :, None] * ky[:, :, None, :] + wave_phase[:, :, None, :]
        disp = torch.sin(arg).sum(-1) * amp[:, :, None]  # (m, 2, P)
        x = x + disp[:, 0]
        y = y + disp[:, 1]

        # aspect, slant (shear, top to the right for positive slant), rotation
        x = (x - 0.5) * f["aspect"][:, None]
        y = y - 0.5
        x = x - torch.tan(torch.deg2rad(f["slant"]))[:, None] * y
        th = torch.deg2rad(f["rotation"])[:, None]
        c, s = torch.cos(th), torch.sin(th)
        x, y = c * x - s * y, s * x + c * y
        return torch.stack((deslant(x, y, f["deslant"]), y), -1)

    def _rasterize(self, pts: torch.Tensor, radius: torch.Tensor, stamp: _Stamp) -> torch.Tensor:
        """Fit the inked box into BOX x BOX preserving the aspect ratio; stamp disks -> (m, BOX, BOX) uint8."""
        m, P, _ = pts.shape
        lo = pts.amin(1)
        hi = pts.amax(1)
        extent = (hi - lo).amax(1).clamp(min=1e-6)
        scale = (BOX - 2 * radius) / extent  # the ink (centreline +- radius) spans exactly BOX
        centre = (lo + hi) / 2
        px = (pts - centre[:, None, :]) * scale[:, None, None] + BOX / 2
        px = px.clamp(0.0, BOX - 1e-4)
        q = (px * SUB).long()
        base = q // SUB
        frac = q - base * SUB
        side, margin = stamp.side, stamp.margin
        base_index = (base[..., 1] + margin) * side + (base[..., 0] + margin)
        base_index = base_index + (torch.arange(m, device=pts.device) * (side * side))[:, None]
        r_bin = (radius / RADIUS_STEP).round().long().clamp(max=stamp.table.shape[0] // (SUB * SUB) - 1)
        key = r_bin[:, None] * (SUB * SUB) + frac[..., 1] * SUB + frac[..., 0]
        cells = stamp.table.index_select(0, key.reshape(-1)).view(m, P, -1) + base_index[..., None]
        canvas = torch.zeros(m * side * side, dtype=torch.uint8, device=pts.device)
        canvas[cells.reshape(-1)] = 1
        return canvas.view(m, side, side)[:, margin:margin + BOX, margin:margin + BOX]


def deslant(x: torch.Tensor, y: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
    """Shear each digit's (m, P) centreline points (y down, evenly spaced along the strokes) towards
    upright, as a normalizer's slant correction does, and return the new x: the slant is the ink's
    second-moment slant (the x drift per unit height, cov(x, y) / var(y)), and ``strength`` of it
    (0: none, 1: all) is removed about the digit's mean height. The box fit comes after, so a
    corrected digit still fills the box."""
    mx, my = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
    slant = ((x - mx) * (y - my)).mean(1, keepdim=True) / ((y - my) ** 2).mean(1, keepdim=True).clamp(min=1e-9)
    return x - strength[:, None] * slant * (y - my)


def fit_width(bitmap: torch.Tensor, min_width: torch.Tensor, max_width: torch.Tensor) -> torch.Tensor:
    """Rescale each (BOX, BOX) bitmap horizontally so that its ink spans between ``min_width`` and
    ``max_width`` × BOX pixels, as a bitmap normalizer that bounds a character's width does (a thin 1
    is stretched into a bold block, a wide 0 squeezed into the same column band); where the two
    disagree, ``max_width`` wins. Rescaled ink is centred in the box; ink already inside the band is
    left as it is. Stretching samples columns nearest neighbour; squeezing ORs every source column
    into the column it lands in, so no stroke is lost."""
    ink = bitmap.bool().any(1)  # (m, BOX): columns with ink
    has_ink = ink.any(1)
    cols = torch.arange(BOX, device=bitmap.device)
    left = torch.where(ink, cols, BOX).amin(1)
    right = torch.where(ink, cols, -1).amax(1)
    width = (right - left + 1).clamp(min=1).to(torch.float32)
    target = torch.minimum(torch.maximum(width, min_width * BOX), (max_width * BOX).clamp(min=1.0))
    factor = target / width
    centre = (left + right + 1).to(torch.float32) / 2
    out = bitmap
    stretch = has_ink & (factor > 1.0)
    if bool(stretch.any()):
        source = centre[:, None] + (cols[None, :] + 0.5 - BOX / 2) / factor[:, None]
        source = source.floor().long().clamp(0, BOX - 1)  # (m, BOX) the column each column copies
        source = torch.where(stretch[:, None], source, cols[None, :])
        out = torch.gather(out, 2, source[:, None, :].expand(-1, BOX, -1))
    squeeze = has_ink & (factor < 1.0)
    if bool(squeeze.any()):
        # ink columns land in [BOX/2 - target/2, BOX/2 + target/2); empty columns add nothing wherever they land
        dest = (BOX / 2 + (cols[None, :] + 0.5 - centre[:, None]) * factor[:, None]).floor().long().clamp(0, BOX - 1)
        dest = dest[squeeze][:, None, :].expand(-1, BOX, -1)
        squeezed = torch.zeros_like(out[squeeze]).scatter_reduce(2, dest, out[squeeze], reduce="amax")
        out = out.clone()
        out[squeeze] = squeezed
    return out


def normalize_ink(bitmap: torch.Tensor, ink: torch.Tensor, reach: torch.Tensor) -> torch.Tensor:
    """Thicken or thin each (BOX, BOX) bitmap towards ``ink`` × BOX² on-pixels, as a normalizer's
    stroke-width normalization does: background pixels are added in order of their Euclidean distance
    to the ink, or ink pixels removed in order of their distance to the background, never farther
    than ``reach`` px (``reach`` 0 leaves the bitmap as it is). Pixels at the same distance go
    together (a whole ring), so the count lands on the ring nearest to ``ink``. Outside the box counts
    as ink when thinning: a stroke touching the border is peeled from its inner side only."""
    todo = torch.nonzero((reach > 0) & bitmap.flatten(1).any(1)).view(-1)
    if todo.numel() == 0:
        return bitmap
    on = bitmap[todo].bool()
    m, reach = on.shape[0], reach[todo].clamp(max=INK_REACH_MAX)
    far = int(math.ceil(float(reach.max())))
    wanted = (ink[todo] * BOX * BOX).round().long().clamp(1, BOX * BOX)[:, None]
    # Every pixel gets a key in the order normalization adds or keeps it: ink from the deepest
    # (key 0) to the boundary (254), then background from the nearest (257) to beyond reach (511).
    # A digit is only thinned or only thickened, so one distance serves: a heavy digit's ink pixels'
    # distance to the background, a light one's background pixels' distance to the ink (the other 0).
    heavy = on.flatten(1).sum(1) > wanted[:, 0]
    distance = _squared_distance(on ^ heavy[:, None, None], far).to(torch.int16)
    key = torch.where(on, _FAR - distance, _FAR + 1 + distance).view(m, -1)
    rows = torch.arange(m, device=key.device)[:, None] * _KEYS
    kept = torch.bincount((key.long() + rows).view(-1), minlength=m * _KEYS).view(m, _KEYS).cumsum(1)  # pixels with key <= k
    upper = (kept < wanted).sum(1, keepdim=True)  # the first key whose ring reaches the wanted count
    before = kept.gather(1, (upper - 1).clamp(min=0)) * (upper > 0)
    reached = kept.gather(1, upper)
    threshold = torch.where(wanted - before < reached - wanted, upper - 1, upper)[:, 0]
    # reach: keep every ink pixel deeper than it, add no background pixel farther than it
    limit = (reach * reach + 1e-4).floor().long()  # the epsilon keeps sqrt(2)² from rounding down
    threshold = torch.minimum(torch.maximum(threshold, _FAR - limit - 1), _FAR + 1 + limit)
    out = bitmap.clone()
    out[todo] = (key <= threshold[:, None]).view_as(on).to(bitmap.dtype)
    return out


_FAR = 255  # "farther than the reach" in a uint8 squared distance
_KEYS = 2 * _FAR + 2  # pixel keys of normalize_ink: 255 - d² for ink, 256 + d² for background


def _squared_distance(mask: torch.Tensor, reach: int) -> torch.Tensor:
    """(m, BOX, BOX) uint8 squared Euclidean distance from every pixel to the nearest ``True`` pixel
    of its (BOX, BOX) mask, exact up to ``reach`` px (at most 11) and ``_FAR`` beyond; two separable
    passes: the distance along each column, then the nearest column."""
    beyond = reach * reach + 1  # small, so that adding dx² below cannot wrap a uint8
    padded = torch.nn.functional.pad(mask, (0, 0, reach, reach))  # pad the rows: False beyond the box
    column = torch.full(mask.shape, beyond, dtype=torch.uint8, device=mask.device)
    for dy in range(reach, -1, -1):  # farthest first: nearer rows overwrite
        hit = padded[:, reach + dy:reach + dy + BOX, :] | padded[:, reach - dy:reach - dy + BOX, :]
        column.masked_fill_(hit, dy * dy)
    padded = torch.nn.functional.pad(column, (reach, reach), value=beyond)
    squared = column
    for dx in range(1, reach + 1):
        step = dx * dx
        squared = torch.minimum(squared, padded[:, :, reach + dx:reach + dx + BOX] + step)
        squared = torch.minimum(squared, padded[:, :, reach - dx:reach - dx + BOX] + step)
    return squared.masked_fill_(squared > reach * reach, _FAR)


def to_tensor(value, n: int, device: torch.device) -> torch.Tensor:
    """A parameter (scalar or (n,) array) as an (n,) float32 tensor."""
    arr = np.array(np.broadcast_to(np.asarray(value, dtype=np.float32), (n,)))  # a writable copy
    return torch.as_tensor(arr, device=device)
