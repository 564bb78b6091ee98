"""Access to the golden conformance fixtures (tests/data/golden, a copy of ../shared/reference/golden):
the recipe that generates every weight and input, the cases, the official outputs, and writers of the
official checkpoint files."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "reference" / "golden"
FILES = ("README.md", "recipe.py", "specs.json", "cases.json", "cases.npz")


@lru_cache(maxsize=1)
def recipe():
    """The fixtures' own generator module (numpy only), imported from the copy kept with the tests."""
    spec = importlib.util.spec_from_file_location("golden_recipe", GOLDEN / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=1)
def cases() -> dict[str, dict]:
    return {c["name"]: c for c in json.loads((GOLDEN / "cases.json").read_text())["cases"]}


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "cases.npz") as npz:
        return {k: npz[k] for k in npz.files}


def inp(case: str, what: str) -> torch.Tensor:
    """A case's float32 input as a tensor."""
    return torch.from_numpy(arrays()[f"{case}/in/{what}"].copy())


def noise(case: str) -> list[torch.Tensor]:
    """The 13 noise maps of a synthesis case, in layer order (conv1, convs.0 .. convs.11)."""
    return [inp(case, f"noise{i}") for i in range(13)]


def state_dict(layout: str) -> dict[str, torch.Tensor]:
    """A layout built by the recipe, as tensors, in the official checkpoint order."""
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in recipe().state_dict(layout).items()}


def output(case: str, what: str) -> dict:
    return next(o for o in cases()[case]["outputs"] if o["npz"] == f"{case}/out/{what}")


def max_abs_diff(case: str, what: str, ours: torch.Tensor) -> float:
    ref = arrays()[f"{case}/out/{what}"]
    mine = ours.detach().cpu().to(torch.float32).numpy().astype(np.float64)
    assert mine.shape == ref.shape, f"{case}/{what}: shape {mine.shape} != {ref.shape}"
    return float(np.max(np.abs(mine - ref.astype(np.float64))))


def assert_matches(case: str, what: str, ours: torch.Tensor) -> None:
    """max |ours - reference| <= the case's tol_max_abs, in float64 from our float32 output."""
    tol = output(case, what)["tol_max_abs"]
    diff = max_abs_diff(case, what, ours)
    if os.environ.get("FACEVEIL_CONFORMANCE_REPORT"):  # `pytest -s`: how close each output is
        print(f"\n{case}/{what}: max |diff| {diff:.3g} (tolerance {tol:g})")
    assert diff <= tol, f"{case}/{what}: max |diff| {diff:.3g} > tolerance {tol:g}"


# --- the official checkpoint files ------------------------------------------------------------

G2FACE_ENTRIES = ("anonymous_net", "style_mlp", "map_2_id", "hiding_extractor")


def write_g2face_files(directory: Path) -> None:
    """G2Face.pth, ArcFace backbone.pth and Deep3DFaceRecon epoch_20.pth as the authors ship them."""
    torch.save({e: state_dict(f"g2face_checkpoint/{e}") for e in G2FACE_ENTRIES}, directory / "G2Face.pth")
    torch.save(state_dict("arcface_iresnet50"), directory / "backbone.pth")
    torch.save({"net_recon": state_dict("deep3dfacerecon_net_recon")}, directory / "epoch_20.pth")


def write_rosinality_checkpoint(path: Path) -> None:
    """A rosinality ``train.py`` checkpoint as ``550000.pt`` is: g, d, g_ema, optimiser states and
    the pickled ``argparse.Namespace`` of the training arguments."""
    g_ema = state_dict("stylegan2_rosinality_256_g_ema")
    d = state_dict("stylegan2_rosinality_256_d")
    args = argparse.Namespace(path="ffhq", arch="stylegan2", iter=800000, batch=16, n_sample=64, size=256, r1=10.0,
                              path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9,
                              ckpt=None, lr=0.002, channel_multiplier=2, wandb=False, local_rank=0, augment=False,
                              augment_p=0.0, ada_target=0.6, ada_length=500000, ada_every=256, latent=512, n_mlp=8,
                              start_iter=0, distributed=True)
    adam = {"state": {}, "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "eps": 1e-8, "weight_decay": 0,
                                            "amsgrad": False, "params": [0, 1]}]}
    torch.save({"g": g_ema, "d": d, "g_ema": g_ema, "g_optim": adam, "d_optim": adam, "args": args,
                "ada_aug_p": 0.0, "latent_avg": torch.zeros(512)}, path)


def write_proface_s_checkpoint(path: Path) -> None:
    """The released PRO-Face S file: ``torch.save(embedder.state_dict())``, keys ``model.inv_blocks.*``."""
    torch.save(state_dict("proface_s_modeldwt_inv3"), path)
