"""Pixel-only mode: the protected photo itself is all a key holder needs (PRO-Face S's workflow).

``anonymize --payload none`` with a passphrase, for a method that hides each face in its own region's
pixels (PRO-Face S in secure key mode), writes no container. Instead the face rectangles, the method
parameters and the weights' hash travel inside the pixels as an authenticated *locator*
(crypto/pixel_locator.py, docs/format.md "Pixel locator"), and the per-face keys derive from the
passphrase (Argon2id with a random salt per image, then HKDF). ``recover --from-pixels`` then works
on a copy with every chunk and all metadata stripped, as long as the pixels were re-saved losslessly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceveil.crypto.keys import PassphraseKey
from faceveil.crypto.pixel_locator import LocatorKeys, embed, new_image_keys, open_locator
from faceveil.errors import InputError
from faceveil.faces.mask import MaskSpec
from faceveil.methods.base import AnonymizationMethod, PixelRecoverableMethod, create_method
from faceveil.pipeline.frame import FaceOutcome, face_contexts, face_from_dict, recover_outcomes_from_pixels
from faceveil.runtime import RuntimeOptions

LOSSLESS_FORMATS = ("PNG", "WEBP", "TIFF", "BMP", "PPM")


def supports_pixel_only(method: AnonymizationMethod) -> bool:
    """Methods that hide each face 1:1 in its region's pixels under a key derived from key material."""
    return (isinstance(method, PixelRecoverableMethod) and method.space == "region"
            and getattr(method, "key_mode", "secure") != "compat")


def passphrase_of(recipients: Sequence) -> PassphraseKey | None:
    return next((r for r in recipients if isinstance(r, PassphraseKey) and r.can_seal), None)


def check_pixel_only(method: AnonymizationMethod, recipients: Sequence) -> PassphraseKey:
    """The sealing passphrase for pixel-only mode, or a clear KeyMaterialError / InputError."""
    from faceveil.errors import KeyMaterialError

    if not supports_pixel_only(method):
        raise InputError(f"method {method.name!r} cannot hide the face in the pixels for pixel-only recovery")
    key = passphrase_of(recipients)
    if key is None:
        raise KeyMaterialError("pixel-only mode (--payload none) needs a passphrase (--password-file, "
                               "FACEVEIL_PASSPHRASE or the prompt); a public key cannot derive the face keys")
    return key


def check_format(fmt: str) -> None:
    if fmt not in LOSSLESS_FORMATS:
        raise InputError(f"pixel-only mode needs a lossless output (png, webp, tiff, bmp), not {fmt}: "
                         "the hidden faces and their locator live in the exact pixel values")


def image_keys(key: PassphraseKey) -> tuple[PassphraseKey, bytes, LocatorKeys]:
    """This image's passphrase key (own Argon2id salt), image salt and keys (content key for the faces)."""
    return new_image_keys(key)


def seal_into_pixels(pixels: np.ndarray, method: AnonymizationMethod, outcomes: Sequence[FaceOutcome],
                     key: PassphraseKey, image_salt: bytes, keys: LocatorKeys, mask: MaskSpec | None = None) -> np.ndarray:
    """The anonymized (H, W, 3|4) uint8 pixels with the locator written in; the face regions are avoided.
    ``key``, ``image_salt``, ``keys``: this image's, from :func:`image_keys`. ``mask``: the one the method's
    results were blended with. The rects carry the mask's scale and ``params`` the method's own edge, but
    the shape (an explicit ``--shape ellipse``) is only known from the mask: recovery must blend the
    network's output with the same alpha, or it would overwrite the original pixels the ellipse left alone."""
    record = {
        "method": method.name,
        "params": method.params(),
        "faces": [{"box": [round(float(v), 1) for v in o.face.box], "rect": list(o.rect), "method": o.method}
                  for o in outcomes],
        "shape": list(pixels.shape),
    }
    if mask is not None:
        record["mask"] = mask.to_dict()
    return embed(pixels, record, key, image_salt, keys, avoid=[o.rect for o in outcomes])


def recover_from_pixels(pixels: np.ndarray, rgb: np.ndarray, identities: Sequence,
                        method_options: dict | None = None, runtime: RuntimeOptions | None = None) -> tuple[np.ndarray, dict]:
    """Open the locator of ``pixels`` (H, W, 3|4) and run the method's inverse on every face it lists.
    ``rgb``: the same image as (H, W, 3); ``runtime``: its ``--device`` reaches the method. Returns
    (recovered RGB, locator record)."""
    loc = open_locator(pixels, identities)
    record = loc.record
    device = runtime.recovery_method_options(record["method"]) if runtime is not None else {}
    method = create_method(record["method"], **{**record["params"], **device, **(method_options or {})})
    if not isinstance(method, PixelRecoverableMethod):
        raise InputError(f"method {record['method']!r} hides nothing in the pixels")
    faces = [face_from_dict({"box": f["box"]}) for f in record["faces"]]
    contexts = face_contexts(faces, loc.content_key)
    mask = MaskSpec.from_dict(record.get("mask"))  # absent (older files, or no mask): the whole rect
    return recover_outcomes_from_pixels(rgb, record["faces"], method, contexts, mask=mask), record
