"""End-to-end photo benchmark (CPU): seconds per image, split into detect / align / anonymize /
encrypt+encode, for a 1-megapixel single-face photo and a multi-face photo, for each classical method.

    .venv/bin/python benchmarks/bench_photo.py [--repeats 5] [--format png] [--threads 2]

The Argon2id passphrase derivation runs once per run (as in a CLI batch) and is reported separately.
Target (issue #2): <= 0.5 s per 1 MP single-face photo for the classical methods on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from faceveil.api import Anonymizer, make_recipients
from faceveil.testing import load_sample
from faceveil.io.images import ImageMetadata, LoadedImage

METHODS = ("mosaic", "blur", "pixelate", "median", "solid")


def single_face_1mp() -> np.ndarray:
    """1024x1024 (1.05 MP): the astronaut photo upscaled 2x."""
    return cv2.resize(load_sample("astronaut"), (1024, 1024), interpolation=cv2.INTER_CUBIC)


def multi_face() -> np.ndarray:
    """1600x900 canvas with six faces of different sizes (both sample photos, flipped copies)."""
    canvas = np.full((900, 1600, 3), 90, np.uint8)
    a, g = load_sample("astronaut"), load_sample("grace_hopper")
    tiles = [(a, 400), (g[:, ::-1], 350), (a[:, ::-1], 260), (g, 300), (a, 200), (g, 220)]
    x = 0
    for i, (img, side) in enumerate(tiles):
        tile = cv2.resize(np.ascontiguousarray(img), (side, int(side * img.shape[0] / img.shape[1])))
        y = 0 if i % 2 == 0 else 900 - tile.shape[0]
        if x + tile.shape[1] > 1600:
            break
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        x += tile.shape[1] - 40
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--format", default="PNG")
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime / OpenCV threads")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)

    t = time.perf_counter()
    recipients = make_recipients(passphrase="benchmark passphrase")
    kdf_s = time.perf_counter() - t
    images = {"1MP single face": single_face_1mp(), "multi-face 1600x900": multi_face()}
    rows = []
    for method in METHODS:
        anonymizer = Anonymizer(method=method, recipients=recipients)
        for label, rgb in images.items():
            img = LoadedImage(pixels=rgb, format="PNG", metadata=ImageMetadata(None, None, None), path=None)
            anonymizer.anonymize_image(img, args.format.upper())  # warm-up (model load, caches)
            samples = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                _, _, report = anonymizer.anonymize_image(img, args.format.upper())
                samples.append((time.perf_counter() - t, report))
            total = statistics.median(s for s, _ in samples)
            med = lambda k: statistics.median(r.timings.get(k, 0.0) for _, r in samples)  # noqa: E731
            rows.append((method, label, samples[0][1].face_count, med("detect"), med("align"), med("anonymize"),
                         med("encrypt_encode"), total))

    print(f"Argon2id key derivation (once per run): {kdf_s:.3f} s")
    print(f"output format {args.format.upper()}, median of {args.repeats} runs, seconds per image\n")
    head = ("method", "image", "faces", "detect", "align", "anonymize", "encrypt+encode", "total")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for m, label, n, d, al, an, enc, tot in rows:
        print(f"| {m} | {label} | {n} | {d:.3f} | {al:.3f} | {an:.3f} | {enc:.3f} | {tot:.3f} |")


if __name__ == "__main__":
    main()
