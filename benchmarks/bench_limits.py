"""What the safety limits cost on the user's path (issue 22): whole `faceveil` processes, cold start,
wall time and peak memory (``/usr/bin/time``'s maximum resident set size). Markdown on stdout.

    .venv/bin/python benchmarks/bench_limits.py kdf      # `recover` of a photo whose passphrase stanza sits at the
                                                         # Argon2id ceiling (docs/format.md §11)
    .venv/bin/python benchmarks/bench_limits.py pixels   # peak memory per megapixel when anonymizing large PNGs,
                                                         # grey and RGB, and the 119 Mpx grey PNG of issue 22

The files are made in-process (setup, not timed); each measured figure is one CLI process.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PASSPHRASE = "bench limits passphrase"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"


def timed_cli(args: list[str]) -> tuple[int, float, float, str]:
    """(exit code, wall seconds, peak RSS MB, last stderr line) of one `faceveil` process."""
    env = {**os.environ, "FACEVEIL_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(REPO)}
    cmd = ["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-m", "faceveil", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    stat = next(line for line in reversed(lines) if line.startswith("TIME "))
    _, wall, rss_kb = stat.split()
    other = [line for line in lines if not line.startswith(("TIME ", "Command exited"))]
    return done.returncode, float(wall), int(rss_kb) / 1024, other[-1] if other else ""


def kdf(args) -> None:
    from PIL import Image

    from faceveil import api
    from faceveil.crypto.keys import Argon2Limits, Argon2Params
    from faceveil.testing import load_sample

    ceiling = Argon2Limits()
    cases = [
        ("faceveil's default (written)", Argon2Params()),
        ("ceiling: 1 GiB, t=2, p=1", Argon2Params(time_cost=2, memory_kib=ceiling.memory_kib, parallelism=1)),
        ("ceiling: 1 GiB, t=2, p=4", Argon2Params(time_cost=2, memory_kib=ceiling.memory_kib, parallelism=4)),
        ("ceiling: 64 MiB, t=32, p=1", Argon2Params(time_cost=32, memory_kib=64 * 1024, parallelism=1)),
    ]
    print(f"machine: {machine()}; command per row: `faceveil recover x.png -o back.png --overwrite -q` "
          "(passphrase from $FACEVEIL_PASSPHRASE)\n")
    print("| stanza | exit | wall s | peak RSS MB |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "face.png")
        Image.fromarray(load_sample("astronaut")).save(src)
        for label, params in cases:
            out = Path(tmp, "x.png")
            out.unlink(missing_ok=True)
            api.anonymize([src], output=out, keys=api.KeyOptions(passphrase=PASSPHRASE, argon2_params=params), method="mosaic")
            runs = [timed_cli(["recover", str(out), "-o", str(Path(tmp, "back.png")), "--overwrite", "-q"])
                    for _ in range(args.repeat)]
            code = runs[0][0]
            wall = sorted(r[1] for r in runs)[len(runs) // 2]
            rss = max(r[2] for r in runs)
            print(f"| {label} | {code} | {wall:.1f} | {rss:.0f} |")


def pixels(args) -> None:
    from PIL import Image

    print(f"machine: {machine()}; command per row: `faceveil anonymize big.png -o out.png -q` "
          "(payload embedded, default limits)\n")
    print("| image | exit | wall s | peak RSS MB | MB per Mpx | message |")
    print("|---|---:|---:|---:|---:|---|")
    sizes = [(mode, side) for side in args.sides for mode in ("L", "RGB")]
    with tempfile.TemporaryDirectory() as tmp:
        for mode, side in sizes:
            path = Path(tmp, f"big_{mode}_{side}.png")
            rng = np.random.default_rng(0)
            tile = rng.integers(0, 255, size=(64, 64) if mode == "L" else (64, 64, 3), dtype=np.uint8)
            reps = (side // 64 + 1, side // 64 + 1) + ((1,) if mode == "RGB" else ())
            Image.fromarray(np.tile(tile, reps)[:side, :side]).save(path, compress_level=1)
            code, wall, rss, line = timed_cli(["anonymize", str(path), "-o", str(Path(tmp, "out.png")), "--overwrite", "-q"])
            mpx = side * side / 1e6
            print(f"| {side}x{side} {mode} ({mpx:.0f} Mpx) | {code} | {wall:.1f} | {rss:.0f} | {rss / mpx:.1f} | "
                  f"{line[:90]} |")
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    k = sub.add_parser("kdf")
    k.add_argument("--repeat", type=int, default=1)
    p = sub.add_parser("pixels")
    p.add_argument("--sides", type=int, nargs="+", default=[2000, 4000, 10900])
    args = parser.parse_args()
    {"kdf": kdf, "pixels": pixels}[args.what](args)


if __name__ == "__main__":
    main()
