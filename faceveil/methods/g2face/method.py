"""The ``g2face`` anonymization method for faceveil's pipeline (aligned FFHQ-framed crops, 256 px
for the published networks, the trained size for a checkpoint given as ``weights=``).

The hidden message is, by default, the original's ArcFace embedding encrypted under a per-face key
from ``FaceContext.derive_secret`` (``payload_mode="secure"``); ``payload_mode="paper"`` hides the
plaintext float bits as published. Without key material (no recovery payload requested) the secure
mode hides random bits: the output still looks the same, and nothing about the identity leaks.

Networks: by default the published G2Face.pth + ArcFace + Deep3DFaceRecon from $FACEVEIL_WEIGHTS;
``weights=PATH`` (+ ``priors="offline"`` for a checkpoint trained with the offline priors) loads a
trained checkpoint instead, and ``params()`` records it so recovery rebuilds the same method.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from faceveil.errors import InputError, KeyMaterialError, PayloadCorruptError, WrongKeyError
from faceveil.methods.base import FaceContext, PixelRecoverableMethod
from faceveil.methods.g2face.bitcodec import logits_to_bits
from faceveil.methods.g2face.checkpoint import G2FaceNetworks
from faceveil.methods.g2face.engine import G2FaceEngine
from faceveil.methods.g2face.payload import KEY_BYTES, KEY_LABEL, PAYLOAD_MODES, make_payload_codec
from faceveil.methods.g2face.priors import PRIOR_KINDS, ArcFaceIdentity, Deep3DGeometry
from faceveil.methods.g2face.trained import CheckpointSource, checkpoint_engine
from faceveil.methods.g2face.weights import required_weight_paths

DEFAULT_BATCH = 4
PUBLISHED_SIZE = 256
PUBLISHED_MIN_EYE_DISTANCE = 16.0  # px between the eyes below which a 256 px crop is mostly upsampling blur


def published_engine(device: str | torch.device | None = None, autocast_dtype: torch.dtype | None = None) -> G2FaceEngine:
    """Engine from the user's published weights; ModelUnavailableError lists every missing file."""
    paths = required_weight_paths()
    dev = resolve_device(device)
    return G2FaceEngine(
        networks=G2FaceNetworks.from_file(paths["g2face"]),
        identity=ArcFaceIdentity.from_file(paths["arcface_iresnet50"]),
        geometry=Deep3DGeometry.from_file(paths["deep3dfacerecon"]),
        device=dev,
        autocast_dtype=autocast_dtype,
    )


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None -> CUDA when available else CPU; a bad or unavailable device name is an InputError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r} (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return dev


def crops_to_tensor(crops: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """(S, S, 3) uint8 RGB crops -> (B, 3, S, S) float32 in [-1, 1]; anything else is an InputError."""
    for c in crops:
        if not isinstance(c, np.ndarray) or c.dtype != np.uint8 or c.shape != (size, size, 3):
            shape = getattr(c, "shape", None)
            raise InputError(f"g2face expects aligned ({size}, {size}, 3) uint8 RGB crops, got {shape} {getattr(c, 'dtype', type(c))}")
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1


def tensor_to_crops(images: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, S, S) in [-1, 1] -> list of (S, S, 3) uint8 (rounded, clipped)."""
    arr = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [np.ascontiguousarray(a) for a in arr]


class G2FaceMethod(PixelRecoverableMethod):
    name = "g2face"
    space = "aligned"
    crop_size = PUBLISHED_SIZE  # per instance: the engine's size (the pipeline aligns to method.crop_size)
    min_eye_distance = PUBLISHED_MIN_EYE_DISTANCE
    fallback = "mosaic"

    def __init__(self, payload_mode: str = "secure", device: str | None = None, batch_size: int = DEFAULT_BATCH,
                 engine: G2FaceEngine | None = None, weights: str | Path | None = None, priors: str = "published",
                 weights_sha256: str | None = None, config: dict | None = None):
        """weights: a G2Face checkpoint (path, or a file name in $FACEVEIL_WEIGHTS) instead of the published
        G2Face.pth; priors: "published" (ArcFace + Deep3DFaceRecon) or "offline" (MobileFace + FaceMesh),
        what the checkpoint was trained with; weights_sha256 / config: recorded by params() so recovery
        refuses a different checkpoint."""
        if payload_mode not in PAYLOAD_MODES:
            raise InputError(f"unknown payload mode {payload_mode!r}; choose one of: {', '.join(PAYLOAD_MODES)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError("batch_size must be an integer >= 1")
        if priors not in PRIOR_KINDS:
            raise InputError(f"unknown priors {priors!r}; choose one of: {', '.join(PRIOR_KINDS)}")
        self.payload_mode = payload_mode
        self.batch_size = batch_size
        self.source: CheckpointSource | None = None  # None: published weights or an injected engine
        if engine is not None:
            self.engine = engine
        elif weights is not None:
            self.engine, self.source = checkpoint_engine(weights, priors, resolve_device(device),
                                                         expected_sha256=weights_sha256, expected_layout=config)
        elif priors != "published":
            raise InputError(f"priors={priors!r} needs weights=PATH: a checkpoint trained with "
                             f"`faceveil train g2face --priors {priors}`")
        else:
            self.engine = published_engine(device)
        # a checkpoint trained at another size works on crops of that size; the smallest usable face
        # scales with it (a 64 px model needs a quarter of the eye distance of a 256 px one)
        self.crop_size = self.engine.size
        self.min_eye_distance = PUBLISHED_MIN_EYE_DISTANCE * self.engine.size / PUBLISHED_SIZE
        self.codec = make_payload_codec(payload_mode, self.engine.n_bits, self.engine.identity_dim)

    def params(self) -> dict:
        """payload_mode, plus (for a checkpoint given as weights=) priors, file name, sha256 and layout."""
        params = {"payload_mode": self.payload_mode}
        if self.source is not None:
            params |= self.source.params()
        return params

    def _key(self, ctx: FaceContext) -> bytes | None:
        return ctx.derive_secret(KEY_LABEL, KEY_BYTES) if ctx.derive_secret is not None else None

    def _message(self, identity: torch.Tensor, ctx: FaceContext) -> torch.Tensor:
        """The bits hidden in one face: (n_bits,) float in {0, 1}."""
        key = self._key(ctx)
        if self.payload_mode == "secure" and key is None:
            # nothing to protect the identity with: hide uniform noise, indistinguishable from ciphertext
            seed = int.from_bytes(os.urandom(8), "big")
            return torch.randint(0, 2, (self.engine.n_bits,), generator=torch.Generator().manual_seed(seed)).float()
        return self.codec.encode(identity, key)

    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        return self.anonymize_with_hidden_bits(crops, contexts)[0]

    def anonymize_with_hidden_bits(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> tuple[list[np.ndarray], np.ndarray]:
        """``anonymize``, also returning the message hidden in each crop: (B, n_bits) uint8 in {0, 1}
        (the secure message has a fresh nonce each time, so it can only be known at hiding time)."""
        if len(crops) != len(contexts):
            raise InputError("one FaceContext per crop is required")
        out: list[np.ndarray] = []
        hidden = [np.zeros((0, self.engine.n_bits), np.uint8)]
        for start in range(0, len(crops), self.batch_size):
            ctx = contexts[start : start + self.batch_size]
            images = crops_to_tensor(crops[start : start + self.batch_size], self.crop_size)
            identity = self.engine.identity_of(images).cpu()
            bits = torch.stack([self._message(identity[i], c) for i, c in enumerate(ctx)])
            out += tensor_to_crops(self.engine.anonymize(images, [c.seed for c in ctx], bits))
            hidden.append(bits.to(torch.uint8).numpy())
        return out, np.concatenate(hidden)

    def read_hidden_bits(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> tuple[np.ndarray, list[bool | None]]:
        """The extractor's hard bits from anonymized crops, (B, n_bits) uint8 before error correction,
        and per crop whether the secure payload still decodes (None: paper mode has no error
        correction to succeed or fail, or there is no key to open it with)."""
        if len(crops) != len(contexts):
            raise InputError("one FaceContext per crop is required")
        read = [np.zeros((0, self.engine.n_bits), np.uint8)]
        decoded: list[bool | None] = []
        for start in range(0, len(crops), self.batch_size):
            logits = self.engine.read_bits(crops_to_tensor(crops[start : start + self.batch_size], self.crop_size)).cpu()
            read.append(logits_to_bits(logits).to(torch.uint8).numpy())
            decoded += [self._decodes(logits[i], c) for i, c in enumerate(contexts[start : start + self.batch_size])]
        return np.concatenate(read), decoded

    def _decodes(self, logits: torch.Tensor, ctx: FaceContext) -> bool | None:
        key = self._key(ctx)
        if self.payload_mode != "secure" or key is None:
            return None
        try:
            self.codec.decode(logits, key)
        except (PayloadCorruptError, WrongKeyError):
            return False
        return True

    def recover(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        """Raises KeyMaterialError (secure mode without key), PayloadCorruptError (too many bit
        errors) or WrongKeyError (bits intact but the key does not open them)."""
        if len(crops) != len(contexts):
            raise InputError("one FaceContext per crop is required")
        out: list[np.ndarray] = []
        for start in range(0, len(crops), self.batch_size):
            ctx = contexts[start : start + self.batch_size]
            images = crops_to_tensor(crops[start : start + self.batch_size], self.crop_size)
            logits = self.engine.read_bits(images).cpu()
            identities = []
            for i, c in enumerate(ctx):
                key = self._key(c)
                if self.payload_mode == "secure" and key is None:
                    raise KeyMaterialError("g2face secure payload: recovering the identity needs the image's key")
                identities.append(self.codec.decode(logits[i], key))
            restored = self.engine.recover(images, torch.stack(identities), logits_to_bits(logits), [c.seed for c in ctx])
            out += tensor_to_crops(restored)
        return out
