"""Payload bit error rate of methods that hide bits in the anonymized face (G2Face).

A method takes part by exposing the two calls of :class:`HiddenBitsMethod`; nothing else in the
method protocol changes. The bits are read from the method's own aligned output crop (``crop``: the
network alone) and the way ``faceveil recover --from-pixels`` meets them: the crop pasted into the
photo, the photo sent through a channel, the face re-aligned from it with the landmarks found on
the original. Per face we report

- ``payload.bit_error_rate.<channel>``: fraction of hidden bits read back wrong, before error
  correction (the raw channel);
- ``payload.decoded_rate.<channel>``: 1 when the error-corrected payload still opens (secure mode
  only; paper mode has no error correction and reports no such key),

for ``crop`` and the channels ``clean`` (the anonymized photo as produced), ``png`` (a lossless round trip, so
equal to clean) and ``jpeg90`` (JPEG quality 90, 4:2:0 chroma, as photos are usually shared).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from faceveil.eval import metrics as M
from faceveil.faces.align import align_face
from faceveil.faces.types import Face
from faceveil.methods.base import AnonymizationMethod, FaceContext

JPEG_QUALITY = 90


@runtime_checkable
class HiddenBitsMethod(Protocol):
    """An aligned-space method whose output carries a bit message its extractor can read back."""

    crop_size: int

    def anonymize_with_hidden_bits(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> tuple[list[np.ndarray], np.ndarray]:
        """``anonymize`` plus the (B, n_bits) uint8 {0, 1} message hidden in each crop."""

    def read_hidden_bits(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> tuple[np.ndarray, list[bool | None]]:
        """(B, n_bits) uint8 bits read from anonymized crops, and per crop whether the payload
        decodes (None when that cannot be tried)."""


def _round_trip(rgb: np.ndarray, **save_options) -> np.ndarray:
    """(H, W, 3) uint8 -> encoded with PIL (``save_options`` pick the format) -> decoded (H, W, 3) uint8."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, **save_options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


CHANNELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda rgb: rgb,
    "png": lambda rgb: _round_trip(rgb, format="PNG"),
    "jpeg90": lambda rgb: _round_trip(rgb, format="JPEG", quality=JPEG_QUALITY),
}


class HiddenBitsRecorder(AnonymizationMethod):
    """Stands in for a :class:`HiddenBitsMethod` in ``anonymize_frame`` and keeps, per face index, the
    message it hid (``sent``: (n_bits,) uint8; a secure message is fresh per run, so it cannot be
    recomputed later) and its aligned output (``crops``: (S, S, 3) uint8, before paste-back)."""

    name = "hidden-bits-recorder"

    def __init__(self, wrapped: HiddenBitsMethod) -> None:
        self.wrapped = wrapped
        self.name = wrapped.name  # the pipeline reports outcomes under the real method's name
        self.space = wrapped.space
        self.crop_size = wrapped.crop_size
        self.min_eye_distance = wrapped.min_eye_distance
        self.fallback = wrapped.fallback
        self.sent: dict[int, np.ndarray] = {}
        self.crops: dict[int, np.ndarray] = {}

    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        out, bits = self.wrapped.anonymize_with_hidden_bits(crops, contexts)
        for ctx, message, crop in zip(contexts, bits, out):
            self.sent[ctx.index] = np.asarray(message, dtype=np.uint8)
            self.crops[ctx.index] = crop
        return out


def payload_metrics(
    recorder: HiddenBitsRecorder, anonymized: np.ndarray, faces: Sequence[Face], contexts: Sequence[FaceContext]
) -> dict[int, dict[str, float]]:
    """Face index -> ``payload.*`` metrics, for the faces ``recorder`` hid a message in (faces that
    fell back to a region method carry no bits and get none).

    anonymized: (H, W, 3) uint8 photo the recorder produced; faces / contexts: those it was given.
    """
    indices = sorted(recorder.sent)
    out: dict[int, dict[str, float]] = {i: {} for i in indices}
    if not indices:
        return out
    received = {"crop": [recorder.crops[i] for i in indices]}
    for channel, transmit in CHANNELS.items():
        photo = transmit(anonymized)
        received[channel] = [align_face(photo, faces[i], size=recorder.crop_size).crop for i in indices]
    for channel, crops in received.items():
        read, decoded = recorder.wrapped.read_hidden_bits(crops, [contexts[i] for i in indices])
        for i, bits, ok in zip(indices, read, decoded):
            out[i][f"payload.bit_error_rate.{channel}"] = M.bit_error_rate(recorder.sent[i], bits)
            if ok is not None:
                out[i][f"payload.decoded_rate.{channel}"] = float(ok)
    return out
