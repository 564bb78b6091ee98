"""G2Face training (``faceveil train g2face``): the published two-pass recipe.

Each iteration: (1) anonymize pass - dummy identity + original geometry -> anonymized face hiding
uniformly random bits; (2) recover pass - original identity + anonymized geometry -> recovered
face, again hiding random bits; (3) discriminator step on real vs. (alternately) anonymized /
recovered faces, with lazy R1. Random bits (not float embeddings) so encrypted payloads, which
look random, are carried as well as the paper's floats.

Multi-GPU: ``torchrun --nproc_per_node N -m faceveil.methods.g2face.train ...`` (one batch of
``batch_size`` per GPU, gradients averaged across processes after every backward).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import typer
from torch import nn

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import G2FaceNetworks, init_from_rosinality, read_checkpoint
from faceveil.methods.g2face.config import TrainConfig
from faceveil.methods.g2face.discriminator import Discriminator
from faceveil.methods.g2face.layout import NetworkLayout
from faceveil.methods.g2face.losses import (
    DiscriminatorLoss,
    GeneratorAdversarialLoss,
    GeometryLoss,
    HidingLoss,
    IdentityDiversityLoss,
    IdentityLoss,
    LossWeights,
    ReconstructionLoss,
)
from faceveil.methods.g2face.morphable import MorphableModel
from faceveil.methods.g2face.priors import geometry_from_coefficients

NEW_MODULE_PREFIXES = ("pyramid.", "fusion_mask.", "hiding_injects.")


@dataclass
class Priors:
    """Frozen, differentiable priors: identity (B,3,S,S)->(B,identity_dim), geometry ->(B,geometry_dim)."""

    identity: nn.Module
    geometry: nn.Module
    identity_dim: int
    geometry_dim: int
    # With a BFM basis, the geometry loss compares rendered shape / 68 landmarks / shading as
    # published; ``geometry`` must then offer ``coefficients(images) -> (B, 257)``.
    face_model: MorphableModel | None = None

    def __post_init__(self) -> None:
        if self.face_model is not None and not hasattr(self.geometry, "coefficients"):
            raise InputError("a 3DMM basis needs a geometry prior that regresses 3DMM coefficients (published priors)")

    def geometry_and_terms(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """images (B, 3, S, S) -> (mapper geometry (B, geometry_dim), geometry-loss terms)."""
        if self.face_model is None:
            vec = self.geometry(images)
            return vec, {"shape": vec}
        coeffs = self.geometry.coefficients(images)
        return geometry_from_coefficients(coeffs), self.face_model.terms(coeffs)


def build_networks(cfg: TrainConfig, priors: Priors) -> G2FaceNetworks:
    return NetworkLayout(size=cfg.size, channel_scale=cfg.channel_scale, extractor_width=cfg.extractor_width,
                         extractor_blocks=cfg.extractor_blocks, identity_dim=priors.identity_dim,
                         geometry_dim=priors.geometry_dim).build()


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1, then exponential decay by ``decay_gamma`` every ``decay_every`` steps."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    return cfg.decay_gamma ** ((step - cfg.warmup_steps) // cfg.decay_every)


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class G2FaceTrainer:
    """Owns networks, optimizers and losses; ``step(real)`` runs one full iteration."""

    def __init__(self, cfg: TrainConfig, priors: Priors, device: torch.device | str = "cpu",
                 weights: LossWeights = LossWeights(), perceptual: nn.Module | None = None, distributed: bool = False):
        self.cfg, self.weights, self.device = cfg, weights, torch.device(device)
        self.step_count = 0
        torch.manual_seed(cfg.seed)
        self.priors = priors
        for prior in (priors.identity, priors.geometry):
            prior.to(self.device).eval()
            _set_requires_grad(prior, False)  # frozen, but gradients flow through to the images
        self.nets = build_networks(cfg, priors).to(self.device)
        self.discriminator = Discriminator(cfg.size, channel_scale=cfg.channel_scale).to(self.device)
        # Data parallelism by explicit gradient averaging (not DDP wrappers): each iteration runs
        # several forwards per backward and toggles D's requires_grad, which DDP's reducer rejects.
        self.distributed = distributed
        if distributed:
            self._broadcast_parameters()
        self.G, self.mapper, self.map_2_id = self.nets.generator, self.nets.style_mlp, self.nets.map_2_id
        self.extractor, self.D = self.nets.extractor, self.discriminator
        self.optimizer, self.optimizer_d = self._optimizers()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, cfg))
        self.losses = {
            "diversity": IdentityDiversityLoss(weights.diversity),
            "consistency": IdentityLoss(weights.id_consistency, "id_consistency"),
            "id": IdentityLoss(weights.id, "id"),
            "geometry": GeometryLoss(weights.shape, weights.landmark, weights.color),
            "recon": ReconstructionLoss(weights.l1, weights.perceptual, perceptual).to(self.device),
            "adv": GeneratorAdversarialLoss(weights.adversarial),
            "hiding": HidingLoss(weights.hiding),
            "d": DiscriminatorLoss(weights.r1_gamma, weights.r1_every),
        }
        use_scaler = cfg.amp == "fp16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    def _optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        cfg = self.cfg
        gen = self.nets.generator
        new = [p for n, p in gen.named_parameters() if n.startswith(NEW_MODULE_PREFIXES)]
        stylegan = [p for n, p in gen.named_parameters() if not n.startswith(NEW_MODULE_PREFIXES)]
        new += list(self.nets.style_mlp.parameters()) + list(self.nets.map_2_id.parameters()) + list(self.nets.extractor.parameters())
        betas = (cfg.beta1, cfg.beta2)
        opt = torch.optim.Adam([{"params": new, "lr": cfg.lr_new}, {"params": stylegan, "lr": cfg.lr_stylegan}], betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_discriminator, betas=betas)
        return opt, opt_d

    def _autocast(self):
        if self.cfg.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _random_bits(self, batch: int) -> torch.Tensor:
        return torch.randint(0, 2, (batch, self.nets.generator.config.n_bits), device=self.device).float()

    def _broadcast_parameters(self) -> None:
        import torch.distributed as dist

        for module in (*self.nets.modules().values(), self.discriminator):
            for tensor in (*module.parameters(), *module.buffers()):
                dist.broadcast(tensor.data, src=0)

    def _average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        import torch.distributed as dist

        world = dist.get_world_size()
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad.div_(world)

    def _backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.distributed:
            self._average_gradients(optimizer)
        self.scaler.step(optimizer)
        self.scaler.update()

    def _face_terms(self, out: torch.Tensor, real: torch.Tensor, geometry_ref: dict[str, torch.Tensor], bits: torch.Tensor, logs: dict, tag: str):
        """Losses shared by both passes; returns (total, identity of out, geometry of out)."""
        out_id = self.priors.identity(out)
        out_geo, out_terms = self.priors.geometry_and_terms(out)
        total = torch.zeros((), device=self.device)
        noisy = out + torch.randn_like(out) * self.cfg.hiding_noise_std  # robustness to small perturbations
        for value, parts in (
            self.losses["geometry"](geometry_ref, out_terms),
            self.losses["recon"](out, real),
            self.losses["adv"](self.D(out)),
            self.losses["hiding"](self.extractor(noisy), bits),
        ):
            total = total + value
            logs.update({f"{tag}/{k}": float(v) for k, v in parts.items()})
        return total, out_id, out_geo

    def step(self, real: torch.Tensor) -> dict[str, float]:
        """One iteration on real faces (B, 3, S, S) in [-1, 1]; returns the logged loss parts."""
        real = real.to(self.device)
        b = real.shape[0]
        logs: dict[str, float] = {}
        _set_requires_grad(self.discriminator, False)
        with torch.no_grad(), self._autocast():
            ori_id = self.priors.identity(real).float()
            ori_geo, ori_terms = self.priors.geometry_and_terms(real)
            ori_geo, ori_terms = ori_geo.float(), {k: v.float() for k, v in ori_terms.items()}

        # (1) anonymize
        bits = self._random_bits(b)
        with self._autocast():
            dummy = self.map_2_id(torch.randn(b, self.priors.identity_dim, device=self.device))
            anon = self.G(real, self.mapper(dummy, ori_geo), bits)
            total, anon_id, anon_geo = self._face_terms(anon, real, ori_terms, bits, logs, "anon")
            for loss, parts in (self.losses["diversity"](dummy), self.losses["consistency"](dummy, anon_id, same=True),
                                self.losses["id"](ori_id, anon_id, same=False)):
                total = total + loss
                logs.update({f"anon/{k}": float(v) for k, v in parts.items()})
        self._backward(total, self.optimizer)
        logs["anon/total"] = float(total.detach())

        # (2) recover from the (detached) anonymized face
        anon = anon.detach()
        bits = self._random_bits(b)
        with self._autocast():
            recovered = self.G(anon, self.mapper(ori_id, anon_geo.detach().float()), bits)
            total, rec_id, _ = self._face_terms(recovered, real, ori_terms, bits, logs, "recover")
            loss, parts = self.losses["id"](ori_id, rec_id, same=True)
            total = total + loss
            logs.update({f"recover/{k}": float(v) for k, v in parts.items()})
        self._backward(total, self.optimizer)
        logs["recover/total"] = float(total.detach())

        # (3) discriminator: fake alternates between anonymized and recovered faces (as published)
        _set_requires_grad(self.discriminator, True)
        fake = recovered.detach() if self.step_count % 2 == 0 else anon
        regularize = self.step_count % self.weights.r1_every == 0
        real_d = real.detach().requires_grad_(regularize)
        with self._autocast():
            d_loss, parts = self.losses["d"](real_d, self.D(real_d), self.D(fake), regularize)
        self._backward(d_loss, self.optimizer_d)
        logs.update({f"d/{k}": float(v) for k, v in parts.items()})

        self.scheduler.step()
        self.step_count += 1
        return logs

    # -- checkpoints ---------------------------------------------------------------------------
    def state(self) -> dict:
        """Checkpoint; the four network entries use G2Face.pth names, so it loads as one."""
        return {**{k: m.state_dict() for k, m in self.nets.modules().items()},
                "discriminator": self.discriminator.state_dict(), "optimizer": self.optimizer.state_dict(),
                "optimizer_d": self.optimizer_d.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "step": self.step_count, "config": asdict(self.cfg),
                "style_mlp_bias": self.nets.style_mlp.bias_convention}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)  # never leave a half-written checkpoint behind

    def resume(self, path: Path) -> None:
        state = read_checkpoint(path)
        try:
            self.nets.load_state(state, source=str(path))
            self.discriminator.load_state_dict(state["discriminator"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.scaler.load_state_dict(state["scaler"])
            self.step_count = int(state["step"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise InputError(f"{path} is not a resumable g2face training checkpoint ({exc})") from None

    def init_stylegan(self, path: Path) -> list[str]:
        """Initialise synthesis (and discriminator, when present) from a rosinality checkpoint."""
        return init_from_rosinality(path, self.nets.generator, self.discriminator).unused


# ---------------------------------------------------------------------------------------------
# Command line: `faceveil train g2face` (typer sub-app) or `python -m faceveil.methods.g2face.train`
# ---------------------------------------------------------------------------------------------

def make_priors(kind: str, device: torch.device, bfm: Path | None = None) -> Priors:
    """``published``: ArcFace + Deep3DFaceRecon (user weights); ``offline``: MobileFace + FaceMesh
    (npm human-models, installed by scripts/fetch_npm_models.sh)."""
    from faceveil.methods.g2face.priors import load_priors

    if bfm is not None and kind != "published":
        raise InputError("--bfm needs the published priors (Deep3DFaceRecon coefficients)")
    pair = load_priors(kind)
    face_model = MorphableModel.from_mat(bfm).to(device) if bfm is not None else None
    return Priors(pair.identity, pair.geometry, pair.identity_dim, pair.geometry_dim, face_model)


def run_training(cfg: TrainConfig, out_dir: Path, priors: str = "published", data: Path | None = None,
                 stylegan: Path | None = None, resume: Path | None = None, device: str | None = None,
                 bfm: Path | None = None) -> Path:
    """Train until ``cfg.steps``; writes ``out_dir/last.pth`` (+ periodic step checkpoints)."""
    from faceveil.methods.g2face.data import batches, folder_faces, sample_faces

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        dev = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        rank = dist.get_rank()
    else:
        from faceveil.methods.g2face.method import resolve_device

        dev = resolve_device(device)
        rank = 0
    trainer = G2FaceTrainer(cfg, make_priors(priors, dev, bfm), dev, distributed=distributed)
    if stylegan is not None and resume is None:
        trainer.init_stylegan(stylegan)
    if resume is not None:
        trainer.resume(resume)
    pool = folder_faces(data, cfg.size) if data is not None else sample_faces(cfg.size)
    stream = batches(pool, cfg.batch_size, cfg.seed + rank)
    t0 = time.time()
    from faceveil.progress import Progress

    # X/N steps, rate and ETA on stderr (bar in a terminal, a status line every 10 s in logs)
    progress = Progress(cfg.steps, unit="step", label="train g2face", enabled=rank == 0)
    progress.update(trainer.step_count)
    while trainer.step_count < cfg.steps:
        logs = trainer.step(next(stream))
        progress.update(trainer.step_count)
        if rank == 0 and (trainer.step_count % cfg.log_every == 0 or trainer.step_count == cfg.steps):
            keys = ("anon/hiding", "anon/bit_error_rate", "anon/l1", "anon/id", "recover/l1", "recover/id", "d/d_real")
            print(f"step {trainer.step_count} ({time.time() - t0:.0f}s) " + " ".join(f"{k}={logs[k]:.4f}" for k in keys if k in logs), flush=True)
        if rank == 0 and trainer.step_count % cfg.checkpoint_every == 0:
            trainer.save(out_dir / f"step_{trainer.step_count:07d}.pth")
    progress.close()
    if rank == 0:
        trainer.save(out_dir / "last.pth")
    return out_dir / "last.pth"


def train_command(
    out: Path = typer.Option(Path("runs/g2face"), help="output folder for checkpoints"),
    data: Path | None = typer.Option(None, help="folder of aligned face crops (default: package sample faces)"),
    priors: str = typer.Option("published", help="published (ArcFace + Deep3DFaceRecon weights) or offline (MobileFace + FaceMesh)"),
    stylegan: Path | None = typer.Option(None, help="rosinality StyleGAN2 checkpoint (550000.pt) to initialise synthesis and D"),
    resume: Path | None = typer.Option(None, help="training checkpoint to resume"),
    bfm: Path | None = typer.Option(None, help="Deep3DFaceRecon BFM_model_front.mat: published shape/landmark/shading loss"),
    steps: int = typer.Option(TrainConfig.steps),
    batch_size: int = typer.Option(TrainConfig.batch_size, help="per GPU / process"),
    size: int = typer.Option(TrainConfig.size),
    channel_scale: float = typer.Option(TrainConfig.channel_scale, help="< 1 shrinks every width (small proof runs)"),
    amp: str = typer.Option(TrainConfig.amp, help="off, bf16 or fp16"),
    device: str | None = typer.Option(None),
    seed: int = typer.Option(TrainConfig.seed),
) -> None:
    """Train G2Face (published recipe); writes OUT/last.pth, usable as the method with -O weights=OUT/last.pth (-O priors=offline)."""
    cfg = TrainConfig(size=size, channel_scale=channel_scale, batch_size=batch_size, steps=steps, amp=amp, seed=seed)
    path = run_training(cfg, out, priors=priors, data=data, stylegan=stylegan, resume=resume, device=device, bfm=bfm)
    if path.exists():  # only rank 0 writes
        typer.echo(f"wrote {path}")


# `faceveil train g2face`: mount with train_app.command("g2face")(train_command), or add_typer(app).
app = typer.Typer(help="Train G2Face.", add_completion=False)
app.command()(train_command)


if __name__ == "__main__":
    app()
