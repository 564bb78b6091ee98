"""``faceveil train proface-s``: train the PRO-Face S network.

Single process:  ``python -m faceveil.methods.proface_s.train --out runs/pfs``
Multi-GPU:       ``torchrun --nproc-per-node 4 -m faceveil.methods.proface_s.train --out runs/pfs``
(DistributedDataParallel; each rank draws its own crops, seeded ``seed + rank``; rank 0 writes).

Each step: sample crops -> pre-obfuscate (one kind per batch for ``hybrid``) -> draw a random key
and an independent wrong key -> protect -> simulate 8-bit rounding (straight-through) -> recover
with the right and the wrong key -> loss (faceveil.methods.proface_s.losses) -> Adam.

Outputs in ``out_dir``: ``last.pt`` (resumable: network, optimiser, AMP scaler, step, config),
``weights.pt`` (fp16 shipping format, see checkpoint.py) and ``train_log.jsonl``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import typer
from torch import nn

from faceveil.errors import FaceveilError, InputError
from faceveil.methods.proface_s import checkpoint as ckpt
from faceveil.methods.proface_s.data import CropSampler, default_images, folder_images
from faceveil.methods.proface_s.keys import random_key_bits
from faceveil.methods.proface_s.losses import LossTerms, make_perceptual, proface_s_loss
from faceveil.methods.proface_s.model import ProFaceS
from faceveil.methods.proface_s.obfuscations import OBFUSCATIONS, obfuscate, resolve_kind

Mode = Literal["random", "obfs"]


@dataclass
class TrainConfig:
    out_dir: Path = Path("runs/proface_s")
    data: Path | None = None  # image folder; None = package-shipped images (data.py)
    mode: Mode = "random"  # wrong key -> noise ("random") or -> obfuscated face ("obfs")
    obfuscation: str = "hybrid"  # one kind, "hybrid" (all four), or a comma list drawn from per batch
    crop_size: int = 256
    batch_size: int = 8
    steps: int = 15000
    lr: float = 1e-5  # published value
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: decay to 5 % of lr at `steps`
    lpips_vgg: Path | None = None  # torchvision vgg16 ImageNet weights, enables real LPIPS
    lpips_lin: Path | None = None  # LPIPS v0.1 vgg.pth linear layers
    amp: bool = True  # mixed precision, CUDA only
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    resume: bool = True  # continue from out_dir/last.pt when it exists
    init_weights: Path | None = None  # start from these weights instead of zero-initialised couplings
    # recovery stand-in of a new run: "official" (the authors' order), or "init" = keep the one the
    # --init-weights were trained with, so a short fine-tune does not first have to relearn recovery
    recovery_standin: str = "official"
    quantize: bool = True  # train recovery on 8-bit-rounded protected images, as they are saved
    face_fraction: float = 0.3
    max_minutes: float | None = None  # stop (and checkpoint) after this much wall time
    grad_clip: float = 2.0  # max global gradient norm
    ema_decay: float = 0.0  # > 0: also keep an exponential moving average of the weights and ship it
    spike_factor: float = 4.0  # skip a step whose loss exceeds this x the running mean (0 = off)
    visibility_weight: float = 0.0  # > 0: add the hidden-signal visibility penalty (losses.HiddenSignalVisibility)
    keep_snapshots: bool = False  # also keep weights_step{N}.pt at every checkpoint
    num_threads: int | None = None  # torch CPU threads
    extra: dict = field(default_factory=dict)  # free-form notes recorded in checkpoints

    def obfuscation_kinds(self) -> list[str]:
        return [k.strip() for k in self.obfuscation.split(",") if k.strip()]

    def validate(self) -> None:
        if self.mode not in ("random", "obfs"):
            raise InputError(f"mode must be 'random' or 'obfs', got {self.mode!r}")
        kinds = self.obfuscation_kinds()
        if not kinds or any(k not in OBFUSCATIONS or k == "faceswap" for k in kinds) or ("hybrid" in kinds and len(kinds) > 1):
            raise InputError(
                "training obfuscation must be one of blur, median, pixelate, mask, hybrid, or a comma list of "
                f"the first four (e.g. blur,median,pixelate); got {self.obfuscation!r}"
            )
        if self.crop_size < 16 or self.crop_size % 2:
            raise InputError(f"crop size must be an even number >= 16, got {self.crop_size}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise InputError(f"lr schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not 0 <= self.ema_decay < 1:
            raise InputError(f"EMA decay must be in [0, 1), got {self.ema_decay}")
        if not self.visibility_weight >= 0:
            raise InputError(f"visibility weight must be >= 0, got {self.visibility_weight}")
        if self.recovery_standin not in ("official", "init") or (self.recovery_standin == "init" and self.init_weights is None):
            raise InputError(f"recovery stand-in must be 'official' or 'init' (with --init-weights), got {self.recovery_standin!r}")
        if self.spike_factor != 0 and self.spike_factor <= 1:
            raise InputError(f"spike factor must be 0 (off) or > 1, got {self.spike_factor}")
        if self.batch_size < 1 or self.steps < 1 or self.lr <= 0:
            raise InputError("batch size and steps must be >= 1 and the learning rate > 0")


class _TrainingGraph(nn.Module):
    """One forward = protect + right-key and wrong-key recovery, so DDP sees a single forward()."""

    def __init__(self, net: ProFaceS, quantize: bool):
        super().__init__()
        self.net = net
        self.quantize = quantize

    def forward(self, original, obfuscated, key, wrong_key):
        protected = self.net.protect(original, obfuscated, key)
        stored = quantize_ste(protected) if self.quantize else protected
        return protected, self.net.recover(stored, key), self.net.recover(stored, wrong_key)


def quantize_ste(x: torch.Tensor) -> torch.Tensor:
    """Round [-1, 1] images to the 256 levels of an 8-bit file, passing gradients straight through."""
    rounded = torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1
    return x + (rounded - x).detach()


def to_tensor(batch_u8: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(batch_u8)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


def _dist_info() -> tuple[bool, int, int, int]:
    """(launched by torchrun, rank, world size, local rank) from torchrun's environment."""
    launched = "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ
    env = os.environ.get
    return launched, int(env("RANK", 0)), int(env("WORLD_SIZE", 1)), int(env("LOCAL_RANK", 0))


def _pick_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    return torch.device(name)


class Trainer:
    """Holds model, optimiser and data; ``step()`` runs one iteration, ``run()`` the whole loop."""

    def __init__(self, config: TrainConfig):
        config.validate()
        self.config = config
        self.distributed, self.rank, self.world, local_rank = _dist_info()
        if self.distributed and not torch.distributed.is_initialized():
            torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.device = _pick_device(config.device, local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.net = ProFaceS().to(self.device)
        if config.init_weights is not None:
            init = ckpt.read_checkpoint(config.init_weights)
            ckpt.load_state_into(self.net, ckpt.extract_state_dict(init))
            if config.recovery_standin == "init":
                self.net.recovery_standin = ckpt.recovery_standin_of(init)
        # Polyak average of the weights: on short, small-batch runs single snapshots are noisy and the
        # average is the better network to ship (weights.pt holds it when enabled)
        self.ema_net = copy.deepcopy(self.net).requires_grad_(False) if config.ema_decay > 0 else None
        self.ema_updates = 0
        self.graph: nn.Module = _TrainingGraph(self.net, config.quantize)
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.graph = nn.parallel.DistributedDataParallel(self.graph, device_ids=ids)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.perceptual, self.perceptual_name = make_perceptual(config.lpips_vgg, config.lpips_lin)
        if isinstance(self.perceptual, nn.Module):
            self.perceptual.to(self.device)
        images = folder_images(config.data) if config.data is not None else default_images()
        self.data_sources = images.sources
        self.step_index = 0
        self.skipped_steps = 0
        # running mean of accepted losses per obfuscation kind, for the spike guard (kinds differ
        # ~10x in loss: one shared mean would reject every hard batch, e.g. all mask batches)
        self.loss_ema: dict[str, float] = {}
        self.batch_kind = config.obfuscation
        self.consecutive_skips = 0
        self.last_grad_norm = float("nan")
        self.out_dir = Path(config.out_dir)
        if config.resume and (self.out_dir / "last.pt").exists():
            self._resume(self.out_dir / "last.pt")
        self._reseed()
        self.sampler = CropSampler(images, config.crop_size, self.rng, config.face_fraction)

    def _reseed(self) -> None:
        # seed depends on step so a resumed run does not replay the batches it already saw
        self.rng = np.random.default_rng([self.config.seed, self.rank, self.step_index])
        self.torch_gen = torch.Generator().manual_seed(int(self.rng.integers(2**63 - 1)))
        if hasattr(self, "sampler"):
            self.sampler.rng = self.rng

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """original, obfuscated (B, 3, S, S) in [-1, 1]; key, wrong key (B, 1, S, S) +-1."""
        cfg = self.config
        originals = self.sampler.batch(cfg.batch_size)
        kinds = cfg.obfuscation_kinds()
        # hybrid (or a list): one kind per batch, as released
        kind = resolve_kind(kinds[0], self.rng) if len(kinds) == 1 else resolve_kind("hybrid", self.rng, allowed=tuple(kinds))
        self.batch_kind = kind
        obfuscated = np.stack([obfuscate(img, kind, self.rng) for img in originals])
        size = cfg.crop_size
        key = random_key_bits(cfg.batch_size, size, size, self.torch_gen)
        wrong = random_key_bits(cfg.batch_size, size, size, self.torch_gen)
        return to_tensor(originals, self.device), to_tensor(obfuscated, self.device), key.to(self.device), wrong.to(self.device)

    def learning_rate(self) -> float:
        cfg = self.config
        if cfg.lr_schedule == "constant":
            return cfg.lr
        progress = min(1.0, self.step_index / cfg.steps)
        return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def step(self) -> LossTerms:
        """One optimisation step. A non-finite loss (a diverging batch) or a loss spike (see
        ``_accept``) is skipped, not applied."""
        original, obfuscated, key, wrong = self.batch()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate()
        self.graph.train()
        with torch.autocast(self.device.type, enabled=self.use_amp):
            protected, recovered, wrong_recovered = self.graph(original, obfuscated, key, wrong)
        terms = proface_s_loss(
            original, obfuscated, protected.float(), recovered.float(), wrong_recovered.float(),
            wrong.expand(-1, 3, -1, -1), self.config.mode, self.perceptual,
            visibility_weight=self.config.visibility_weight,
        )  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        self.step_index += 1
        if not self._accept(terms.total):
            self.skipped_steps += 1
            return terms
        self.scaler.scale(terms.total).backward()
        self.scaler.unscale_(self.optimizer)
        # affine couplings can blow up under a large step (exp scales); bound every update
        self.last_grad_norm = float(nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self._update_ema()
        return terms

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema_net is None:
            return
        self.ema_updates += 1
        # warm-up: early on the average follows the weights closely (decay (1+n)/(10+n))
        decay = min(self.config.ema_decay, (1 + self.ema_updates) / (10 + self.ema_updates))
        for avg, live in zip(self.ema_net.parameters(), self.net.parameters()):
            avg.lerp_(live, 1 - decay)

    @property
    def shipped_net(self) -> ProFaceS:
        """The network written to weights.pt: the weight average when enabled, else the live one."""
        return self.ema_net if self.ema_net is not None else self.net

    def _accept(self, loss: torch.Tensor) -> bool:
        """Whether to apply this step: the loss is finite and not a spike (> spike_factor x the
        running mean of accepted losses of the same obfuscation kind) on every rank (ranks must
        agree, or DDP would hang).

        Why: on CPU-length runs a single outlier batch (an Adam step taken on a huge gradient)
        pushed the exp-scaled couplings into a region they never left. After 20 skips in a row the
        running mean is reset, so a genuine shift in the loss level cannot stall training."""
        value = float(loss.detach())
        ok = math.isfinite(value)
        factor = self.config.spike_factor
        ema = self.loss_ema.get(self.batch_kind)
        if ok and factor > 0 and ema is not None and self.consecutive_skips < 20:
            ok = value <= factor * ema
        flag = torch.tensor([int(ok)], dtype=torch.int32, device=loss.device)
        if self.distributed:
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        if bool(flag.item()):
            self.consecutive_skips = 0
            self.loss_ema[self.batch_kind] = value if ema is None else 0.98 * ema + 0.02 * value
            return True
        self.consecutive_skips += 1
        return False

    def run(self) -> Path | None:
        cfg = self.config
        start = time.monotonic()
        log_path = self.out_dir / "train_log.jsonl"
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._log(log_path, {"event": "start", "step": self.step_index, "perceptual": self.perceptual_name,
                                 "device": str(self.device), "world_size": self.world, "data": self.data_sources})
        from faceveil.progress import Progress

        # X/N steps, rate and ETA on stderr (bar in a terminal, a status line every 10 s in logs)
        progress = Progress(cfg.steps, unit="step", label="train proface-s", enabled=self.rank == 0)
        progress.update(self.step_index)
        while self.step_index < cfg.steps:
            terms = self.step()
            progress.update(self.step_index)
            out_of_time = cfg.max_minutes is not None and time.monotonic() - start > cfg.max_minutes * 60
            if self.rank == 0 and (self.step_index % cfg.log_every == 0 or out_of_time):
                self._log(log_path, {"step": self.step_index, "loss": round(terms.total.item(), 5),
                                     "img": round(terms.img.item(), 5), "rec": round(terms.rec.item(), 5),
                                     "wr": round(terms.wr.item(), 5), "grad_norm": round(self.last_grad_norm, 3),
                                     **({"vis": round(terms.vis.item(), 5)} if terms.vis is not None else {}),
                                     "skipped": self.skipped_steps, "lr": self.learning_rate(), "elapsed_s": round(time.monotonic() - start, 1)})
            if self.step_index % cfg.checkpoint_every == 0 or out_of_time:
                self.save()
            if out_of_time:
                break
        progress.close()
        self.save()
        return self.out_dir / "weights.pt" if self.rank == 0 else None

    def save(self) -> None:
        if self.rank != 0:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "model_state": self.net.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scaler_state": self.scaler.state_dict(),
            "step": self.step_index,
            "loss_ema": self.loss_ema,
            "ema_state": self.ema_net.state_dict() if self.ema_net is not None else None,
            "ema_updates": self.ema_updates,
            "config": _jsonable(asdict(self.config)),
            "recovery_standin": self.net.recovery_standin,
        }
        _atomic_save(state, self.out_dir / "last.pt")
        meta = {"step": self.step_index, "config": _jsonable(asdict(self.config)),
                "perceptual": self.perceptual_name, "data": self.data_sources,
                "weights": "ema" if self.ema_net is not None else "live"}
        tmp = self.out_dir / "weights.pt.tmp"
        ckpt.save_weights(self.shipped_net, tmp, meta=meta)
        tmp.replace(self.out_dir / "weights.pt")
        if self.config.keep_snapshots:
            ckpt.save_weights(self.shipped_net, self.out_dir / f"weights_step{self.step_index}.pt", meta=meta)

    def _resume(self, path: Path) -> None:
        state = ckpt.read_checkpoint(path)
        ckpt.load_state_into(self.net, ckpt.extract_state_dict(state))
        # a run keeps the stand-in it started with (older runs: faceveil-v1); new runs use the official one
        self.net.recovery_standin = ckpt.recovery_standin_of(state)
        if self.ema_net is not None:
            self.ema_net.recovery_standin = self.net.recovery_standin
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.scaler.load_state_dict(state["scaler_state"])
        self.step_index = int(state["step"])
        if self.ema_net is not None:
            # resuming an EMA-less run with EMA on: start the average at the resumed weights
            self.ema_net.load_state_dict(state.get("ema_state") or self.net.state_dict())
            self.ema_updates = int(state.get("ema_updates", 0))
        ema = state.get("loss_ema")
        self.loss_ema = dict(ema) if isinstance(ema, dict) else {}

    def _log(self, path: Path, record: dict) -> None:
        line = json.dumps(record)
        print(line, flush=True)
        with path.open("a") as fh:
            fh.write(line + "\n")


def _atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def train(config: TrainConfig) -> Path | None:
    """Run training; returns the fp16 weights path (rank 0) when done."""
    trainer = Trainer(config)
    try:
        return trainer.run()
    finally:
        if trainer.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


app = typer.Typer(add_completion=False, help="Train the PRO-Face S invertible obfuscation network.")


@app.command("proface-s")
def train_command(
    out: Path = typer.Option(Path("runs/proface_s"), "--out", help="output folder (checkpoints, log)"),
    data: Path | None = typer.Option(None, help="image folder; default: package-shipped images"),
    mode: str = typer.Option("random", help="wrong-key behaviour: random (noise) | obfs (obfuscated face)"),
    obfuscation: str = typer.Option("hybrid", help="blur | median | pixelate | mask | hybrid (all four), or a comma list such as blur,median,pixelate (one kind per batch)"),
    crop_size: int = typer.Option(256, help="training crop size (px)"),
    batch_size: int = typer.Option(8),
    steps: int = typer.Option(15000),
    lr: float = typer.Option(1e-5, help="Adam learning rate (paper: 1e-5)"),
    lr_schedule: str = typer.Option("constant", help="constant | cosine (decay to 5 % at --steps)"),
    lpips_vgg: Path | None = typer.Option(None, help="torchvision vgg16 ImageNet weights (enables LPIPS)"),
    lpips_lin: Path | None = typer.Option(None, help="LPIPS v0.1 vgg.pth linear-layer weights"),
    amp: bool = typer.Option(True, help="mixed precision on CUDA"),
    device: str = typer.Option("auto"),
    seed: int = typer.Option(0),
    checkpoint_every: int = typer.Option(200),
    log_every: int = typer.Option(20),
    resume: bool = typer.Option(True, help="continue from OUT/last.pt if present"),
    init_weights: Path | None = typer.Option(None, help="start from these weights"),
    recovery_standin: str = typer.Option("official", help="official | init (keep the --init-weights' recovery stand-in convention)"),
    quantize: bool = typer.Option(True, help="train on 8-bit-rounded protected images"),
    max_minutes: float | None = typer.Option(None, help="stop after this many minutes"),
    grad_clip: float = typer.Option(2.0, help="max gradient norm"),
    ema_decay: float = typer.Option(0.0, help="> 0: ship an exponential moving average of the weights (e.g. 0.998)"),
    spike_factor: float = typer.Option(4.0, help="skip steps whose loss exceeds this x the running mean (0 = off)"),
    keep_snapshots: bool = typer.Option(False, help="keep weights_step{N}.pt at every checkpoint"),
    num_threads: int | None = typer.Option(None, help="torch CPU threads"),
    visibility_weight: float = typer.Option(0.0, help="weight of the hidden-signal visibility penalty (checkerboard energy + residual/face-edge correlation; issue 11), e.g. 0.5"),
) -> None:
    config = TrainConfig(
        out_dir=out, data=data, mode=mode, obfuscation=obfuscation, crop_size=crop_size,
        batch_size=batch_size, steps=steps, lr=lr, lr_schedule=lr_schedule, lpips_vgg=lpips_vgg, lpips_lin=lpips_lin, amp=amp,
        device=device, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every, resume=resume,
        init_weights=init_weights, recovery_standin=recovery_standin, quantize=quantize, max_minutes=max_minutes, num_threads=num_threads,
        grad_clip=grad_clip, spike_factor=spike_factor, ema_decay=ema_decay, keep_snapshots=keep_snapshots,
        visibility_weight=visibility_weight,
    )  # fmt: skip
    path = train(config)
    if path is not None:
        typer.echo(f"weights: {path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m`` / torchrun; ``argv`` excludes the program name. A bad option
    is one line on stderr and its exit code, as with ``faceveil train proface-s``."""
    try:
        app(args=argv, prog_name="faceveil train proface-s", standalone_mode=True)
    except FaceveilError as exc:
        print(f"faceveil train proface-s: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None


if __name__ == "__main__":
    main()
