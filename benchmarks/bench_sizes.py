"""Video sizes: recovery payload MB/min per region coding, and lossless output size per container.

    .venv/bin/python benchmarks/bench_sizes.py                 # 720p, 4 s, moving and still face
    .venv/bin/python benchmarks/bench_sizes.py --seconds 2 --size 1280x720

Same generated clips as benchmarks/bench_video.py (astronaut face ~45 % of the frame height, sensor noise
std 2, H.264 CRF 20 source). For each clip: the payload of a mosaic run (lossy CRF 18 output) written with
region coding 1 (per-frame FFV1 / temporal zlib, payload version 1) and 2 (adds per-track lossless
H.264 streams, version 2), recovery checked exact on the regions; then `--lossless` outputs (.mkv FFV1,
.mp4 libx264rgb) and their size relative to the source.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from unittest import mock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    from faceveil.crypto.keys import X25519Identity
    from faceveil.faces.detect import create_detector
    from faceveil.io.video import EncodeOptions
    from faceveil.video import VideoOptions, anonymize_video, write_synthetic_clip
    from faceveil.video_payload import VideoPayloadWriter

    detector = create_detector("centerface")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for scene, moving in (("moving face", True), ("still face", False)):
            clip = write_synthetic_clip(work / f"{scene[:5]}.mp4", size=(width, height), seconds=args.seconds,
                                        face_height=int(0.45 * height), noise=2.0, crf=20, moving=moving)
            minutes = clip.frames / clip.fps / 60
            source_mb = clip.path.stat().st_size / 1e6
            rows.append((scene, "source (H.264 CRF 20)", source_mb, source_mb / minutes, ""))
            for coding in (1, 2):
                out = work / f"{scene[:5]}-c{coding}.mp4"
                defaults = list(VideoPayloadWriter.__init__.__defaults__)
                defaults[-1] = coding
                t = time.perf_counter()
                with mock.patch.object(VideoPayloadWriter.__init__, "__defaults__", tuple(defaults)):
                    report = anonymize_video(clip.path, out, method="mosaic", detector=detector, overwrite=True,
                                             recipients=[X25519Identity.generate().recipient],
                                             options=VideoOptions(payload="sidecar"))
                seconds = time.perf_counter() - t
                size = Path(str(out) + ".faceveil").stat().st_size / 1e6
                rows.append((scene, f"payload, region coding {coding}", size, size / minutes,
                             f"payload {report.timings['payload'] / report.frames * 1000:.0f} ms/frame, run {seconds:.1f} s"))
            for suffix in (".mkv", ".mp4"):
                out = work / f"{scene[:5]}-lossless{suffix}"
                report = anonymize_video(clip.path, out, method="mosaic", detector=detector, overwrite=True,
                                         recipients=[X25519Identity.generate().recipient],
                                         options=VideoOptions(payload="sidecar", encode=EncodeOptions(lossless=True)))
                size = out.stat().st_size / 1e6
                rows.append((scene, f"--lossless {suffix} ({report.codec})", size, size / minutes,
                             f"{size / source_mb:.0f}x the source"))
    print(f"| clip ({width}x{height}, {args.seconds:g} s) | what | MB | MB/min | note |")
    print("|---|---|---:|---:|---|")
    for scene, what, mb, per_min, note in rows:
        print(f"| {scene} | {what} | {mb:.2f} | {per_min:.1f} | {note} |")


if __name__ == "__main__":
    main()
