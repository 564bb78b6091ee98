"""Checking an anonymized video against its payload (recovery, ``inspect --verify``) and reading what
it carries without a key (``inspect``): the frame-by-frame binding of docs/video.md."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from faceveil.crypto.container import pixel_digest
from faceveil.errors import PayloadMissingError, TamperedPixelsError
from faceveil.io.video import VideoFrame, VideoInfo, container_tag, iter_frames, probe_video, to_display
from faceveil.pipeline.placement import video_payload_source
from faceveil.pipeline.video_payload import (
    STREAM_TAG,
    BindingTolerance,
    FrameRecord,
    VideoPixelDigest,
    read_video_header,
    signature_mismatch,
)
from faceveil.pipeline.video_source import open_payload


def verified_frames(src: Path, info: VideoInfo, stream: dict, records: Iterator[FrameRecord]
                    ) -> Iterator[tuple[VideoFrame, np.ndarray, FrameRecord]]:
    """(decoded frame, its upright pixels, its payload record) for every frame of ``src``, after checking
    that the frame is the one the record was made for: TamperedPixelsError when the frame counts differ,
    a lossless frame's exact digest differs, or (payloads with a ``binding``, docs/video.md) a frame's
    timestamp or the signatures of its anonymized pixels differ beyond the payload's tolerance: another
    video, or an edited and re-encoded one. Ends with the payload's own chunk-count/hash check."""
    expected = int(stream.get("frames", 0))
    tag = container_tag(src, STREAM_TAG)
    if tag is not None and tag != stream.get("stream_id"):  # absent when a remux dropped it: the checks below still bind
        raise TamperedPixelsError(f"{src}: the video names payload stream {tag[:16]}, but this payload is stream "
                                  f"{str(stream.get('stream_id'))[:16]}; not the video it was made for")
    binding = stream.get("binding")
    tolerance = BindingTolerance.from_dict(binding.get("tolerance", {})) if isinstance(binding, dict) else None
    period_us = 1e6 / float(info.fps) if info.fps else 0.0
    first_time = None
    count = 0
    for frame in iter_frames(src):
        record = next(records, None)
        if record is None:
            raise TamperedPixelsError(f"{src}: has more frames than its payload ({expected}); not the video it was made for")
        upright = to_display(frame.rgb, info.rotation)
        if record.digest is not None and pixel_digest(upright) != record.digest:
            raise TamperedPixelsError(f"{src}: frame {frame.index} differs from the anonymized frame the payload "
                                      "was made for (edited or re-encoded)")
        if tolerance is not None:
            if record.time_us is None:
                raise TamperedPixelsError(f"{src}: payload record of frame {frame.index} lacks its binding")
            first_time = frame.time if first_time is None else first_time
            drift = abs((frame.time - first_time) * 1e6 - record.time_us)
            if drift > max(2000.0, tolerance.time_frames * period_us):
                raise TamperedPixelsError(f"{src}: frame {frame.index} is at {frame.time - first_time:.3f} s but the payload's "
                                          f"frame is at {record.time_us / 1e6:.3f} s; not the video it was made for")
            mismatch = signature_mismatch(upright, record.signatures, tolerance)
            if mismatch is not None:
                raise TamperedPixelsError(f"{src}: frame {frame.index}: {mismatch}; not the video the payload was made for, "
                                          "or edited after anonymization")
        count += 1
        yield frame, upright, record
    if next(records, None) is not None:  # also runs the final chunk-count/hash check
        raise TamperedPixelsError(f"{src}: has fewer frames ({count}) than its payload ({expected})")


def recovery_problem(video: Path, payload_file: Path | None, content_key, frame_shape: tuple[int, int, int]) -> str | None:
    """The writer's guarantee (exit 0 means recoverable): read the finished ``video`` and its payload
    (``payload_file``, or the MKV attachment when None) exactly as ``recover`` will -- container and
    frame timestamps, chunk authentication, record order, every record's binding to its frame, every
    region inside the frame, and for source coding a decode of the stored packets with every region's
    digest -- using the known ``content_key`` instead of a recipient's key. None when all of it
    holds, else what failed (one line)."""
    from faceveil.errors import FaceveilError

    try:
        info = probe_video(video)
        shape = (info.display_size[1], info.display_size[0], 3)
        with video_payload_source(video, payload_file) as (stream, _where):
            opened, records = open_payload(stream, (), content_key=content_key)
            if tuple(opened.info.image_shape) != tuple(frame_shape) or shape != tuple(frame_shape):
                return f"the output's frames are {shape[1]}x{shape[0]}, not the payload's {frame_shape[1]}x{frame_shape[0]}"
            height, width = frame_shape[:2]
            for frame, _upright, record in verified_frames(video, info, opened.stream, records):
                for region in record.regions:
                    h, w = region.pixels.shape[:2]
                    if region.x < 0 or region.y < 0 or region.x + w > width or region.y + h > height:
                        return f"frame {frame.index}: a payload region lies outside the frame"
    except FaceveilError as exc:
        return str(exc)
    return None


def verify_video_file(path: Path, identities: Sequence, payload_file: Path | None = None) -> dict:
    """``inspect --verify``: open the payload with the key, authenticate every chunk and check every frame
    against it (as recovery does, writing nothing). Raises the error recovery would raise."""
    info = probe_video(path)
    with video_payload_source(path, payload_file) as (stream, _where):
        opened, records = open_payload(stream, identities)
        frames = sum(1 for _ in verified_frames(path, info, opened.stream, records))
    bound = isinstance(opened.stream.get("binding"), dict)
    return {"verified": True, "frames_checked": frames,
            "check": "exact pixel digests" if opened.stream.get("pixel_digests") else
                     ("timestamps and pixel signatures within the tolerance" if bound else "payload authenticity only (no binding)")}


def inspect_video_file(path: Path, payload_file: Path | None = None, *, check_pixels: bool = True) -> dict:
    """What a video carries, readable without a key: streams and the payload's public header.

    Same keys as ``faceveil.api.inspect`` for photos; ``faces`` lists the tracks. With
    ``check_pixels`` and a lossless video, every frame is decoded and compared with the digest in the
    header (``pixels_match_payload``); for lossy videos that check is impossible and the value is None.
    """
    info = probe_video(path)
    result: dict = {
        "file": str(path),
        "format": info.format_name,
        "codec": info.video_codec,
        "size": list(info.display_size),
        "fps": float(info.fps),
        "duration_s": info.duration_s,
        "rotation": info.rotation,
        "audio_streams": [a.codec for a in info.audio],
    }
    try:
        with video_payload_source(path, payload_file) as (stream, where):
            header, _ = read_video_header(stream)
            size = stream.seek(0, io.SEEK_END)
    except PayloadMissingError:
        if payload_file is not None:
            raise
        return result | {"payload": None}
    video = header.extra.get("video", {})
    pixels_ok = None
    if check_pixels and video.get("pixel_digests"):
        digest = VideoPixelDigest()
        for frame in iter_frames(path):
            digest.add(pixel_digest(to_display(frame.rgb, info.rotation)))
        pixels_ok = digest.frames == video.get("frames") and digest.digest() == header.pixel_sha256
    return result | {
        "payload": where,
        "payload_bytes": size,
        "format_version": header.version,
        "method": header.method,
        "method_params": header.method_params,
        "faces": header.faces,
        "face_count": len(header.faces),
        "regions": video.get("frames"),
        "payload_coding": {1: "regions", 2: "regions+streams", 3: "source"}.get(video.get("region_coding", 1), "unknown"),
        "recipients": header.recipients,
        "created": header.created,
        "pixels_match_payload": pixels_ok,
        "container": header.to_dict(),
    } | ({"kept": header.extra["kept"]} if header.extra.get("kept") else {})  # --keep/--only tracks left untouched
