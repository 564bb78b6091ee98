"""The pipeline: everything between decoded pixels and written files, for photos, videos and the
evaluation alike.

- frame.py: faces → method → paste back for N frames (the one routing rule; face and track contexts)
- placement.py: where the recovery payload goes and where it is found (one PayloadMode, one default)
- report.py: what happened to a file (FileReport, VideoReport, progress)
- photo.py: load → frame → seal → place; recover; inspect
- video.py: decode → track → frame → payload stream → encode; recover; inspect (format: video_payload.py)

The frame-level names are re-exported here (``from faceveil.pipeline import anonymize_frame``).
"""

from faceveil.pipeline.frame import (
    FaceOutcome,
    FrameResult,
    anonymize_frame,
    anonymize_frames,
    changed_regions,
    face_contexts,
    face_from_dict,
    method_region_rect,
    pixel_digest,
    recover_frame_from_pixels,
    recover_outcomes_from_pixels,
    restore_regions,
    route,
    track_contexts,
    track_seed,
)
from faceveil.pipeline.frame import __all__  # one list of the frame-level names, kept in frame.py
