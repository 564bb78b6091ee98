"""False-match and true-match rates of ``--keep`` / ``--only`` matching (faceveil.analysis.identity)
on real faces, and the threshold that keeps the false-match rate <= 1 %.

    .venv/bin/python benchmarks/bench_keep.py [--faces ~/.cache/faceveil-dev-faces]

Faces: every CenterFace detection (score >= 0.5, side >= MIN_FACE_SIDE) in the dev-face photos
(``bash ../shared/data/dev-faces.sh``). Identities: obama*.jpg and 32bit.png are one person (six photos);
every other face is taken as a different person, except files that repeat people (basketball2.png is
the next frame of basketball1.png, inpaint_basics.jpg shows one couple twice), which are left out.
Genuine pairs: the one person's photos pairwise; impostor pairs: every pair of faces of different people.
Prints the score distribution, the FMR/TMR at candidate thresholds and the chosen threshold.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

from faceveil.analysis.identity import MATCH_THRESHOLD, MIN_FACE_SIDE, FusedRecognizer
from faceveil.faces.detect import create_detector
from faceveil.io.images import load_image

PERSON = {"obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png"}
REPEATS = {"basketball2.png", "inpaint_basics.jpg"}
SUFFIXES = {".jpg", ".jpeg", ".png"}


def collect(folder: Path, recognizer: FusedRecognizer):
    detector = create_detector("centerface")
    faces = []  # (label, file, identity)
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUFFIXES or path.name in REPEATS:
            continue
        rgb = load_image(path).rgb()
        found = [f for f in detector.detect(rgb) if f.score >= 0.5 and min(f.width, f.height) >= MIN_FACE_SIDE]
        if path.name in PERSON:
            found = found[:1]  # the person's photo: the best detection is the person
        for i, face in enumerate(found):
            identity = recognizer.embed(rgb, face)
            if identity is not None:
                faces.append(("person" if path.name in PERSON else f"{path.name}#{i}", path.name, identity))
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=Path.home() / ".cache" / "faceveil-dev-faces")
    args = parser.parse_args()
    t = time.perf_counter()
    recognizer = FusedRecognizer()
    faces = collect(args.faces, recognizer)
    genuine, impostor = [], []
    for (la, _, a), (lb, _, b) in itertools.combinations(faces, 2):
        (genuine if la == lb else impostor).append(recognizer.score(a, b))
    genuine, impostor = np.array(genuine), np.array(impostor)
    files = len({f for _, f, _ in faces})
    print(f"faces: {len(faces)} from {files} photos ({sum(l == 'person' for l, _, _ in faces)} of the one person); "
          f"genuine pairs {len(genuine)}, impostor pairs {len(impostor)}; {time.perf_counter() - t:.1f} s")
    print(f"genuine fused scores: min {genuine.min():+.3f} median {np.median(genuine):+.3f}")
    print(f"impostor fused scores: max {impostor.max():+.3f} 99th pct {np.percentile(impostor, 99):+.3f} "
          f"median {np.median(impostor):+.3f}")
    print("| threshold | false-match rate | true-match rate |")
    print("|---|---|---|")
    candidates = sorted({round(v, 2) for v in np.arange(-1.5, 0.51, 0.25)} | {MATCH_THRESHOLD})
    for th in candidates:
        mark = " (shipped)" if th == MATCH_THRESHOLD else ""
        print(f"| {th:+.2f}{mark} | {np.mean(impostor >= th):.2%} ({int(np.sum(impostor >= th))}/{len(impostor)}) "
              f"| {np.mean(genuine >= th):.1%} ({int(np.sum(genuine >= th))}/{len(genuine)}) |")
    lowest = np.sort(impostor)[::-1]
    allowed = int(np.floor(0.01 * len(impostor)))  # impostor pairs allowed at or above the threshold
    chosen = float(np.ceil((lowest[allowed] + 1e-9) * 100) / 100)  # just above the (allowed+1)-th highest
    print(f"lowest threshold (0.01 steps) with false-match rate <= 1 %: {chosen:+.2f} "
          f"(FMR {np.mean(impostor >= chosen):.2%}, TMR {np.mean(genuine >= chosen):.1%}); shipped: {MATCH_THRESHOLD:+.2f}")


if __name__ == "__main__":
    main()
