"""Loading the published checkpoints: G2Face.pth (four networks) and a rosinality StyleGAN2 ``g_ema``
whose synthesis layers initialise the generator for training."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from faceveil.errors import InputError
from faceveil.methods.g2face.config import ExtractorConfig, GeneratorConfig, MapperConfig
from faceveil.methods.g2face.generator import G2FaceGenerator, noise_shapes
from faceveil.methods.g2face.hiding import HidingExtractor
from faceveil.methods.g2face.mapper import BIAS_CONVENTIONS, BIAS_ONCE, BIAS_TWICE, DummyIdentityMapper, StyleMapper

G2FACE_ENTRIES = ("anonymous_net", "style_mlp", "map_2_id", "hiding_extractor")
# Generator parts G2Face adds on top of StyleGAN2 synthesis (trained from scratch).
G2FACE_ONLY_PREFIXES = ("pyramid.", "fusion_mask.", "hiding_injects.")


def strip_module_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` prefix DataParallel/DDP adds to every key."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> nn.Module:
    """load_state_dict(strict=True) after prefix stripping; a mismatch becomes InputError naming ``what``."""
    try:
        module.load_state_dict(strip_module_prefix(state), strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise InputError(f"{what}: checkpoint does not match the network ({' '.join(first)[:400]})") from None
    return module


def read_checkpoint(path: Path) -> dict:
    """torch.load with ``weights_only`` (no code execution from a downloaded file)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable/corrupt file is a user input problem
        raise InputError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint {path} is not a state dict")
    return obj


# Globals a rosinality train.py checkpoint (e.g. the 550000.pt users download) pickles besides tensors:
# its training arguments. Exactly these are allowed; everything else stays refused by weights_only.
ROSINALITY_SAFE_GLOBALS = (argparse.Namespace,)


def read_stylegan2_checkpoint(path: Path) -> dict:
    """A rosinality StyleGAN2 checkpoint, converted (``g_ema``, ``latent_avg``) or written by its
    train.py (also ``g``, ``d``, optimiser states and ``args``, an ``argparse.Namespace``).

    Still ``weights_only``: only ``argparse.Namespace`` is added to the allowed globals."""
    with torch.serialization.safe_globals(list(ROSINALITY_SAFE_GLOBALS)):
        state = read_checkpoint(path)
    if not isinstance(state.get("g_ema"), Mapping):
        raise InputError(f"{path}: expected a rosinality StyleGAN2 checkpoint with entry 'g_ema'")
    return state


@dataclass
class G2FaceNetworks:
    """The four inference networks of the published G2Face.pth (all in eval mode after loading)."""

    generator: G2FaceGenerator
    style_mlp: StyleMapper
    map_2_id: DummyIdentityMapper
    extractor: HidingExtractor

    def modules(self) -> dict[str, nn.Module]:
        return {"anonymous_net": self.generator, "style_mlp": self.style_mlp, "map_2_id": self.map_2_id, "hiding_extractor": self.extractor}

    def eval(self) -> G2FaceNetworks:
        for m in self.modules().values():
            m.eval()
        return self

    def to(self, device: torch.device | str) -> G2FaceNetworks:
        for m in self.modules().values():
            m.to(device)
        return self

    @classmethod
    def create(cls, config: GeneratorConfig = GeneratorConfig(), extractor: ExtractorConfig = ExtractorConfig()) -> G2FaceNetworks:
        """Freshly initialised networks (published sizes by default)."""
        mapper = MapperConfig(style_dim=config.style_dim, split=style_split(config.n_latent))
        return cls(G2FaceGenerator(config), StyleMapper(mapper), DummyIdentityMapper(), HidingExtractor(extractor))

    def load_state(self, checkpoint: Mapping[str, Mapping[str, torch.Tensor]], source: str = "G2Face.pth") -> G2FaceNetworks:
        missing = [e for e in G2FACE_ENTRIES if e not in checkpoint]
        if missing:
            raise InputError(f"{source}: missing entries {missing}; expected {list(G2FACE_ENTRIES)}")
        for entry, module in self.modules().items():
            load_strict(module, checkpoint[entry], f"{source}[{entry}]")
        self.style_mlp.bias_convention = style_mlp_bias_of(checkpoint, source)
        return self

    @classmethod
    def from_file(cls, path: Path) -> G2FaceNetworks:
        return cls.create().load_state(read_checkpoint(path), source=str(path)).eval()


def style_mlp_bias_of(checkpoint: Mapping, source: str = "checkpoint") -> str:
    """How the checkpoint's style_mlp was trained to add its biases (mapper.BIAS_CONVENTIONS): as
    recorded ("style_mlp_bias", written by faceveil training); else "once" for an older faceveil
    training checkpoint (it has a training "config"); else "twice", the published G2Face.pth."""
    recorded = checkpoint.get("style_mlp_bias")
    if recorded is not None:
        if recorded not in BIAS_CONVENTIONS:
            raise InputError(f"{source}: unknown style_mlp_bias {recorded!r}; expected one of {BIAS_CONVENTIONS}")
        return recorded
    return BIAS_ONCE if isinstance(checkpoint.get("config"), Mapping) else BIAS_TWICE


def style_split(n_latent: int) -> tuple[int, int, int]:
    """Coarse / middle / fine W+ rows; the published 6/6/2 at 14 rows, scaled down for small sizes."""
    if n_latent == 14:
        return (6, 6, 2)
    low = n_latent * 3 // 7
    middle = n_latent * 3 // 7
    return (low, middle, n_latent - low - middle)


@dataclass
class SynthesisInit:
    """What loading a StyleGAN2 ``g_ema`` into the G2Face generator did."""

    unused: list[str]  # checkpoint keys not used: the mapping network (``style.*``)
    new: list[str]  # generator keys not in the checkpoint: G2Face's own modules, left at init
    noise: list[torch.Tensor] = field(default_factory=list)  # the checkpoint's fixed noise maps


def init_from_stylegan2(generator: G2FaceGenerator, g_ema: Mapping[str, torch.Tensor]) -> SynthesisInit:
    """Copy the synthesis layers of a rosinality ``g_ema`` state dict into ``generator``.

    The fixed noise buffers (``noises.noise_i``) are returned for use as fixed noise. Raises
    InputError when any synthesis key is missing or mis-shaped (wrong resolution / multiplier).
    """
    state = strip_module_prefix(g_ema)
    n_noise = len(noise_shapes(generator.config))
    noise = [state[f"noises.noise_{i}"] for i in range(n_noise) if f"noises.noise_{i}" in state]
    synthesis = {k: v for k, v in state.items() if not k.startswith(("style.", "noises."))}
    own = generator.state_dict()
    wrong = [k for k, v in synthesis.items() if k in own and own[k].shape != v.shape]
    if wrong:
        raise InputError(f"StyleGAN2 checkpoint does not match the generator size/channels: {wrong[:3]}")
    result = generator.load_state_dict(synthesis, strict=False)
    not_synthesis = [k for k in result.missing_keys if not k.startswith(G2FACE_ONLY_PREFIXES)]
    if not_synthesis or result.unexpected_keys:
        raise InputError(f"StyleGAN2 checkpoint lacks synthesis keys {not_synthesis[:3]} or has unknown keys {result.unexpected_keys[:3]}")
    unused = [k for k in state if k.startswith("style.")]
    return SynthesisInit(unused=unused, new=list(result.missing_keys), noise=noise)


def init_from_rosinality(path: Path, generator: G2FaceGenerator, discriminator: nn.Module | None = None) -> SynthesisInit:
    """Initialise ``generator``'s synthesis layers from the file's ``g_ema`` and, when both are
    there, ``discriminator`` from its ``d`` (strict). The training entry point of ``--stylegan``."""
    state = read_stylegan2_checkpoint(path)
    report = init_from_stylegan2(generator, state["g_ema"])
    if discriminator is not None and "d" in state:
        load_strict(discriminator, state["d"], f"{path}[d]")
    return report
