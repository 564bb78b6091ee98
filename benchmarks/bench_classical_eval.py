"""Baseline table: every classical method measured by `faceveil eval`'s metrics on the package-shipped
faces (astronaut, Grace Hopper, cameraman). The rows every learned method must beat.

    .venv/bin/python benchmarks/bench_classical_eval.py [--out docs/eval_classical_benchmark.md]

Writes a Markdown table (mean over the faces; ± std in the full JSON next to it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

METHODS = ("blur", "pixelate", "median", "mosaic", "solid")
COMMAND = "benchmarks/bench_classical_eval.py"
SEED = 0  # content keys (and so the methods' per-face randomness) derive from it


def run(methods: tuple[str, ...]) -> dict[str, dict]:
    import torch

    from faceveil.eval.runner import AnalysisModels, EvalConfig, evaluate
    from faceveil.eval.sources import MethodSource

    torch.set_num_threads(1)
    results = {}
    models = None
    for method in methods:
        t = time.perf_counter()
        config = EvalConfig(method=method)
        models = models or AnalysisModels(config)  # classical methods train against nothing: same models
        source = MethodSource(method, {}, "centerface", diversity=0, seed=SEED)  # fixed keys: same numbers every run
        result = evaluate(source.items(None), config, models)
        results[method] = result.to_dict() | {"seconds": round(time.perf_counter() - t, 1)}
        print(f"{method}: {results[method]['seconds']} s", file=sys.stderr)
    return results


def _cell(metrics: dict, key: str, digits: int = 2) -> str:
    s = metrics.get(key)
    if not s or s["mean"] is None:
        return "–"
    return f"{s['mean']:.{digits}f}"


def markdown(results: dict[str, dict]) -> str:
    first = next(iter(results.values()))
    recognizers = first["models"]["identity, same_person, diversity, fed"]
    detectors = first["models"]["detected, box_distance"]
    head = (
        ["method"]
        + [f"id {r} ↓" for r in recognizers]
        + [f"same {r} ↓" for r in recognizers]
        + [f"det {d} ↑" for d in detectors]
        + ["box rel ↓", "lm68 NME ↓", "mesh NME ↓", "pose ° ↓", "shape ↓", "expr ↓"]
        + [f"FED {r}" for r in recognizers]
        + ["rec. PSNR ↑"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method, res in results.items():
        m, d = res["metrics"], res["dataset"]
        row = (
            [method]
            + [_cell(m, f"identity.anonymized.{r}") for r in recognizers]
            + [_cell(m, f"same_person.anonymized.{r}") for r in recognizers]
            + [_cell(m, f"detected.{det}") for det in detectors]
            + [_cell(m, "box_distance_rel.centerface", 3), _cell(m, "landmarks68_nme", 3), _cell(m, "facemesh_nme", 3),
               _cell(m, "pose_distance", 1), _cell(m, "shape_distance", 3), _cell(m, "expression_distance", 3)]
            + [f"{d[f'fed.{r}']:.3g}" if d.get(f"fed.{r}") is not None else "–" for r in recognizers]
            + ["exact" if m.get("recovery.mae", {}).get("mean") == 0.0 else _cell(m, "recovery.psnr", 1)]
        )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/eval_classical_benchmark.md"))
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    args = parser.parse_args()
    started = time.perf_counter()
    results = run(tuple(args.methods))
    json_path = args.out.with_suffix(".json")
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    first = next(iter(results.values()))
    text = f"""# Classical methods under `faceveil eval` (baseline rows)

Produced by `.venv/bin/python {COMMAND}` ({time.perf_counter() - started:.0f} s, 1 torch thread,
{platform.machine()} CPU). Faces: the package-shipped astronaut, Grace Hopper and cameraman photos,
found by CenterFace and anonymized with each method's defaults, content keys derived from seed {SEED}
(methods draw their per-face randomness from them; other seeds move some numbers a little). Values are means over the 3 faces;
mean ± std, per-face values and every other metric are in [`{json_path.name}`]({json_path.name}).

{markdown(results)}

Columns (see docs/eval.md for definitions): **id** cosine similarity of the anonymized face to the
original per recognizer; **same** fraction still judged the same person at the recognizer's
threshold; **det** fraction of faces each detector still finds (among those it finds on the original);
**box rel** CenterFace box shift / box diagonal; **lm68 / mesh NME** dlib-68 and FaceMesh-468 landmark
shift / inter-ocular distance; **pose** yaw/pitch/roll distance in degrees; **shape / expr**
pose-normalised FaceMesh distances; **FED** Fréchet distance between original and anonymized
embeddings of a recognizer (3 faces only: indicative, not a FID); **rec. PSNR** recovery by a key
holder (payload: exact pixels).

Notes: {"; ".join(first["notes"]) or "none"}.
"""
    args.out.write_text(text)
    print(f"wrote {args.out} and {json_path}")


if __name__ == "__main__":
    main()
