"""The protocol every anonymization method implements, and the method registry.

A method never sees a whole photo. The pipeline (faceveil.pipeline) detects faces and hands each
method the pixels in the space it asks for:

- ``space = "region"``: the axis-aligned face region (box grown by a margin), any size, (h, w, 3) uint8.
  Classical obfuscations work here, so they cover the face regardless of pose or size. So do learned
  methods that hide data in their output pixels (PRO-Face S): the region is written back 1:1, with no
  resampling that would destroy the hidden signal, so ``recover`` can read it from the pixels again.
- ``space = "aligned"``: a 5-point similarity-aligned ``crop_size`` x ``crop_size`` FFHQ-framed crop,
  (S, S, 3) uint8 RGB. Learned methods (G2Face, PRO-Face S) work here; the pipeline warps the result
  back and feathers it in. Faces whose eye distance is below ``min_eye_distance`` are too small for
  the model: the pipeline applies ``fallback`` (a region method) instead and reports it.

Per-face secrets (e.g. PRO-Face S key bit maps) come from ``FaceContext.derive_secret``, which is
HKDF of the image's random content key (faceveil.crypto), so only key holders can reproduce them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from faceveil.errors import UsageError
from faceveil.faces.types import Face

SecretDeriver = Callable[[str, int], bytes]  # (label, n_bytes) -> bytes


@dataclass
class FaceContext:
    face: Face
    index: int  # position of the face in the image's face list
    seed: int  # per-face seed (tracks keep theirs across video frames)
    derive_secret: SecretDeriver | None = None  # None when the run has no key material (payload none)


class AnonymizationMethod(ABC):
    name: ClassVar[str]
    space: ClassVar[Literal["region", "aligned"]] = "region"
    crop_size: ClassVar[int] = 256
    min_eye_distance: ClassVar[float] = 0.0
    fallback: ClassVar[str] = "mosaic"
    # Region methods whose network needs sides divisible by n (e.g. a Haar DWT) get rectangles rounded to it.
    region_multiple: ClassVar[int] = 1

    def params(self) -> dict:
        """JSON-serialisable parameters, recorded (unencrypted) in the recovery container."""
        return {}

    def check_can_anonymize(self) -> None:
        """Raise a FaceveilError now if ``anonymize`` would refuse (called before any file is
        read, so a batch run fails up front). Recovery never calls it."""

    @abstractmethod
    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        """Anonymize a batch of face crops: each (h, w, 3) uint8 RGB -> same shape uint8 RGB."""


class PixelRecoverableMethod(AnonymizationMethod):
    """A method whose output hides the original face in its pixels (PRO-Face S, G2Face), so a key
    holder can recover an approximation from the anonymized pixels alone, without the exact-pixel
    payload (``faceveil recover --from-pixels``). ``contexts`` carry the same seeds and secrets as at
    anonymization time, re-derived from the container's content key."""

    @abstractmethod
    def recover(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        """Recover faces from anonymized crops: each (S, S, 3) uint8 RGB -> (S, S, 3) uint8 RGB."""


def register_method(name: str):
    """Decorator adding a method to the registry at run time (third-party plug-ins; the built-in
    methods are declared in ``faceveil.plugins.METHODS``)."""

    def deco(factory):
        from faceveil.plugins import METHODS, Plugin

        METHODS.add(Plugin(name, factory, (factory.__doc__ or name).strip().splitlines()[0]))
        return factory

    return deco


def available_methods() -> list[str]:
    from faceveil.plugins import METHODS

    return sorted(METHODS.names())


def create_method(name: str, **options) -> AnonymizationMethod:
    """A method by registered name (``faceveil.plugins.METHODS``); unknown name or option -> UsageError (exit 2)."""
    from faceveil.plugins import METHODS

    if name not in METHODS:
        raise UsageError(f"unknown method {name!r}; choose one of: {', '.join(available_methods())}")
    METHODS.check_options(name, options)  # unknown key / wrong type -> UsageError listing the keys it takes
    try:
        return METHODS.create(name, **options)
    except TypeError as exc:  # a **options factory (no schema) refusing a keyword
        if "keyword argument" in str(exc):
            raise UsageError(f"method {name!r} does not take that option: {exc}") from None
        raise


def hides_in_pixels(name: str) -> bool:
    """False when the registered method ``name`` surely hides nothing in its pixels (its factory is a
    class that is no PixelRecoverableMethod), so ``recover --from-pixels`` can say so without re-creating
    it from recorded parameters; True when it may (or the factory is a function that cannot tell)."""
    from faceveil.plugins import METHODS

    if name not in METHODS:
        return True  # create_method reports the unknown name
    factory = METHODS.get(name).load()
    return not isinstance(factory, type) or issubclass(factory, PixelRecoverableMethod)


def parse_method_options(pairs: Sequence[str]) -> dict:
    """``KEY=VALUE`` strings (the CLIs' ``-O/--option``) → keyword options for :func:`create_method`.
    Values are JSON when they parse (numbers, true/false), else strings; ``-`` in keys becomes ``_``."""
    import json

    options = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options
