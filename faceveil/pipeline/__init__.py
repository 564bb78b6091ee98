"""The pipeline: everything between decoded pixels and written files, for photos, videos and the
evaluation alike.

- frame.py: faces → method → paste back for N frames (the one routing rule; face and track contexts)
- placement.py: where the recovery payload goes and where it is found (one PayloadMode, one default)
- report.py: what happened to a file (FileReport, VideoReport, progress)
- photo.py: load → frame → seal → place; recover; inspect
- video.py: decode → track → frame → payload stream → encode; recover; inspect (format: video_payload.py)

The frame-level names are re-exported here (``from faceveil.pipeline import anonymize_frame``).
"""

from faceveil.pipeline import frame as _frame
from faceveil.pipeline.frame import *  # noqa: F403 (frame.__all__: the frame-level names)

__all__ = list(_frame.__all__)
