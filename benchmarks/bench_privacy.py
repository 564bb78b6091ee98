"""How much identity each method leaves, measured on what `faceveil anonymize` writes (issue 20), in one command.

Every method runs through `faceveil anonymize`'s own code with the CLI's defaults (Anonymizer: CenterFace,
its default threshold, ``--shape auto --mask-scale 1.3``, the method's default options unless given; the
same calls `faceveil eval --method` makes, tested equal to anonymize's output files). Per recognizer
(dlib, FaceRes, MobileFace; ArcFace with its user weights):

- same: fraction of faces the recognizer's own rule calls "same person" (anonymized vs original);
- floor: the same for a solid grey fill under the same mask (what hair, ears and background alone give);
- FMR: the recognizer's false-match rate between *different* people's original faces of the set (the
  "same person" rate a face that carries no identity should get);
- cos: mean cosine similarity to the original;
- rank-1 / rank-5: the anonymized face identified against a gallery of every original face of the set
  (other photos of the same person count as right answers), beside the solid fill's rank-1 and chance.

Face sets (docs/eval.md, "Which faces"): ``--set heldout`` (default; reporting only: never used to choose a
default or train a model) or ``--set selection`` (choosing defaults). Faces under 30 px wide are left out.

Usage: python benchmarks/bench_privacy.py [--set heldout|selection] [--methods mosaic,blur,...] [--seed 0]
       [--json out.json]; a method may carry options: "mosaic:cells=5,detail=0.3", "proface-s:obfuscation=median".
Needs the dev faces (bash ../shared/data/dev-faces.sh; FACEVEIL_DEV_FACES or ~/.cache/faceveil-dev-faces).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_METHODS = "mosaic,blur,pixelate,median,proface-s:obfuscation=blur,proface-s:obfuscation=pixelate,proface-s:obfuscation=median"
MIN_FACE = 30.0
# Reporting set: real photos no model was trained on and no default was chosen on.
HELD_OUT = ("group1.jpg", "group3.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg",
            "obama_partial_face2.jpg", "32bit.png", "biden.jpg", "lena.jpg", "messi5.jpg", "basketball1.png",
            "Template_Matching_Original_Image.jpg", "inpaint_basics.jpg", "BWPictureHuman.jpg")
# Selection set: where defaults (mosaic's cells / detail, PRO-Face S's edge) are chosen.
SELECTION = ("pkg:astronaut", "pkg:grace_hopper", "multi_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg",
             "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg", "Image_with_alpha.png")
SAME_PERSON = {"obama": ("obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png")}


def dev_faces_dir() -> Path:
    return Path(os.environ.get("FACEVEIL_DEV_FACES", Path.home() / ".cache" / "faceveil-dev-faces"))


def load_set(which: str) -> list[tuple[str, np.ndarray]]:
    from faceveil.eval.sources import load_rgb
    from faceveil.testing import load_sample

    names = HELD_OUT if which == "heldout" else SELECTION
    out = []
    for name in names:
        if name.startswith("pkg:"):
            out.append((name[4:], load_sample(name[4:])))
            continue
        path = dev_faces_dir() / name
        if not path.is_file():
            sys.exit(f"bench_privacy: {path} missing: run bash ../shared/data/dev-faces.sh (or set FACEVEIL_DEV_FACES)")
        out.append((name, load_rgb(path)))
    return out


def person_of(name: str, index: int, n_faces: int) -> str:
    if n_faces == 1:
        for person, files in SAME_PERSON.items():
            if name in files:
                return person
    return f"{name}#{index}"


def parse_method(spec: str) -> tuple[str, dict]:
    from faceveil.methods.base import parse_method_options

    name, _, opts = spec.partition(":")
    return name, parse_method_options([o for o in opts.split(",") if o]) if opts else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("heldout", "selection"), default="heldout")
    ap.add_argument("--methods", default=DEFAULT_METHODS, help="comma list; ';' separates methods that carry options")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from faceveil.analysis.recognizers import create_recognizer, recognizer_availability
    from faceveil.eval import metrics as M
    from faceveil.eval.sources import MethodSource, solid_floor

    started = time.perf_counter()
    specs = [s for s in (args.methods.split(";") if ";" in args.methods else _split_methods(args.methods)) if s]
    recognizers = {r.name: create_recognizer(r.name) for r in recognizer_availability() if r.available}
    images = load_set(args.set)
    base = MethodSource("solid", seed=args.seed)  # the default detector and threshold, as `anonymize`
    faces_of = {name: [f for f in base.anonymizer.find_faces(rgb)] for name, rgb in images}
    kept = {name: [f for f in faces if f.box[2] - f.box[0] >= MIN_FACE] for name, faces in faces_of.items()}
    people = [person_of(name, i, len(faces_of[name])) for name, _ in images for i, _ in enumerate(kept[name])]
    n_faces, n_small = len(people), sum(len(faces_of[n]) - len(kept[n]) for n in faces_of)
    print(f"{args.set}: {len(images)} photos, {n_faces} faces >= {MIN_FACE:g} px ({n_small} smaller left out), "
          f"{len(set(people))} people", file=sys.stderr)

    def embed_all(render) -> dict[str, np.ndarray]:
        """recognizer -> (n_faces, D) embeddings of the faces in the images ``render(name, rgb, faces)`` makes."""
        out = {r: [] for r in recognizers}
        for name, rgb in images:
            if not kept[name]:
                continue
            image = render(name, rgb, kept[name])
            for face in kept[name]:
                for rname, rec in recognizers.items():
                    out[rname].append(rec.embed(image, face))
        return {r: np.stack(v) for r, v in out.items()}

    originals = embed_all(lambda name, rgb, faces: rgb)
    fmr = {}
    for rname, rec in recognizers.items():
        e = originals[rname]
        pairs = [(i, j) for i in range(n_faces) for j in range(i + 1, n_faces) if people[i] != people[j]]
        fmr[rname] = float(np.mean([rec.same_person(e[i], e[j]) for i, j in pairs])) if pairs else float("nan")
    floors: dict[tuple, dict[str, np.ndarray]] = {}
    rows = []
    for spec in specs:
        name, options = parse_method(spec)
        t = time.perf_counter()
        source = MethodSource(name, options, seed=args.seed)
        mask_key = (repr(source.mask), source.method.region_multiple)
        if mask_key not in floors:
            floors[mask_key] = embed_all(lambda n, rgb, faces: solid_floor(rgb, faces, source.mask, source.method.region_multiple))

        def anonymized(n, rgb, faces, source=source):
            contexts = source.anonymizer.contexts_for(rgb, faces)
            return source.anonymizer.anonymize_faces(rgb, faces, contexts).rgb

        anon = embed_all(anonymized)
        for rname, rec in recognizers.items():
            o, a, f = originals[rname], anon[rname], floors[mask_key][rname]
            hits = M.rank_hits(a, o, people, people)
            floor_hits = M.rank_hits(f, o, people, people)
            rows.append({
                "method": spec, "recognizer": rname, "faces": n_faces,
                "same": float(np.mean([rec.same_person(x, y) for x, y in zip(o, a)])),
                "floor_same": float(np.mean([rec.same_person(x, y) for x, y in zip(o, f)])),
                "fmr": fmr[rname],
                "cos": float(np.mean([rec.similarity(x, y) for x, y in zip(o, a)])),
                "rank1": float(np.mean([h[1] for h in hits])), "rank5": float(np.mean([h[5] for h in hits])),
                "floor_rank1": float(np.mean([h[1] for h in floor_hits])),
                "chance_rank1": M.rank_chance(people, people)[1],
            })
        print(f"  {spec}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
        for r in rows[-len(recognizers):]:  # as it goes: a long run shows its rows early
            print(f"  {r['method']} {r['recognizer']}: same {r['same']:.1%} (solid {r['floor_same']:.1%}), rank-1 "
                  f"{r['rank1']:.1%} (solid {r['floor_rank1']:.1%}), cos {r['cos']:.3f}", file=sys.stderr, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"set": args.set, "seed": args.seed, "rows": rows}, indent=2) + "\n")

    print(f"\n{args.set} set: {n_faces} faces, {len(set(people))} people, seed {args.seed}; "
          f"{time.perf_counter() - started:.0f} s wall\n")
    print("| method | recognizer | same person | solid fill | FMR | mean cos | rank-1 | rank-5 | solid rank-1 | chance rank-1 | rank-1 <= 2x max(solid, chance) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "yes" if r["rank1"] <= 2 * max(r["floor_rank1"], r["chance_rank1"]) + 1e-9 else "no"
        print(f"| {r['method']} | {r['recognizer']} | {r['same']:.1%} | {r['floor_same']:.1%} | {r['fmr']:.1%} | "
              f"{r['cos']:.3f} | {r['rank1']:.1%} | {r['rank5']:.1%} | {r['floor_rank1']:.1%} | {r['chance_rank1']:.1%} | {ok} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"set": args.set, "seed": args.seed, "rows": rows}, indent=2) + "\n")


def _split_methods(text: str) -> list[str]:
    """'mosaic,proface-s:obfuscation=blur,blur' -> specs; a part with '=' but no ':' continues the last spec."""
    specs: list[str] = []
    for part in text.split(","):
        if "=" in part and ":" not in part and specs:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs


if __name__ == "__main__":
    main()
