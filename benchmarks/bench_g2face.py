"""G2Face benchmarks.

speed: generator and full anonymize / recover throughput at 256 px (published architecture, random
       weights: speed does not depend on the values), CPU and CUDA when available, batch sizes,
       fp32 vs bf16 autocast.
learn: proof that training learns - a small configuration trained on the package-shipped faces
       (offline priors), reporting hiding bit error rate, recovered PSNR and anonymized-vs-original
       identity distance under an independent recognizer (dlib) at the start and at the end.

    .venv/bin/python benchmarks/bench_g2face.py speed --batch 1 --batch 4
    .venv/bin/python benchmarks/bench_g2face.py learn --size 64 --steps 300
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import typer

app = typer.Typer(add_completion=False, help=__doc__)


def _timeit(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, autotuning)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


@app.command()
def speed(batch: list[int] = typer.Option([1, 4]), repeats: int = 3, threads: int = 2, device: list[str] = typer.Option(None),
          out: Path | None = None) -> None:
    """Images per second of the generator and of the whole anonymize / recover path."""
    from faceveil.analysis.arcface import iresnet50
    from faceveil.analysis.deep3d import ReconNet
    from faceveil.methods.g2face.bitcodec import logits_to_bits
    from faceveil.methods.g2face.checkpoint import G2FaceNetworks
    from faceveil.methods.g2face.engine import G2FaceEngine
    from faceveil.methods.g2face.payload import SecurePayload
    from faceveil.methods.g2face.priors import ArcFaceIdentity, Deep3DGeometry

    torch.set_num_threads(threads)
    devices = device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    codec, key = SecurePayload(), bytes(32)
    rows = []
    for dev in devices:
        for dtype in (None, torch.bfloat16):
            torch.manual_seed(0)
            engine = G2FaceEngine(G2FaceNetworks.create(), ArcFaceIdentity(iresnet50()), Deep3DGeometry(ReconNet()),
                                  device=torch.device(dev), autocast_dtype=dtype)
            gen = engine.networks.generator
            for b in batch:
                x = torch.rand(b, 3, 256, 256, device=dev) * 2 - 1
                styles = torch.randn(b, 14, 512, device=dev)
                bits = torch.randint(0, 2, (b, 16384), device=dev).float()
                seeds = list(range(b))
                identity = engine.identity_of(x)

                def generator_only():
                    with torch.no_grad(), engine.autocast():
                        gen(x, styles, bits, noise=engine.noise(seeds))

                def anonymize():
                    ids = engine.identity_of(x).cpu()
                    message = torch.stack([codec.encode(i, key) for i in ids])
                    engine.anonymize(x, seeds, message)

                def recover():
                    logits = engine.read_bits(x).cpu()
                    clean = (torch.stack([codec.encode(i, key) for i in identity.cpu()]) * 2 - 1) * 4
                    for row in clean:  # decode cost on an intact channel (random weights cannot read one)
                        codec.decode(row, key)
                    engine.recover(x, identity, logits_to_bits(logits), seeds)

                row = {"device": dev, "dtype": "bf16" if dtype else "fp32", "batch": b}
                for name, fn in (("generator", generator_only), ("anonymize", anonymize), ("recover", recover)):
                    row[f"{name}_img_per_s"] = round(b / _timeit(fn, repeats), 3)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if out is not None:
        out.write_text(json.dumps(rows, indent=2))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) / 2).pow(2).mean().item()
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def _dlib_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean dlib descriptor distance between matching crops (upsampled to 256 px for dlib's chip)."""
    from faceveil.analysis.dlib_models import DlibRecognizer
    from faceveil.faces.types import Face

    rec = DlibRecognizer()

    def to_np(t: torch.Tensor) -> np.ndarray:
        t = torch.nn.functional.interpolate(t[None], size=(256, 256), mode="bilinear", align_corners=False)[0]
        return ((t.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy().copy()

    face = Face(box=(48.0, 40.0, 208.0, 216.0))  # the face region of our sample crops at 256 px
    return float(np.mean([rec.distance(to_np(x), face, to_np(y), face) for x, y in zip(a, b)]))


@torch.no_grad()
def _evaluate(trainer, faces: torch.Tensor, seed: int = 123) -> dict[str, float]:
    nets, priors = trainer.nets, trainer.priors
    g = torch.Generator().manual_seed(seed)
    for m in nets.modules().values():
        m.eval()
    b = faces.shape[0]
    bits = torch.randint(0, 2, (b, nets.generator.config.n_bits), generator=g).float()
    ori_id, ori_geo = priors.identity(faces), priors.geometry(faces)
    dummy = nets.map_2_id(torch.randn(b, priors.identity_dim, generator=g))
    anon = nets.generator(faces, nets.style_mlp(dummy, ori_geo), bits).clamp(-1, 1)
    ber = ((nets.extractor(anon) >= 0).float() != bits).float().mean().item()
    recovered = nets.generator(anon, nets.style_mlp(ori_id, priors.geometry(anon)), bits).clamp(-1, 1)
    for m in nets.modules().values():
        m.train()
    return {"bit_error_rate": round(ber, 4), "recovered_psnr_db": round(_psnr(recovered, faces), 2),
            "anonymized_psnr_db": round(_psnr(anon, faces), 2),
            "dlib_distance_anon_vs_original": round(_dlib_distance(anon, faces), 3),
            "dlib_distance_recovered_vs_original": round(_dlib_distance(recovered, faces), 3)}


@app.command()
def learn(size: int = 64, steps: int = 300, batch_size: int = 4, channel_scale: float = 0.125, threads: int = 2,
          eval_every: int = 0, out: Path | None = None) -> None:
    """Train a small G2Face on the sample faces and report metrics at the start and the end."""
    from faceveil.methods.g2face.config import TrainConfig
    from faceveil.methods.g2face.data import batches, sample_faces
    from faceveil.methods.g2face.train import G2FaceTrainer, make_priors

    torch.set_num_threads(threads)
    cfg = TrainConfig(size=size, channel_scale=channel_scale, extractor_width=32, extractor_blocks=2,
                      batch_size=batch_size, steps=steps, warmup_steps=20, decay_every=max(1, steps // 4), decay_gamma=0.9)
    trainer = G2FaceTrainer(cfg, make_priors("offline", torch.device("cpu")))
    faces = sample_faces(size)
    report = {"config": {"size": size, "steps": steps, "batch": batch_size, "channel_scale": channel_scale}, "start": _evaluate(trainer, faces)}
    print(json.dumps(report["start"]), flush=True)
    stream = batches(faces, batch_size, seed=0)
    t = time.perf_counter()
    for i in range(steps):
        logs = trainer.step(next(stream))
        if eval_every and (i + 1) % eval_every == 0:
            print(json.dumps({"step": i + 1, "s": round(time.perf_counter() - t), **_evaluate(trainer, faces),
                              "hiding_loss": round(logs["anon/hiding"], 4)}), flush=True)
    report["seconds"] = round(time.perf_counter() - t, 1)
    report["end"] = _evaluate(trainer, faces)
    print(json.dumps(report), flush=True)
    if out is not None:
        out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    app()
