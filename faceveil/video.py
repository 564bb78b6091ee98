"""Old home of the video pipeline, kept so existing imports work: it now lives in
faceveil.pipeline.video (and the synthetic clips in faceveil.testing)."""

from faceveil.pipeline.frame import anonymize_frames, track_contexts, track_seed
from faceveil.pipeline.placement import ATTACHMENT_NAME, MAX_ATTACHMENT_BYTES, PayloadMode
from faceveil.pipeline.report import ProgressCallback, TrackSummary, VideoProgress, VideoReport, console_progress
from faceveil.pipeline.video import (
    VideoOptions,
    anonymize_video,
    anonymize_video_file,
    recover_video,
    recover_video_file,
)
from faceveil.pipeline.video_check import inspect_video_file
from faceveil.testing import SyntheticClip, synthetic_frames, write_synthetic_clip

__all__ = [
    "ATTACHMENT_NAME", "MAX_ATTACHMENT_BYTES", "PayloadMode", "ProgressCallback", "SyntheticClip", "TrackSummary",
    "VideoOptions", "VideoProgress", "VideoReport", "anonymize_frames", "anonymize_video", "anonymize_video_file",
    "console_progress", "inspect_video_file", "recover_video", "recover_video_file", "synthetic_frames",
    "track_contexts", "track_seed", "write_synthetic_clip",
]
