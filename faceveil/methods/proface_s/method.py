"""The ``proface-s`` anonymization method: PRO-Face S on the face region, at its own pixels.

The network is fully convolutional, so the whole-photo pipeline hands it the axis-aligned face region
(sides a multiple of 4 for the Haar DWT) and writes the protected region back 1:1. It deliberately
does not use FFHQ-aligned crops there: warping the protected crop back into the photo and warping it
again at recovery resamples the pixels and destroys the hidden signal (measured: 9.6 dB recovered on
the astronaut photo, no better than a wrong key), whereas 1:1 placement recovers from a lossless
file exactly as well as the network does on its own crops. Method-level calls still accept any
even-sided crop, e.g. the 256 px aligned crops the model was trained and benchmarked on.

Anonymize: pre-obfuscate each crop (``obfuscation``), then hide the original inside it under a
per-face secret key map; the output looks like the obfuscated face. Recover (from pixels alone):
run the network backwards with the same key.

Keys (see keys.py): ``key_mode="secure"`` (default) derives each face's map from the image's content
key via ``FaceContext.derive_secret``; a wrong passphrase / identity is already rejected by the
container. ``key_mode="compat"`` uses the official password derivation (keys.py: the released code's
``generate_key``, so images interoperate with it; a str or an integer 0..255); ``params()`` then records a
short key-check value, so a wrong password raises WrongKeyError unless ``allow_unverified=True``
(which shows the network's wrong-key output, for research).

Weights record the pre-obfuscations they were trained on (training config in their meta); anonymizing
behind any other cover is refused up front (``check_can_anonymize``) because an untrained cover leaves
the face visible, and ``hybrid`` draws only among the trained kinds.

Recreate the method for recovery with ``create_method("proface-s", **params, password=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceveil.errors import InputError, KeyMaterialError, UsageError
from faceveil.methods.base import FaceContext, PixelRecoverableMethod
from faceveil.methods.proface_s import keys
from faceveil.methods.proface_s.obfuscations import OBFUSCATIONS, FaceSwapHook, obfuscate, resolve_kind
from faceveil.methods.proface_s.tensors import same_shape_groups as _same_shape_groups  # noqa: F401 (old name)
from faceveil.methods.proface_s.tensors import to_model_range, to_uint8  # noqa: F401 (re-exported)

KEY_MODES = ("secure", "compat")
EDGES = ("soft", "hard")
# Soft edge: the cover fades into the untouched photo over a feathered ellipse inscribed in the region
# (full cover inside FEATHER_INNER of the ellipse's radius, none from its rim outward), so no hard
# rectangle shows. The network still protects (and recovers) the whole rectangle. 0.9: at the CLI's mask
# scale (1.3) the detector box's corners lie at 0.88 of the radius, so the whole box is fully covered;
# the former 0.7 left the box's corners, hairline and jaw half-covered (issue 20).
FEATHER_INNER = 0.9
DEFAULT_WEIGHTS = "proface-s"  # registry name of the shipped weights
_UNREAD = object()  # usable_obfuscations() not read from the weights yet (None is a valid answer)
REGISTERED_WEIGHTS = ("proface-s", "proface-s-v1", "proface-s-official")  # registered in proface_s/__init__.py
SHIPPED_NAMES = ("proface-s", "proface-s-v1")  # weights that ship with faceveil, newest first


def resolve_weights(weights: str | Path | None) -> Path:
    """A weight file path from an explicit path or a registered name (default: shipped weights)."""
    from faceveil.models_registry import require_model

    if weights is None or str(weights) in REGISTERED_WEIGHTS:
        return require_model(str(weights or DEFAULT_WEIGHTS))
    path = Path(weights)
    if not path.is_file():
        from faceveil.errors import ModelUnavailableError

        raise ModelUnavailableError(f"PRO-Face S weights not found: {path}")
    return path


def _shipped_with_sha256(sha256: str) -> str | None:
    """The name of the shipped weight file with this SHA-256, if any."""
    from faceveil.errors import ModelUnavailableError
    from faceveil.methods.proface_s.checkpoint import file_sha256

    for name in SHIPPED_NAMES:
        try:
            if file_sha256(resolve_weights(name)) == sha256:
                return name
        except ModelUnavailableError:
            continue
    return None


class ProFaceSMethod(PixelRecoverableMethod):
    name = "proface-s"
    space = "region"  # 1:1 placement keeps the hidden signal readable (module docstring)
    region_multiple = 4  # Haar DWT halves each side; the compat key bytes need h*w divisible by 8
    crop_size = 256  # the reference size of the key-check value and of the paper's obfuscation parameters
    min_eye_distance = 12.0
    fallback = "mosaic"
    # "fast": faceveil.methods.proface_s.fast (same network, dead sub-networks skipped, onnxruntime on
    # CPU; outputs equal the reference within float rounding); "reference": eager fp32 as released.
    inference = "fast"

    def __init__(
        self,
        obfuscation: str = "blur",
        key_mode: str = "secure",
        password: str | int | None = None,
        allow_unverified: bool = False,
        weights: str | Path | None = None,
        key_check: str | None = None,
        weights_sha256: str | None = None,
        faceswap: FaceSwapHook | None = None,
        device: str = "cpu",
        batch_size: int | None = None,
        edge: str = "soft",
    ):
        if obfuscation not in OBFUSCATIONS:
            raise UsageError(f"unknown PRO-Face S obfuscation {obfuscation!r}; choose one of: {', '.join(OBFUSCATIONS)}")
        if obfuscation == "faceswap" and faceswap is None:
            raise InputError("obfuscation 'faceswap' needs a face-swap callable (faceswap=...); none ships with faceveil")
        if edge not in EDGES:
            raise InputError(f"unknown PRO-Face S edge {edge!r}; choose one of: {', '.join(EDGES)}")
        if key_mode not in KEY_MODES:
            raise InputError(f"unknown PRO-Face S key mode {key_mode!r}; choose one of: {', '.join(KEY_MODES)}")
        if key_mode == "compat":
            if password is None or password == "":
                raise KeyMaterialError("PRO-Face S key_mode='compat' needs a password (CLI: --compat-password-file FILE or "
                                       "$FACEVEIL_COMPAT_PASSWORD)")
            if key_check is None:  # not latin-1 / not one byte: refused before any work (a container of
                keys.compat_password_bytes(password)  # the former derivation may still be opened with it)
        self.obfuscation = obfuscation
        self.edge = edge
        self.key_mode = key_mode
        self.password = password
        self.allow_unverified = allow_unverified
        self.weights = weights
        self.expected_key_check = key_check
        self.expected_weights_sha256 = weights_sha256
        self.faceswap = faceswap
        self.device = device
        # measured (benchmarks/bench_proface_s.py): on CPU one face at a time is ~40 % faster per
        # face than batches of 8 at 256 px (cache-bound); GPUs want batches
        self.batch_size = max(1, int(batch_size)) if batch_size else (1 if str(device) == "cpu" else 8)
        self._net = None
        self._weights_sha256: str | None = None
        self._usable: tuple[str, ...] | None | object = _UNREAD
        self._legacy_compat = False  # set by the key check of a container from before the official derivation

    # -- model ---------------------------------------------------------------------------------
    def weights_sha256(self) -> str:
        """sha256 of the weight file in use (recorded in params() so recovery uses the same net)."""
        if self._weights_sha256 is None:
            from faceveil.methods.proface_s.checkpoint import file_sha256

            self._weights_sha256 = file_sha256(resolve_weights(self.weights))
        return self._weights_sha256

    @property
    def net(self):
        """The loaded network (lazily, so creating the method for params() is cheap)."""
        if self._net is None:
            from faceveil.methods.proface_s.checkpoint import load_proface_s

            sha = self.weights_sha256()
            if self.expected_weights_sha256 and sha != self.expected_weights_sha256 and self.weights in (None, "proface-s"):
                # faces protected with an earlier shipped file: use that file (the output records its hash)
                earlier = _shipped_with_sha256(self.expected_weights_sha256)
                if earlier is not None:
                    self.weights, self._weights_sha256 = earlier, None
                    sha = self.weights_sha256()
            if self.expected_weights_sha256 and sha != self.expected_weights_sha256 and not self.allow_unverified:
                raise InputError(
                    f"these faces were protected with PRO-Face S weights sha256 {self.expected_weights_sha256[:12]}…, "
                    f"but the weights given are {sha[:12]}…; pass the same weights (weights=...)"
                )
            self._net = load_proface_s(resolve_weights(self.weights), self.device)
        return self._net

    def params(self) -> dict:
        params = {"obfuscation": self.obfuscation, "key_mode": self.key_mode, "edge": self.edge,
                  "weights_sha256": self.weights_sha256()}
        if self.key_mode == "compat":
            params["key_check"] = keys.compat_key_check(self.password, self.crop_size, self.crop_size)
        return params

    def usable_obfuscations(self) -> tuple[str, ...] | None:
        """Kinds the weights were trained on (None: unknown, e.g. the authors' release, so all are
        allowed). A network hides a face only behind covers it learnt: the shipped CPU weights,
        trained on blur / median / pixelate, leave the face visible through a cartoon mask."""
        from faceveil.methods.proface_s.checkpoint import trained_obfuscations

        if self._usable is _UNREAD:
            self._usable = trained_obfuscations(resolve_weights(self.weights))
        return self._usable

    def check_can_anonymize(self) -> None:
        usable = self.usable_obfuscations()
        if usable is None or self.obfuscation == "hybrid" or self.obfuscation in usable:
            return
        raise InputError(
            f"PRO-Face S obfuscation {self.obfuscation!r}: the weights in use were trained on "
            f"{', '.join(usable)} only, and would leave the face visible behind {self.obfuscation!r} "
            "(docs/models/proface_s.md). Choose one of those, or pass weights trained with it "
            "(faceveil train proface-s --obfuscation ..., then -O weights=PATH)"
        )

    def _cover_kind(self, rng: np.random.Generator) -> str:
        """The concrete pre-obfuscation for one face; 'hybrid' draws among the kinds the weights know."""
        if self.obfuscation != "hybrid":
            return self.obfuscation
        return resolve_kind("hybrid", rng, self.faceswap, allowed=self.usable_obfuscations())

    # -- keys ----------------------------------------------------------------------------------
    def key_map(self, crop_shape: tuple[int, ...], context: FaceContext) -> np.ndarray:
        """(H, W) +-1 key map for one face."""
        h, w = crop_shape[:2]
        if self.key_mode == "compat":
            return keys.compat_key_bits(self.password, h, w, legacy=self._legacy_compat)
        return keys.secure_key_bits(context.derive_secret, h, w)

    def _check_password(self) -> None:
        if self.key_mode == "compat" and self.expected_key_check and not self.allow_unverified:
            self._legacy_compat = keys.verify_compat_password(self.password, self.crop_size, self.crop_size,
                                                              self.expected_key_check)

    # -- protocol ------------------------------------------------------------------------------
    def anonymize(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        _validate(crops, contexts)
        self.check_can_anonymize()
        obfuscated = [self.cover(crop, ctx) for crop, ctx in zip(crops, contexts)]
        key_maps = [self.key_map(c.shape, ctx) for c, ctx in zip(crops, contexts)]
        if self.inference == "fast":
            from faceveil.methods.proface_s import fast

            return fast.protect_batch(self.net, crops, obfuscated, key_maps, self.batch_size, cache_key=self.weights_sha256())
        return protect_batch(self.net, crops, obfuscated, key_maps, self.batch_size)

    def cover(self, crop: np.ndarray, context: FaceContext) -> np.ndarray:
        """The plain cover the face is hidden in, with the method's edge: what the protected output
        should look like (eval's obfuscation reference uses this very function)."""
        rng = np.random.default_rng(context.seed)
        cover = obfuscate(crop, self._cover_kind(rng), rng, self.faceswap)
        return feather_cover(crop, cover) if self.edge == "soft" else cover

    def recover(self, crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> list[np.ndarray]:
        _validate(crops, contexts)
        self._check_password()
        key_maps = [self.key_map(c.shape, ctx) for c, ctx in zip(crops, contexts)]
        if self.inference == "fast":
            from faceveil.methods.proface_s import fast

            return fast.recover_batch(self.net, crops, key_maps, self.batch_size, cache_key=self.weights_sha256())
        return recover_batch(self.net, crops, key_maps, self.batch_size)


def feathered_ellipse(height: int, width: int, inner: float = FEATHER_INNER) -> np.ndarray:
    """(height, width) float32 alpha: 1 inside ``inner`` of the inscribed ellipse's radius, falling
    smoothly (smoothstep) to 0 at its rim and beyond: faces.mask's ellipse, on the crop itself (the
    method sees crops, not faces). A pipeline MaskSpec for PRO-Face S belongs here, on the cover: a
    blend after protection would cut the hidden signal in the feathered band."""
    from faceveil.faces.mask import ImageMask

    return ImageMask((0.0, 0.0, float(width), float(height)), "ellipse", 1.0 - inner).alpha(0, 0, width, height)


def feather_cover(original: np.ndarray, cover: np.ndarray, inner: float = FEATHER_INNER) -> np.ndarray:
    """The cover blended into the original over a feathered ellipse; (h, w, 3) uint8 both."""
    alpha = feathered_ellipse(*original.shape[:2], inner)[..., None]
    return np.round(alpha * cover + (1 - alpha) * original).astype(np.uint8)


def _validate(crops: Sequence[np.ndarray], contexts: Sequence[FaceContext]) -> None:
    if len(crops) != len(contexts):
        raise InputError(f"{len(crops)} crops but {len(contexts)} face contexts")
    for crop in crops:
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
            raise InputError(f"PRO-Face S needs (S, S, 3) uint8 RGB crops, got {crop.shape} {crop.dtype}")
        if crop.shape[0] % 2 or crop.shape[1] % 2 or (crop.shape[0] * crop.shape[1]) % 8:
            raise InputError(f"PRO-Face S crops need even sides, got {crop.shape[:2]}")


def protect_batch(net, originals, obfuscated, key_maps, batch_size: int = 8) -> list[np.ndarray]:
    """Hide each original in its obfuscated version. All lists of (S, S, 3) uint8 / (S, S) +-1."""
    import torch

    out: list[np.ndarray | None] = [None] * len(originals)
    with torch.inference_mode():
        for group in _same_shape_groups(originals, batch_size):
            protected = net.protect(
                to_model_range([originals[i] for i in group]),
                to_model_range([obfuscated[i] for i in group]),
                keys.key_tensor([key_maps[i] for i in group]),
            )
            for i, img in zip(group, to_uint8(protected)):
                out[i] = img
    return out


def recover_batch(net, protected, key_maps, batch_size: int = 8) -> list[np.ndarray]:
    """Recover originals from protected (S, S, 3) uint8 crops with their (S, S) +-1 key maps."""
    import torch

    out: list[np.ndarray | None] = [None] * len(protected)
    with torch.inference_mode():
        for group in _same_shape_groups(protected, batch_size):
            recovered = net.recover(to_model_range([protected[i] for i in group]), keys.key_tensor([key_maps[i] for i in group]))
            for i, img in zip(group, to_uint8(recovered)):
                out[i] = img
    return out
