"""Which files a command works on and where each output goes: folders are searched recursively,
batches mirror the input tree into the output folder, single files get ``<stem><suffix><ext>``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceveil.errors import InputError, UsageError
from faceveil.io.suffixes import IMAGE_SUFFIXES, VIDEO_SUFFIXES

IMAGE_EXTENSIONS = frozenset(IMAGE_SUFFIXES)
VIDEO_EXTENSIONS = frozenset(VIDEO_SUFFIXES)


def expand_inputs(inputs: Sequence[str | os.PathLike], extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS) -> list[tuple[Path, Path]]:
    """Files to process as (file, root) pairs; folders are searched recursively for known extensions.
    ``root`` is the folder the file was found under (to mirror the tree in an output folder)."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in extensions:
                    found.append((f, p))
        elif p.exists():
            found.append((p, p.parent))
        else:
            found.append((p, p.parent))  # reported as a per-file error, not a batch abort
    return found


def is_batch(items: list, inputs: list) -> bool:
    """Several files, or any folder: then ``-o`` names a folder, not a file."""
    return len(items) > 1 or any(Path(i).is_dir() for i in inputs)


@dataclass(frozen=True)
class InputSet:
    """The files a command works on, searched for once: (file, root) pairs (:func:`expand_inputs`) and
    whether ``-o`` names a folder (:func:`is_batch`). The CLI counts them for its progress bar and hands
    the same set to ``faceveil.api``, so folders are not walked twice (and cannot change in between)."""

    items: list[tuple[Path, Path]]
    batch: bool

    @classmethod
    def collect(cls, inputs: str | os.PathLike | Sequence[str | os.PathLike] | InputSet) -> InputSet:
        """``inputs``: one path, several, or an InputSet (returned as it is)."""
        if isinstance(inputs, InputSet):
            return inputs
        paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
        items = expand_inputs(paths)
        return cls(items, is_batch(items, paths))


def check_batch_output(output: Path | None, items: list, batch: bool) -> None:
    """With several inputs (or a folder) ``-o`` must name a folder: refuse a name that is an existing
    file or looks like one (an image/video suffix) instead of creating a folder called ``x.png``."""
    if output is None or not batch or output.is_dir():
        return
    if output.exists() or output.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS:
        raise UsageError(f"-o {output} names a file, but there are {len(items)} inputs (or a folder): "
                         "give a folder for the outputs")


def plan_output(src: Path, root: Path, output: Path | None, *, batch: bool, suffix: str, fmt_ext: str | None) -> Path:
    """Where one input's output goes: the given file, a mirrored path in an output folder, or
    ``<stem><suffix><ext>`` beside the input."""
    ext = fmt_ext or (".mkv" if src.suffix.lower() == ".avi" else src.suffix)  # AVI cannot keep timestamps
    if output is None:
        return src.with_name(f"{src.stem}{suffix}{ext}")
    if batch or output.is_dir() or str(output).endswith(os.sep):
        rel = src.relative_to(root) if src.is_relative_to(root) else Path(src.name)
        return (output / rel).with_suffix(ext)
    return output if fmt_ext is None else output.with_suffix(ext)


def make_output_dir(dst: Path) -> None:
    """Batches mirror the input tree into the output folder, creating it as needed."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {dst.parent}: {exc.strerror}") from None
