"""Old home of the video payload format, kept so existing imports work: see faceveil.pipeline.video_payload."""

from faceveil.pipeline.video_payload import *  # noqa: F403
from faceveil.pipeline.video_payload import MODE_FFV1, MODE_TEMPORAL, RegionStreamEncoder, decode_chunk  # noqa: F401
