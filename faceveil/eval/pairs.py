"""LFW-style verification pairs (``pairs.txt``) for TAR@FAR with the second image anonymized.

Format (LFW, Huang et al. 2007): an optional header line ``<folds> <pairs per fold>`` (or just one
number), then one pair per line, tab- or space-separated:

    name  n1  n2            same person: <data>/name/name_000n1.jpg vs .../name_000n2.jpg
    name1 n1  name2  n2     different people
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceveil.errors import InputError


@dataclass(frozen=True)
class VerificationPair:
    first: Path
    second: Path
    same: bool


def lfw_image_path(data_dir: Path, name: str, number: int) -> Path:
    return Path(data_dir) / name / f"{name}_{number:04d}.jpg"


def parse_pairs(pairs_file: Path, data_dir: Path) -> list[VerificationPair]:
    """Read an LFW pairs file; raises InputError naming the first malformed line."""
    try:
        lines = Path(pairs_file).read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read pairs file {pairs_file}: {exc.strerror or exc}") from None
    pairs: list[VerificationPair] = []
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) == 3:
                name, a, b = fields
                pairs.append(VerificationPair(lfw_image_path(data_dir, name, int(a)), lfw_image_path(data_dir, name, int(b)), True))
            elif len(fields) == 4:
                name_a, a, name_b, b = fields
                pairs.append(VerificationPair(lfw_image_path(data_dir, name_a, int(a)), lfw_image_path(data_dir, name_b, int(b)), False))
            elif lineno == 1 and len(fields) <= 2 and all(f.isdigit() for f in fields):
                continue  # header: folds / pairs per fold
            else:
                raise ValueError("expected 3 or 4 fields")
        except ValueError as exc:
            raise InputError(f"{pairs_file}:{lineno}: not an LFW pair line ({exc}): {line.strip()!r}") from None
    if not pairs:
        raise InputError(f"{pairs_file}: no pairs found")
    return pairs
