"""G2Face on video: the video pipeline batches aligned crops across frames, keeps one pseudonym seed per
track, and recovers the exact frames from the payload (a reduced-width engine stands in for the
published weights, which are not available offline)."""

import numpy as np
import torch

from faceveil.crypto.keys import X25519Identity
from faceveil.io.video import EncodeOptions, iter_frames
from faceveil.methods.g2face.method import G2FaceMethod
from faceveil.pipeline.video import VideoOptions, anonymize_video, recover_video
from faceveil.testing import write_synthetic_clip

from .small import small_engine

torch.set_num_threads(1)


def test_g2face_anonymizes_every_frame_and_recovers_exactly(tmp_path):
    clip = write_synthetic_clip(tmp_path / "clip.mp4", size=(320, 240), seconds=0.12, face_height=120, audio_codec=None)
    identity = X25519Identity.generate()
    out, back = tmp_path / "out.mkv", tmp_path / "back.mkv"
    method = G2FaceMethod(payload_mode="secure", engine=small_engine())
    report = anonymize_video(clip.path, out, method=method, recipients=[identity.recipient],
                             options=VideoOptions(encode=EncodeOptions(lossless=True)))
    assert report.method == "g2face" and not any("instead" in n for n in report.notes)
    original = [f.rgb for f in iter_frames(clip.path)]
    anonymized = [f.rgb for f in iter_frames(out)]
    assert len(original) == len(anonymized) >= 3
    for i, (a, b) in enumerate(zip(original, anonymized)):
        x0, y0, x1, y1 = (int(v) for v in clip.face_boxes[i])
        assert np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean() > 5, f"frame {i} unchanged"
    recover_video(out, back, [identity])
    for a, b in zip(original, iter_frames(back)):
        np.testing.assert_array_equal(a, b.rgb)
