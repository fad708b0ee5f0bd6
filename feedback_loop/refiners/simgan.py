"""SimGAN (Shrivastava et al., CVPR 2017): a refiner network trained against a local patch discriminator.

Reads top to bottom: config → networks → history buffer → ``SimGANRefiner`` (pretraining, then
alternating refiner and discriminator steps). Refiner loss = local adversarial loss
+ λ·mean|R(x) − x| (self-regularization keeps the label valid). The discriminator sees real samples
against a minibatch half of which are fresh refined samples and half earlier refined samples from a
history buffer (so the refiner cannot chase a forgetful discriminator).

Units: batches come in the simulator's units (optdigits: counts 0..16); inside, everything is
multiplied by ``input_scale`` into [0, 1], and ``refine`` returns the simulator's units again,
clamped to [0, 1/input_scale] (optionally rounded to integers).

Refining before the observation (``pool``, ``binarize``): the refiner may edit an image the real data
only exist as a summary of — the digits' 32×32 binary bitmap, whose 4×4 block sums are the optdigits
counts. The discriminator then judges the refined image as the learner will see it: binarized
(straight-through gradients) and block-averaged, against real samples given at the pooled size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import Refiner, _check_batch
from .history import HistoryBuffer


@dataclass
class SimGANConfig:
    """Sizes and schedule of a SimGAN refiner (defaults sized for 8×8 optdigits on a CPU core)."""

    channels: int = 32
    """Feature maps of the refiner's 3×3 convs and of the discriminator (paper: 64)."""
    blocks: int = 3
    """ResNet blocks (two 3×3 convs each) in the refiner (paper: 4)."""
    lambda_reg: float = 1.0
    """Weight λ of the self-regularization λ·mean|R(x) − x| (per pixel, inputs scaled to [0, 1])."""
    lr: float = 1e-3
    """Adam learning rate of the refiner and the discriminator."""
    batch_size: int = 64
    """Minibatch size of every refiner and discriminator step."""
    pretrain_refiner_steps: int = 100
    """Refiner steps on the self-regularization term alone before adversarial training (paper: 1000)."""
    pretrain_disc_steps: int = 50
    """Discriminator steps against the pretrained refiner before adversarial training (paper: 200)."""
    steps: int = 500
    """Adversarial rounds after pretraining; each is ``k_g`` refiner steps then ``k_d`` discriminator steps."""
    k_g: int = 2
    """Refiner steps per round (public implementations found 50 collapses; 2 works)."""
    k_d: int = 1
    """Discriminator steps per round."""
    history_size: int = 1024
    """Refined samples kept in the history buffer that supplies half of each discriminator batch."""
    input_scale: float = 1.0 / 16.0
    """Inputs are multiplied by this into [0, 1] (optdigits counts: 1/16); outputs are divided back."""
    round_output: bool = False
    """Round refined outputs to integers (optdigits counts are integers)."""
    pool: int = 1
    """The discriminator judges refined images averaged over pool×pool blocks (4: a 32×32 digit bitmap
    judged as the 8×8 counts that real digits exist as); real samples are given at the pooled size."""
    binarize: bool = False
    """Refined images are rounded to {0, 1} (a bitmap stays binary); the refiner learns through the
    rounding with straight-through gradients, so the discriminator judges exactly what ``refine`` gives."""
    real_input_scale: float | None = None
    """Real samples are multiplied by this into [0, 1] (None: ``input_scale``; bitmaps vs counts: 1/16)."""
    seed: int = 0
    """Seed of the initial weights, minibatch draws and history-buffer replacement."""

    def __post_init__(self) -> None:
        for name in ("channels", "blocks", "batch_size", "k_g", "k_d", "history_size"):
            if int(getattr(self, name)) < (0 if name == "blocks" else 1):
                raise ValueError(f"SimGANConfig.{name} must be >= {0 if name == 'blocks' else 1}, got {getattr(self, name)!r}")
        for name in ("pretrain_refiner_steps", "pretrain_disc_steps", "steps"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"SimGANConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("input_scale", "real_input_scale"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"SimGANConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if int(self.pool) < 1:
            raise ValueError(f"SimGANConfig.pool must be >= 1, got {self.pool!r}")
        if self.lambda_reg < 0 or not self.lr > 0:
            raise ValueError(f"SimGANConfig: need lambda_reg >= 0 and lr > 0, got {self.lambda_reg!r}, {self.lr!r}")

    @classmethod
    def from_dict(cls, options: dict | None) -> "SimGANConfig":
        """From a config mapping; an unknown key is a ``ValueError`` naming it and the known ones."""
        options = dict(options or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"refiner option {unknown[0]!r} is unknown to simgan; known: {sorted(known)}")
        return cls(**options)


# -- networks ---------------------------------------------------------------------------------------------
class ResnetBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.relu(h + self.conv2(F.relu(self.conv1(h))))


class RefinerNet(nn.Module):
    """conv 3×3 → ResNet blocks → conv 1×1 to the image, on images in [0, 1].

    The 1×1 output is added to the input's logit and squashed (``sigmoid``): the output stays in
    [0, 1] without clamping away gradients, and with the zero-initialized head the untrained
    refiner is the identity (up to ``EPS``), where self-regularization wants it to start.
    """

    EPS = 0.01

    def __init__(self, in_channels: int, channels: int, blocks: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*[ResnetBlock(channels) for _ in range(blocks)])
        self.head = nn.Conv2d(channels, in_channels, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = self.head(self.blocks(F.relu(self.stem(x))))
        return torch.sigmoid(torch.logit(x.clamp(self.EPS, 1 - self.EPS)) + delta)


class PatchDiscriminator(nn.Module):
    """One real-vs-refined logit per local patch: two 3×3 convs (the second with stride 2), then 1×1s.

    Each output sees a 5×5 input patch (on 8×8 digits: about one stroke segment), so the refiner is
    judged on local texture and cannot trade one region's artefacts for another's.
    """

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, channels, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (N, 1, h, w) patch logits


# -- the refiner -------------------------------------------------------------------------------------------
class SimGANRefiner(Refiner):
    """SimGAN refiner + local patch discriminator, trained by ``fit``; see the module docstring."""

    name = "simgan"
    has_discriminator = True

    def __init__(self, config: SimGANConfig | dict | None = None, *, device: str | torch.device = "cpu", **options) -> None:
        if config is None or isinstance(config, dict):
            config = SimGANConfig.from_dict({**(config or {}), **options})
        elif options:
            raise TypeError("give either a SimGANConfig or keyword options, not both")
        self.config = config
        self.device = torch.device(device)
        self.refiner: RefinerNet | None = None
        self.discriminator: PatchDiscriminator | None = None
        self.sample_shape: tuple[int, ...] | None = None  # (C, H, W) seen by fit
        self.generator = torch.Generator().manual_seed(int(config.seed))
        self.history = HistoryBuffer(config.history_size, self.generator)
        self.opt_r = self.opt_d = None
        self._losses: list[dict[str, float]] = []
        self._step = 0

    # -- networks ------------------------------------------------------------------------------------
    def _build(self, in_channels: int) -> None:
        c = self.config
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(int(c.seed))
            self.refiner = RefinerNet(in_channels, c.channels, c.blocks).to(self.device)
            self.discriminator = PatchDiscriminator(in_channels, c.channels).to(self.device)
        self._new_optimizers()

    def _new_optimizers(self) -> None:
        self.opt_r = torch.optim.Adam(self.refiner.parameters(), lr=self.config.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=(0.5, 0.999))

    def _observe(self, images: torch.Tensor) -> torch.Tensor:
        """What the discriminator judges: binarized (straight-through) and block-averaged when configured."""
        if self.config.binarize:
            images = images + (images.round() - images).detach()
        return F.avg_pool2d(images, self.config.pool) if self.config.pool > 1 else images

    def _real_to_unit(self, batch: np.ndarray) -> torch.Tensor:
        """Real samples (at the pooled size) scaled into [0, 1]."""
        x = _check_batch(batch)
        scale = self.config.real_input_scale or self.config.input_scale
        return (torch.tensor(x, dtype=torch.float32, device=self.device) * scale).clamp(0.0, 1.0)

    def _pooled(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (shape[0], *(n // self.config.pool for n in shape[1:]))

    def _to_unit(self, batch: np.ndarray) -> torch.Tensor:
        x = _check_batch(batch)
        if self.refiner is not None:
            channels = self.refiner.stem.in_channels
            if x.shape[1] != channels or (self.sample_shape is not None and x.shape[1:] != self.sample_shape):
                expected = self.sample_shape or (channels, "H", "W")
                raise ValueError(f"the refiner was fitted on samples of shape {tuple(expected)}; got {x.shape[1:]}")
        t = torch.tensor(x, dtype=torch.float32, device=self.device) * self.config.input_scale
        return t.clamp(0.0, 1.0)

    def _require_fitted(self) -> None:
        if self.refiner is None:
            raise RuntimeError("SimGANRefiner: call fit() or load_state_dict() first")

    # -- training -------------------------------------------------------------------------------------
    def _batch(self, data: torch.Tensor) -> torch.Tensor:
        idx = torch.randint(len(data), (self.config.batch_size,), generator=self.generator).to(self.device)
        return data[idx]

    def _refiner_step(self, xs: torch.Tensor, adversarial: bool) -> dict[str, float]:
        x = self._batch(xs)
        refined = self.refiner(x)
        reg = (refined - x).abs().mean()
        loss = self.config.lambda_reg * reg
        record = {"refiner_reg": reg.item()}
        if adversarial:
            logits = self.discriminator(self._observe(refined))  # D's grads are not needed: its params are frozen here
            adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            loss = loss + adv
            record["refiner_adv"] = adv.item()
        self.opt_r.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_r.step()
        record["refiner_loss"] = loss.item()
        return record

    def _disc_step(self, xs: torch.Tensor, xr: torch.Tensor) -> dict[str, float]:
        real = self._batch(xr)
        with torch.no_grad():
            fresh = self._observe(self.refiner(self._batch(xs)))
        fake = self.history.mix(fresh)
        logits_real = self.discriminator(real)
        logits_fake = self.discriminator(fake)
        loss = 0.5 * (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
                      + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"disc_loss": loss.item(), "realism_real": torch.sigmoid(logits_real).mean().item(),
                "realism_refined": torch.sigmoid(logits_fake).mean().item()}

    def _record(self, record: dict[str, float]) -> dict[str, float]:
        record = {"step": float(self._step), **record}
        self._step += 1
        self._losses.append(record)
        return record

    def fit(self, synthetic, real_unlabeled, *, steps=None):
        """Pretrain R (self-regularization only) and D, then ``steps`` rounds of k_g R steps and k_d D steps.

        Pretraining runs on the first ``fit`` only; later calls continue adversarial training.
        Loss records (``step`` plus ``pretrain_refiner_reg`` | ``pretrain_disc_loss`` | the round's
        mean ``refiner_adv``, ``refiner_reg``, ``refiner_loss``, ``disc_loss``, ``realism_real``,
        ``realism_refined``) are returned and kept in ``losses``.
        """
        syn, real = _check_batch(synthetic), _check_batch(real_unlabeled)
        if any(n % self.config.pool for n in syn.shape[2:]):
            raise ValueError(f"synthetic samples of shape {syn.shape[1:]} do not split into {self.config.pool}×"
                             f"{self.config.pool} blocks (SimGANConfig.pool)")
        if self._pooled(syn.shape[1:]) != real.shape[1:]:
            raise ValueError(f"synthetic samples have shape {syn.shape[1:]}, the real ones {real.shape[1:]}; with "
                             f"pool {self.config.pool} they need {self._pooled(syn.shape[1:])}")
        if len(syn) == 0 or len(real) == 0:
            raise ValueError("fit needs at least one synthetic and one real sample")
        c = self.config
        first = self.refiner is None
        if first:
            self._build(syn.shape[1])
        elif self.opt_r is None:
            self._new_optimizers()
        xs, xr = self._to_unit(syn), self._real_to_unit(real)
        self.sample_shape = tuple(syn.shape[1:])
        start = len(self._losses)
        self.refiner.train()
        self.discriminator.train()
        if first:
            for _ in range(c.pretrain_refiner_steps):
                self._record({"pretrain_refiner_reg": self._refiner_step(xs, adversarial=False)["refiner_reg"]})
            for _ in range(c.pretrain_disc_steps):
                self._record({"pretrain_disc_loss": self._disc_step(xs, xr)["disc_loss"]})
        for _ in range(c.steps if steps is None else int(steps)):
            self.discriminator.requires_grad_(False)
            r_records = [self._refiner_step(xs, adversarial=True) for _ in range(c.k_g)]
            self.discriminator.requires_grad_(True)
            d_records = [self._disc_step(xs, xr) for _ in range(c.k_d)]
            merged = {k: float(np.mean([r[k] for r in r_records])) for k in r_records[0]}
            merged.update({k: float(np.mean([r[k] for r in d_records])) for k in d_records[0]})
            self._record(merged)
        self.refiner.eval()
        self.discriminator.eval()
        return self._losses[start:]

    # -- inference ------------------------------------------------------------------------------------
    @torch.no_grad()
    def refine(self, batch):
        self._require_fitted()
        x = self._to_unit(batch)
        out = torch.cat([self.refiner(chunk) for chunk in x.split(4096)]) if len(x) else x
        if self.config.binarize:
            out = out.round()
        top = 1.0 / self.config.input_scale
        out = (out / self.config.input_scale).clamp(0.0, top)
        if self.config.round_output:
            out = out.round()
        return out.cpu().numpy().astype(np.float32, copy=False)

    @torch.no_grad()
    def realism(self, batch):
        """Realism of samples shaped like the fitted synthetic ones or, with ``pool`` > 1, of samples
        already at the pooled (real) size."""
        self._require_fitted()
        pooled = self.config.pool > 1 and self.sample_shape is not None and \
            tuple(np.shape(batch)[1:]) == self._pooled(self.sample_shape)
        x = self._real_to_unit(batch) if pooled else self._observe(self._to_unit(batch))
        if not len(x):
            return np.zeros(0, dtype=np.float32)
        probs = torch.cat([torch.sigmoid(self.discriminator(chunk)).flatten(1).mean(1) for chunk in x.split(4096)])
        return probs.cpu().numpy().astype(np.float32, copy=False)

    # -- persistence ------------------------------------------------------------------------------------
    def state_dict(self):
        if self.refiner is None:
            return {}
        state = {f"refiner.{k}": v.detach().cpu().numpy() for k, v in self.refiner.state_dict().items()}
        state.update({f"discriminator.{k}": v.detach().cpu().numpy() for k, v in self.discriminator.state_dict().items()})
        return state

    def load_state_dict(self, state):
        if not state:
            raise ValueError("SimGANRefiner.load_state_dict: no weights given")
        stem = state.get("refiner.stem.weight")
        if stem is None or np.ndim(stem) != 4:
            raise ValueError("SimGANRefiner.load_state_dict: missing 'refiner.stem.weight'")
        self._build(int(np.shape(stem)[1]))
        for prefix, net in (("refiner.", self.refiner), ("discriminator.", self.discriminator)):
            own = net.state_dict()
            given = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            missing = sorted(set(own) - set(given))
            extra = sorted(set(given) - set(own))
            if missing or extra:
                name = prefix + (missing or extra)[0]
                raise ValueError(f"SimGANRefiner.load_state_dict: {'missing' if missing else 'unexpected'} weight {name!r}")
            for k, v in given.items():
                if tuple(np.shape(v)) != tuple(own[k].shape):
                    raise ValueError(f"SimGANRefiner.load_state_dict: weight {prefix + k!r} has shape "
                                     f"{tuple(np.shape(v))}, this config needs {tuple(own[k].shape)}")
            net.load_state_dict({k: torch.as_tensor(np.array(v)) for k, v in given.items()})
        self.refiner.eval()
        self.discriminator.eval()

    @property
    def losses(self):
        return list(self._losses)

    def options(self) -> dict:
        """The config as a plain dict (for MLflow params)."""
        return asdict(self.config)
