"""Batch eye renderer: gaze and eye shape -> 36x60 grayscale eye patches, vectorized with torch.

The eye model (all lengths in pixels of the 36x60 patch, the eyeball centre at the patch centre, as
in MPIIGaze's normalized eye images; image x to the right, image y down):

* **Eyeball**: a sphere of radius ``EYE_TO_IRIS * iris_radius`` (about 12 mm against a 6 mm iris).
  The gaze (pitch up, yaw to image right, in the camera's frame) turns it; the iris is a disk on its
  surface, so it projects to an ellipse foreshortened along the gaze by ``cos(pitch) cos(yaw)``; the
  pupil is a concentric disk ``pupil_ratio`` times the iris radius.
* **Lids**: the opening is a lens between two parabolas that meet at the corners, attached to the
  head: head yaw and pitch move its centre over the eyeball (the head turns about a centre behind the
  eye) and foreshorten it, head roll turns it in the image plane. The upper lid follows the iris up and
  down (``LID_FOLLOW``), as real lids do; a dark lash line marks its edge and a crease lies above it.
* **Light**: ambient plus one directional light at ``LIGHT_ELEVATION`` towards the camera and
  ``light_azimuth`` in the image plane (90 deg: from above); Lambert shading of the eyeball and of
  a gently curved skin surface, and a corneal glint (the light's reflection on the corneal bulge).
* **Defocus blur** is rendered, not convolved: every edge is an anti-aliasing ramp and every thin
  feature (lash line, crease, glint) a bump, and a Gaussian blur of std ``blur`` widens each of them
  in quadrature (and lowers the bumps so that their ink is kept). It is exact for isolated straight
  edges and close elsewhere, and costs nothing, where a per-sample convolution cost more than the
  whole render.
* **Sensor** (``Sensor``, optional): contrast about mid-grey, brightness offset, Gaussian pixel
  noise, clipping to [0, 1]. Without it ``render_eyes`` draws no random numbers, so another process
  (``target.py``) can reuse the eye model with a camera of its own.

Why this is fast: everything that depends on the sample only, or on x only, or on y only, is computed
for the whole batch first ((n, 1, 1), (n, 1, 60), (n, 36, 1) tensors); then about fifty elementwise,
mostly in-place ops per chunk of full images compose them, on chunks small enough to stay in cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

HEIGHT, WIDTH = 36, 60  # MPIIGaze's normalized eye patch
CHUNK = 64  # samples composed at once on a CPU: small enough for the intermediates to stay in cache
EYE_TO_IRIS = 2.0  # eyeball radius / iris radius (about 12 mm / 6 mm)
FISSURE_HALF_WIDTH = 1.25  # half-width of the lid opening / eyeball radius (about 15 mm / 12 mm)
UPPER_SHARE = 0.6  # share of the opening above the eyeball centre when looking straight ahead
LID_FOLLOW = (0.5, 0.2)  # how far the upper and lower lid follow the iris's vertical movement
CORNEA_DEPTH, CORNEA_RADIUS = 0.45, 0.65  # corneal sphere: centre along the gaze, radius (eyeball radii)
LIGHT_ELEVATION = math.radians(45.0)  # the light's angle out of the image plane, towards the camera
EDGE = 0.7  # px: anti-aliasing width of the iris, pupil and lid edges
SCLERA, PUPIL = 0.9, 0.04  # albedo of the white of the eye and of the pupil
GLINT_RADIUS = 1.6  # px: half-width of the corneal glint
BLUR_TO_WIDTH = 2.5  # a Gaussian edge of std sigma is about as steep as a linear ramp 2.5 sigma wide

# Per-sample inputs of ``render_eyes``: angles in degrees, lengths (and blur std) in px, tones and
# strength in [0, 1].
EYE_INPUTS = ("gaze_pitch", "gaze_yaw", "head_pitch", "head_yaw", "head_roll", "eye_opening", "iris_radius",
              "pupil_ratio", "iris_tone", "skin_tone", "light_azimuth", "light_strength", "blur")


def _grid(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates relative to the patch centre, shaped to broadcast over a batch."""
    y = torch.arange(HEIGHT, dtype=torch.float32, device=device) - (HEIGHT - 1) / 2
    x = torch.arange(WIDTH, dtype=torch.float32, device=device) - (WIDTH - 1) / 2
    return x.view(1, 1, WIDTH), y.view(1, HEIGHT, 1)


def _widen(width: float, blur: torch.Tensor) -> torch.Tensor:
    """Width of a feature after a Gaussian blur of std ``blur``: widths add in quadrature."""
    return (width**2 + (BLUR_TO_WIDTH * blur) ** 2).sqrt()


def _lambert(nx: torch.Tensor, ny: torch.Tensor, light: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """Lambert's cosine on a sphere as an x part plus a y part: the normal's z is taken to second order,
    sqrt(1 - nx^2 - ny^2) ~ 1 - nx^2/2 - ny^2/2, so shading costs one full-size add, not a sqrt."""
    lx, ly, lz = light
    return nx * lx + lz * (0.5 - 0.5 * nx * nx), ny * ly + lz * (0.5 - 0.5 * ny * ny)


def _terms(v: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every per-sample (n, 1, 1), per-column (n, 1, W) and per-row (n, H, 1) term of the image.

    Names: ``*_x`` vary along x, ``*_y`` along y; the others are per sample. A ramp is the
    anti-aliased step clamp(t / edge + 1/2, 0, 1) with t a signed distance in px.
    """
    X, Y = _grid(v["gaze_pitch"].device)
    d2r = math.pi / 180.0
    pitch, yaw = v["gaze_pitch"] * d2r, v["gaze_yaw"] * d2r
    hp, hy, roll = v["head_pitch"] * d2r, v["head_yaw"] * d2r, v["head_roll"] * d2r
    r, opening, s, blur, tone = v["iris_radius"], v["eye_opening"], v["light_strength"], v["blur"], v["iris_tone"]
    R = EYE_TO_IRIS * r
    gx, gy, gz = torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)
    edge = _widen(EDGE, blur)
    t: dict[str, torch.Tensor] = {}

    # Iris: squared elliptic radius rho2 = (a_x - a_y)^2 + dx^2 + dy^2 of the disk on the sphere seen
    # along the camera axis (a: the displacement along the projected gaze, stretched by 1 / gz).
    depth = R * math.sqrt(1.0 - 1.0 / EYE_TO_IRIS**2)
    dx, dy = X - depth * gx, Y + depth * gy
    a_x, a_y = dx * (gx / gz), dy * (gy / gz)
    t["rho_x"], t["rho_y"], t["rho_xy"], t["rho_y1"] = a_x * a_x + dx * dx, a_y * a_y + dy * dy, -2.0 * a_x, a_y
    # Disks from rho2: (r^2 - rho2) / (2 r edge) equals (r - rho) / edge to first order at the edge.
    r_pupil = v["pupil_ratio"] * r
    t["iris_k"], t["iris_0"] = -1.0 / (2 * edge * r), r / (2 * edge) + 0.5
    t["pupil_k"], t["pupil_0"] = 1.0 / (2 * edge * r_pupil), 0.5 - r_pupil / (2 * edge)  # 1 outside
    # Iris albedo tone * (1 - 0.45 ring) - PUPIL, ring ramping up over the outer 20% of the radius
    # (the dark limbal ring); clamp(u, 0, 1) * a + b == clamp(u * a + b, b + a, b) for a < 0.
    ring_k, ring_0, a, b = 1.0 / (0.36 * r * r), -0.64 / 0.36, -0.45 * tone, tone - PUPIL
    t["albedo_k"], t["albedo_0"], t["albedo_lo"], t["albedo_hi"] = ring_k * a, ring_0 * a + b, a + b, b

    # Light: unit vector in image coordinates (x right, y down, z towards the camera).
    az = v["light_azimuth"] * d2r
    light = (torch.cos(az) * math.sin(LIGHT_ELEVATION), -torch.sin(az) * math.sin(LIGHT_ELEVATION),
             math.cos(LIGHT_ELEVATION))
    ambient, gain = 0.7 * (1.0 - s) + 0.25 * s, 0.9 * s  # illumination = ambient + gain * max(cos, 0)
    ball = 1.15 * R  # shade the eyeball a little flatter than its radius: the lids hide its rim
    lx, ly = _lambert(X / ball, Y / ball, light)
    t["eye_light_x"], t["eye_light_y"], t["ambient"] = ambient + gain * lx, gain * ly, ambient
    skin_r = 2.5 * R  # the skin around the eye as a gentle bulge, lit from the same light
    lx, ly = _lambert(X / skin_r, Y / skin_r, light)
    t["skin_x"], t["skin_y"] = v["skin_tone"] * (ambient + gain * lx), v["skin_tone"] * gain * ly

    # Corneal glint: the light's mirror reflection on the corneal sphere (half-vector of light and
    # view); a separable bump whose peak a blur lowers as it widens it.
    hx, hy_, hz = light[0], light[1], light[2] + 1.0
    norm = (hx * hx + hy_ * hy_ + hz * hz).sqrt()
    gw = _widen(GLINT_RADIUS, blur)
    bump_x = (1.0 - ((X - R * (CORNEA_DEPTH * gx + CORNEA_RADIUS * hx / norm)) / gw).abs()).clamp(min=0.0)
    bump_y = (1.0 - ((Y - R * (-CORNEA_DEPTH * gy + CORNEA_RADIUS * hy_ / norm)) / gw).abs()).clamp(min=0.0)
    t["glint_x"] = bump_x.square() * ((0.5 + 0.8 * s) * (GLINT_RADIUS / gw) ** 2)
    t["glint_y"] = bump_y.square()

    # Lids in the head's frame: centre moved by head yaw/pitch, turned by roll, foreshortened.
    # shape = max(0, 1 - xs^2) with xs = xs_x - xs_y the across-coordinate in half-widths of the opening.
    cx, cy = R * torch.sin(hy) * torch.cos(hp), -R * torch.sin(hp)
    cr, sr = torch.cos(roll), torch.sin(roll)
    ux, uy = X - (cr * cx + sr * cy), Y - (-sr * cx + cr * cy)
    sx = 1.0 / (torch.cos(hy) * FISSURE_HALF_WIDTH * R)
    xs_x, xs_y = ux * (cr * sx), uy * (sr * sx)
    t["shape_x"], t["shape_y"], t["shape_xy"] = 1.0 - xs_x * xs_x, -xs_y * xs_y, 2.0 * xs_x
    t["shape_y1"] = xs_y
    yh_x, yh_y = ux * (sr / torch.cos(hp)), uy * (cr / torch.cos(hp))  # px down, head frame
    t["yh_x"], t["yh_y"] = yh_x, yh_y
    t["low_x"], t["low_y"] = 0.5 - yh_x / edge, -yh_y / edge  # ramp of (-yh) before the lower lid's term
    lift = R * (torch.sin(pitch) - torch.sin(hp))  # iris height in the head's frame (px, up)
    t["upper"] = (UPPER_SHARE * opening + LID_FOLLOW[0] * lift).clamp(min=0.5)
    t["lower_k"] = ((1.0 - UPPER_SHARE) * opening - LID_FOLLOW[1] * lift).clamp(min=0.5) / edge
    t["inv_edge"], t["half"] = 1.0 / edge, torch.full_like(edge, 0.5)
    t["shadow_k"], t["shadow_0"] = 0.35 / _widen(3.0, blur), torch.full_like(edge, 0.65)
    # Lash line on the upper lid's edge and crease above it: negative tents -amp * max(0, 1 - |u| / w).
    lw, cw = _widen(1.3, blur), _widen(1.5, blur)
    t["lash_amp"], t["lash_k"] = 0.65 * 1.3 / lw, 0.65 * 1.3 / lw / lw
    t["crease_off"] = 0.35 * opening + 3.0
    t["crease_amp"], t["crease_k"] = 0.2 * 1.5 / cw, 0.2 * 1.5 / cw / cw
    return t


def _compose(t: dict[str, torch.Tensor], out: torch.Tensor) -> None:
    """Compose one chunk of full images from its terms into ``out`` (c, H, W): full-size ops only."""
    rho2 = torch.addcmul(t["rho_x"], t["rho_xy"], t["rho_y1"]).add_(t["rho_y"])
    iris = torch.addcmul(t["iris_0"], rho2, t["iris_k"]).clamp_(0.0, 1.0)
    outside_pupil = torch.addcmul(t["pupil_0"], rho2, t["pupil_k"]).clamp_(0.0, 1.0)
    eye = torch.addcmul(t["albedo_0"], rho2, t["albedo_k"]).clamp_(t["albedo_lo"], t["albedo_hi"])
    eye.mul_(outside_pupil).add_(PUPIL - SCLERA).mul_(iris).add_(SCLERA)  # albedo: pupil, iris, sclera
    eye.mul_(torch.add(t["eye_light_x"], t["eye_light_y"]).clamp_(min=t["ambient"]))

    shape = torch.addcmul(t["shape_x"], t["shape_xy"], t["shape_y1"]).add_(t["shape_y"]).clamp_(min=0.0)
    above = torch.addcmul(torch.add(t["yh_x"], t["yh_y"]), shape, t["upper"])  # px below the upper lid
    inside = torch.add(t["low_x"], t["low_y"]).addcmul_(shape, t["lower_k"]).clamp_(0.0, 1.0)
    inside.mul_(torch.addcmul(t["half"], above, t["inv_edge"]).clamp_(0.0, 1.0))
    eye.mul_(torch.addcmul(t["shadow_0"], above, t["shadow_k"]).clamp_(max=1.0))  # the upper lid's shadow
    eye.addcmul_(t["glint_x"], t["glint_y"])

    skin = torch.add(t["skin_x"], t["skin_y"])
    img = eye.sub_(skin).mul_(inside).add_(skin)
    # 1 - lash - crease, both fading out at the corners: -amp + k |u| clamped at 0 is a negative tent.
    dark = torch.abs(above).mul_(t["lash_k"]).sub_(t["lash_amp"]).clamp_(max=0.0)
    crease = above.add_(t["crease_off"]).abs_().mul_(t["crease_k"]).sub_(t["crease_amp"]).clamp_(max=0.0)
    dark.add_(crease).mul_(shape.mul_(4.0).clamp_(max=1.0)).add_(1.0)
    torch.mul(img, dark, out=out)


@dataclass
class Sensor:
    """The simulator's sensor, per sample (n,): contrast about mid-grey, brightness offset, Gaussian
    pixel noise std (all in [0, 1] image units); ``gen`` draws the noise."""

    contrast: torch.Tensor
    brightness: torch.Tensor
    noise: torch.Tensor
    gen: torch.Generator


def render_eyes(params: dict[str, torch.Tensor], sensor: Sensor | None = None) -> torch.Tensor:
    """Eye patches (n, 36, 60) float32.

    ``params`` maps every name of ``EYE_INPUTS`` to an (n,) tensor (units: see that tuple's comment).
    Without ``sensor``: noise-free radiance, roughly in [0, 1.3], and no random numbers drawn; with it:
    the sensor's output, in [0, 1].
    """
    missing = sorted(set(EYE_INPUTS) - set(params))
    if missing:
        raise ValueError(f"render_eyes: missing inputs {missing}")
    n = int(params["gaze_pitch"].shape[0])
    device = params["gaze_pitch"].device
    terms = _terms({k: params[k].to(device=device, dtype=torch.float32).view(-1, 1, 1) for k in EYE_INPUTS})
    if sensor is not None:  # out = img * contrast + offset + noise
        gain = sensor.contrast.float().view(-1, 1, 1)
        offset = (0.5 - 0.5 * gain + sensor.brightness.float().view(-1, 1, 1))
        noise = sensor.noise.float().view(-1, 1, 1)
    out = torch.empty(n, HEIGHT, WIDTH, dtype=torch.float32, device=device)
    chunk_size = CHUNK if device.type == "cpu" else n  # a GPU wants few, large launches, not cache-sized ones
    for start in range(0, n, chunk_size):
        sl = slice(start, min(n, start + chunk_size))
        chunk = out[sl]
        _compose({k: x[sl] for k, x in terms.items()}, chunk)
        if sensor is not None:
            grain = torch.randn(chunk.shape, generator=sensor.gen, device=device)
            chunk.mul_(gain[sl]).add_(offset[sl]).addcmul_(grain, noise[sl]).clamp_(0.0, 1.0)
    return out
