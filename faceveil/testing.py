"""Sample faces and synthetic clips for tests, benchmarks, demos and the training/evaluation tools.

Nothing here runs in the anonymize/recover path; it sits low in the layer stack (io only) so that any
layer's tools may use it without importing the evaluation package.

Real face photos that ship inside installed packages (never copied into the repository):

- ``astronaut``: scikit-image's ``data.astronaut()`` (Eileen Collins, NASA, public domain), 512x512.
- ``grace_hopper``: matplotlib's ``sample_data/grace_hopper.jpg`` (US Navy, public domain), 512x600.
- ``cameraman``: scikit-image's ``data.camera()`` (CC0), grayscale 512x512 stacked to RGB; a small face
  (~70 px) turned ~50 degrees to the side -- the one strongly non-frontal face we have offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from faceveil.errors import InputError

SAMPLE_NAMES = ("astronaut", "grace_hopper", "cameraman")


def _grace_hopper_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")


def load_sample(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a package-shipped face photo."""
    if name == "astronaut":
        from skimage import data

        return np.ascontiguousarray(data.astronaut())
    if name == "cameraman":
        from skimage import data

        return np.ascontiguousarray(np.repeat(data.camera()[..., None], 3, axis=2))
    if name == "grace_hopper":
        from PIL import Image

        with Image.open(_grace_hopper_path()) as im:
            return np.asarray(im.convert("RGB")).copy()
    raise InputError(f"unknown sample {name!r}; choose one of: {', '.join(SAMPLE_NAMES)}")


def load_samples() -> dict[str, np.ndarray]:
    return {name: load_sample(name) for name in SAMPLE_NAMES}


# --------------------------------------------------------------------------------------------- synthetic clips


@dataclass(frozen=True)
class SyntheticClip:
    """A short generated video: a real face (skimage's astronaut) moving over a moving background.

    Used by tests, the benchmark and demos. ``face_boxes[i]`` is the (x0, y0, x1, y1) where the face
    image was pasted in frame i, in display orientation.
    """

    path: Path
    frames: int
    fps: int
    face_boxes: list[tuple[int, int, int, int]]


def _astronaut_face(height: int) -> np.ndarray:
    """The astronaut's head and shoulders resized to ``height`` rows: (height, w, 3) uint8."""
    import cv2
    import skimage.data

    crop = skimage.data.astronaut()[20:230, 140:310]  # head with some margin
    width = int(round(crop.shape[1] * height / crop.shape[0]))
    return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)


def synthetic_frames(
    size: tuple[int, int], count: int, face_height: int, *, noise: float = 0.0, seed: int = 7, moving: bool = True,
    shake: float = 0.0,
) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """``count`` upright RGB frames (H, W, 3) uint8 of display ``size`` (W, H) and the pasted face boxes.

    The background is a fixed random texture scrolling 2 px per frame; the face sweeps left to right
    at sub-pixel positions, bobs vertically and breathes in scale (+-5 %), so tracking and the region
    payload see real motion. ``noise`` adds Gaussian sensor noise (std in grey levels) to every frame.
    ``moving=False`` keeps the face still in the middle (background still scrolls). ``shake``: a handheld
    camera, the whole frame drifting and shaking by sub-pixel amounts up to about this many pixels
    (the returned boxes ignore it).
    """
    import cv2

    width, height = size
    rng = np.random.default_rng(seed)
    texture = rng.integers(40, 200, size=(height // 8 + 1, (width + 2 * count) // 8 + 1, 3), dtype=np.uint8)
    texture = cv2.resize(texture, (texture.shape[1] * 8, texture.shape[0] * 8), interpolation=cv2.INTER_LINEAR)
    face = _astronaut_face(face_height)
    fh, fw = face.shape[:2]
    frames, boxes = [], []
    for i in range(count):
        frame = texture[:height, 2 * i : 2 * i + width].copy()
        scale = 1.0 + 0.05 * np.sin(i / 5) if moving else 1.0
        x = 10 + (width - fw * 1.05 - 20) * i / max(count - 1, 1) if moving else (width - fw) / 2
        y = (height - fh * scale) / 2 + (0.1 * height * np.sin(i / 4) if moving else 0.0)
        matrix = np.array([[scale, 0, x], [0, scale, y]], dtype=np.float64)
        mask = cv2.warpAffine(np.ones((fh, fw), np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
        warped = cv2.warpAffine(face, matrix, (width, height), flags=cv2.INTER_LINEAR)
        blended = frame * (1 - mask[..., None]) + warped * mask[..., None]
        if shake > 0:
            dx, dy = shake * (0.6 * np.sin(i / 3.1) + 0.4 * np.sin(i / 1.7)), shake * 0.8 * np.sin(i / 2.3 + 1)
            move = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float64)
            blended = cv2.warpAffine(blended.astype(np.float32), move, (width, height), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT)
        if noise > 0:
            blended = blended + rng.normal(0, noise, size=blended.shape)
        frames.append(np.clip(np.rint(blended), 0, 255).astype(np.uint8))
        boxes.append((int(x), int(y), int(np.ceil(x + fw * scale)), int(np.ceil(y + fh * scale))))
    return frames, boxes


def write_synthetic_clip(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] = (320, 240),
    seconds: float = 1.0,
    fps: int = 25,
    face_height: int = 110,
    rotation: int = 0,
    codec: str | None = None,
    audio_codec: str | None = "aac",
    noise: float = 0.0,
    crf: int = 23,
    moving: bool = True,
    preset: str = "ultrafast",
    shake: float = 0.0,
) -> SyntheticClip:
    """Write a generated clip with a moving face and (optionally) a 440 Hz sine audio track.

    ``preset``: the x264 preset (``ultrafast`` codes no B-frames; ``fast`` and slower reorder frames).

    ``size`` is the display size (W, H); with ``rotation`` (display-matrix degrees) the frames are
    stored rotated the other way, as phones do, so a correct reader shows them upright.
    """
    path = Path(path)
    count = max(1, int(round(seconds * fps)))
    frames, boxes = synthetic_frames(size, count, face_height, noise=noise, moving=moving, shake=shake)
    suffix = path.suffix.lower()
    codec = codec or ("libvpx-vp9" if suffix == ".webm" else "libx264")
    import av

    from faceveil.io.video import from_display

    with av.open(str(path), mode="w") as out:
        stored_h, stored_w = from_display(frames[0], rotation).shape[:2]
        options = {"libx264": {"preset": preset, "crf": str(crf)}, "libvpx-vp9": {"deadline": "realtime"}}.get(codec, {})
        video = out.add_stream(codec, rate=fps, options=options)
        formats = [f.name for f in video.codec_context.codec.video_formats or []]
        even = stored_w % 2 == 0 and stored_h % 2 == 0
        video.width, video.height = stored_w, stored_h
        video.pix_fmt = "yuv420p" if even and "yuv420p" in formats else ("yuv444p" if "yuv444p" in formats else formats[0])
        if rotation:
            video.set_display_rotation(rotation)
        audio = None
        if audio_codec:
            audio = out.add_stream(audio_codec, rate=48000 if audio_codec == "libopus" else 16000)
            audio.layout = "mono"
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(from_display(frame, rotation), format="rgb24")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            for packet in video.encode(vf):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None:
            _write_sine(out, audio, seconds=count / fps)
    return SyntheticClip(path=path, frames=count, fps=fps, face_boxes=boxes)


def _write_sine(out, stream, *, seconds: float, hz: float = 440.0) -> None:
    import av

    rate = stream.codec_context.sample_rate
    samples = (0.3 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
    chunk = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    for start in range(0, len(samples), chunk):
        part = samples[start : start + chunk]
        if fmt == "s16":
            data = (part * 32767).astype(np.int16)[None, :]
        else:  # planar float (aac, opus)
            data = part[None, :]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
