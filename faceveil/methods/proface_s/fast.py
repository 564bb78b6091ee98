"""Fast PRO-Face S inference: the same network, less work per face (issue 16).

The reference path (``method.protect_batch`` / ``recover_batch``: eager fp32 ``ProFaceS.protect`` /
``recover``) stays as it is; this module computes the same outputs faster:

1. **No dead sub-networks** (exact): ``protect`` keeps only the first half of the last coupling's
   output, so that coupling's second-half update (sub-networks ``r`` and ``y``) is never used;
   ``recover`` keeps only the second half, so the first coupling's first-half update (``f``, ``p``)
   in the reverse pass is never used. 10 of the 12 dense sub-networks run instead of 12.
2. **onnxruntime** (same math, different kernels): the trimmed graph is exported once per network
   (in memory, dynamic batch and size) and run by onnxruntime's CPU provider, whose fused
   convolutions + activations and NCHWc layouts beat eager PyTorch on this many-small-convolutions
   network. Outputs match the reference to float rounding (tests: uint8 within 1 grey level,
   > 99 % identical). The export takes seconds, so the graphs are cached on disk per weights file
   (:func:`cache_dir`). Falls back to the trimmed torch path when onnxruntime or the export is
   unavailable, and always on CUDA (where eager torch is already fast).

bf16/AMX: the development CPU (AMD EPYC, AVX2) has neither, so no reduced-precision path is used.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import weakref
from pathlib import Path

import numpy as np
import torch

from faceveil.methods.proface_s.dwt import haar_dwt, haar_iwt
from faceveil.methods.proface_s.model import IMAGE_SUBBANDS, ProFaceS, recovery_standin


def protect_trimmed(net: ProFaceS, original: torch.Tensor, obfuscated: torch.Tensor, key_bits: torch.Tensor) -> torch.Tensor:
    """``net.protect`` without the last coupling's unused second-half update. Same shapes and values."""
    x = torch.cat((haar_dwt(obfuscated), haar_dwt(original)), dim=1)
    key = haar_dwt(key_bits)
    a, b = x[:, :IMAGE_SUBBANDS], x[:, IMAGE_SUBBANDS:]
    blocks = list(net.model.inv_blocks)
    for i, block in enumerate(blocks):
        cond_b = torch.cat((b, key), dim=1)
        a = a * block._scale(block.p(cond_b)) + block.f(cond_b)
        if i < len(blocks) - 1:  # the last block's b is discarded by protect
            cond_a = torch.cat((a, key), dim=1)
            b = b * block._scale(block.r(cond_a)) + block.y(cond_a)
    return haar_iwt(a)


def recover_trimmed(net: ProFaceS, protected: torch.Tensor, key_bits: torch.Tensor) -> torch.Tensor:
    """``net.recover`` without the first coupling's unused first-half update. Same shapes and values."""
    x = torch.cat((haar_dwt(protected), recovery_standin(key_bits, net.recovery_standin)), dim=1)
    key = haar_dwt(key_bits)
    a, b = x[:, :IMAGE_SUBBANDS], x[:, IMAGE_SUBBANDS:]
    blocks = list(net.model.inv_blocks)
    for i in reversed(range(len(blocks))):
        block = blocks[i]
        cond_a = torch.cat((a, key), dim=1)
        b = (b - block.y(cond_a)) / block._scale(block.r(cond_a))
        if i > 0:  # the reverse pass ends with block 0, whose a is discarded by recover
            cond_b = torch.cat((b, key), dim=1)
            a = (a - block.f(cond_b)) / block._scale(block.p(cond_b))
    return haar_iwt(b)


class _Protect(torch.nn.Module):
    def __init__(self, net: ProFaceS):
        super().__init__()
        self.net = net

    def forward(self, original, obfuscated, key_bits):
        return protect_trimmed(self.net, original, obfuscated, key_bits)


class _Recover(torch.nn.Module):
    def __init__(self, net: ProFaceS):
        super().__init__()
        self.net = net

    def forward(self, protected, key_bits):
        return recover_trimmed(self.net, protected, key_bits)


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _export(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str]) -> bytes:
    buffer = io.BytesIO()
    dynamic = {n: {0: "B", 2: "H", 3: "W"} for n in [*names, "out"]}
    with torch.no_grad():
        torch.onnx.export(module, inputs, buffer, input_names=names, output_names=["out"], dynamic_axes=dynamic,
                          opset_version=17, dynamo=False)
    return buffer.getvalue()


def cache_dir() -> Path:
    """Where exported graphs are kept between runs: $FACEVEIL_CACHE_DIR, else $XDG_CACHE_HOME/faceveil,
    else ~/.cache/faceveil."""
    if os.environ.get("FACEVEIL_CACHE_DIR"):
        return Path(os.environ["FACEVEIL_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "faceveil"


def _code_digest() -> str:
    """Digest of the code the graph is traced from: a change to the network code invalidates the cache."""
    import hashlib

    from faceveil.methods.proface_s import dwt, model

    digest = hashlib.sha256()
    for module in (model, dwt, sys.modules[__name__]):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:12]


def _cached_export(cache_key: str | None, name: str, export) -> bytes:
    """The ONNX bytes from the cache (keyed by the weights' sha256 and the torch version) or a fresh
    export, stored for the next run (best effort: an unwritable cache only costs the export again). The
    name also holds a digest of the network code, so a code change never reuses a stale graph."""
    path = cache_dir() / f"proface_s-{name}-{cache_key[:16]}-{_code_digest()}-torch{torch.__version__}.onnx" if cache_key else None
    if path is not None and path.is_file():
        return path.read_bytes()
    model = export()
    if path is not None:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(model)
            os.replace(tmp, path)
    return model


def onnx_sessions(net: ProFaceS, threads: int | None = None, cache_key: str | None = None):
    """(protect, recover) onnxruntime sessions for ``net``, or None when onnxruntime / the exporter is
    unavailable. The export takes a few seconds; with ``cache_key`` (the weights' sha256) the graphs are
    kept in :func:`cache_dir` so later runs skip it."""
    with _LOCK:
        if net in _SESSIONS:
            return _SESSIONS[net]
        try:
            import warnings

            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            img = torch.zeros(1, 3, 64, 64)
            key = torch.ones(1, 1, 64, 64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about shape checks in the DWT
                protect = _cached_export(cache_key, "protect", lambda: _export(
                    _Protect(net).eval(), (img, img, key), ["original", "obfuscated", "key_bits"]))
                recover = _cached_export(cache_key, f"recover-{net.recovery_standin}", lambda: _export(_Recover(net).eval(), (img, key), ["protected", "key_bits"]))
            sessions = tuple(onnxruntime.InferenceSession(m, options, providers=["CPUExecutionProvider"]) for m in (protect, recover))
        except Exception:  # noqa: BLE001 - any exporter/runtime problem: use the torch path
            sessions = None
        _SESSIONS[net] = sessions
        return sessions


def _on_cpu(net: ProFaceS) -> bool:
    return next(net.parameters()).device.type == "cpu"


def protect(net: ProFaceS, original: torch.Tensor, obfuscated: torch.Tensor, key_bits: torch.Tensor,
            backend: str = "auto", cache_key: str | None = None) -> torch.Tensor:
    """Fast ``net.protect``: backend "onnx", "torch" (trimmed eager) or "auto" (onnx on CPU when it works)."""
    sessions = onnx_sessions(net, cache_key=cache_key) if backend != "torch" and _on_cpu(net) else None
    if sessions is None:
        with torch.inference_mode():
            return protect_trimmed(net, original, obfuscated, key_bits)
    feed = {"original": original.numpy(), "obfuscated": obfuscated.numpy(), "key_bits": key_bits.float().numpy()}
    return torch.from_numpy(sessions[0].run(None, feed)[0])


def recover(net: ProFaceS, protected: torch.Tensor, key_bits: torch.Tensor, backend: str = "auto",
            cache_key: str | None = None) -> torch.Tensor:
    """Fast ``net.recover``; backends as for :func:`protect`."""
    sessions = onnx_sessions(net, cache_key=cache_key) if backend != "torch" and _on_cpu(net) else None
    if sessions is None:
        with torch.inference_mode():
            return recover_trimmed(net, protected, key_bits)
    feed = {"protected": protected.numpy(), "key_bits": key_bits.float().numpy()}
    return torch.from_numpy(sessions[1].run(None, feed)[0])


def protect_batch(net, originals, obfuscated, key_maps, batch_size: int = 8, backend: str = "auto",
                  cache_key: str | None = None) -> list[np.ndarray]:
    """Drop-in for ``method.protect_batch`` (same arguments and outputs, within float rounding)."""
    from faceveil.methods.proface_s import keys
    from faceveil.methods.proface_s.tensors import same_shape_groups as _same_shape_groups
    from faceveil.methods.proface_s.tensors import to_model_range, to_uint8

    out: list[np.ndarray | None] = [None] * len(originals)
    for group in _same_shape_groups(originals, batch_size):
        protected = protect(net, to_model_range([originals[i] for i in group]), to_model_range([obfuscated[i] for i in group]),
                            keys.key_tensor([key_maps[i] for i in group]), backend, cache_key)
        for i, img in zip(group, to_uint8(protected)):
            out[i] = img
    return out


def recover_batch(net, protected, key_maps, batch_size: int = 8, backend: str = "auto",
                  cache_key: str | None = None) -> list[np.ndarray]:
    """Drop-in for ``method.recover_batch``."""
    from faceveil.methods.proface_s import keys
    from faceveil.methods.proface_s.tensors import same_shape_groups as _same_shape_groups
    from faceveil.methods.proface_s.tensors import to_model_range, to_uint8

    out: list[np.ndarray | None] = [None] * len(protected)
    for group in _same_shape_groups(protected, batch_size):
        recovered = recover(net, to_model_range([protected[i] for i in group]), keys.key_tensor([key_maps[i] for i in group]), backend, cache_key)
        for i, img in zip(group, to_uint8(recovered)):
            out[i] = img
    return out
