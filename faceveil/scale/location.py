"""Where a run reads and writes: a local folder or an fsspec URL (``s3://``, ``gs://``, ``file://``...).

Local paths and ``file://`` URLs stay plain paths so that every write goes through
``faceveil.io.atomic`` (temp file + rename). Object stores write whole objects in one PUT, which is
atomic by nature: a reader sees the old object, the new one, or none, never half of one.

Listing is lazy: ``iter_files`` walks one directory at a time and yields relative paths in a stable
order (sorted within each directory), so a run over 10^8 files never holds the whole listing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faceveil.errors import InputError

LOCAL_PROTOCOLS = ("file", "local")


@dataclass(frozen=True)
class Location:
    """A root folder: ``url`` as the user gave it, ``root`` as the filesystem sees it."""

    url: str
    protocol: str
    root: str

    @classmethod
    def parse(cls, url: str | os.PathLike) -> Location:
        text = os.fspath(url)
        if "://" not in text:
            return cls(text, "file", str(Path(text).absolute()))
        from fsspec.core import url_to_fs

        try:
            fs, root = url_to_fs(text)
        except (ImportError, ValueError) as exc:  # unknown protocol, or its package (s3fs, gcsfs) missing
            raise InputError(f"cannot open {text}: {exc}") from None
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if protocol in LOCAL_PROTOCOLS:
            return cls(text, "file", str(Path(root).absolute()))
        return cls(text, protocol, root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def fs(self):
        from fsspec import filesystem

        return filesystem(self.protocol)

    def path(self, rel: str) -> str:
        """The full path (local) or fs path (remote) of a relative name."""
        return str(Path(self.root, rel)) if self.is_local else f"{self.root}/{rel}"

    def exists(self, rel: str) -> bool:
        return Path(self.path(rel)).exists() if self.is_local else self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            return Path(self.path(rel)).read_bytes()
        return self.fs.cat_file(self.path(rel))

    def is_dir(self) -> bool:
        return Path(self.root).is_dir() if self.is_local else self.fs.isdir(self.root)

    def has_entries(self) -> bool:
        """Whether the folder holds anything (one directory read, not a listing)."""
        if self.is_local:
            with os.scandir(self.root) as entries:
                return any(True for _ in entries)
        return bool(self.fs.ls(self.root, detail=False)) if self.fs.exists(self.root) else False

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this folder or inside it (an output inside its input is refused)."""
        if self.protocol != other.protocol:
            return False
        mine, theirs = self.root.rstrip("/") + "/", other.root.rstrip("/") + "/"
        return theirs.startswith(mine)


def iter_files(location: Location, extensions: frozenset[str], skip_dirs: frozenset[str] = frozenset()) -> Iterator[str]:
    """Relative POSIX paths of files with one of ``extensions`` (lower-case, with dot), depth first,
    sorted within each directory; holds one directory's entries at a time."""
    if location.is_local:
        root = Path(location.root)
        if not root.is_dir():
            raise InputError(f"{location.url}: {'a file, not a folder' if root.exists() else 'no such folder'} "
                             "(--engine ray takes one input folder or URL prefix)")
        yield from _walk_local(root, "", extensions, skip_dirs)
        return
    fs = location.fs
    if not fs.isdir(location.root):
        raise InputError(f"{location.url}: not a folder (--engine ray takes one input folder or URL prefix)")
    prefix = location.root.rstrip("/") + "/"
    for directory, dirs, files in fs.walk(location.root):  # fsspec walks top-down, one level at a time
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        rel_dir = directory[len(prefix):] if directory.startswith(prefix) else ""
        for name in sorted(files):
            if Path(name).suffix.lower() in extensions:
                yield f"{rel_dir}/{name}" if rel_dir else name


def _walk_local(directory: Path, rel: str, extensions: frozenset[str], skip_dirs: frozenset[str]) -> Iterator[str]:
    """Files of a directory first, then its subdirectories, each sorted: fsspec's ``walk`` order, so a
    local folder and the same tree behind a URL list identically."""
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    subdirs = []
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in skip_dirs:
                subdirs.append((entry.path, name))
        elif entry.is_file() and Path(entry.name).suffix.lower() in extensions:
            yield name
    del entries
    for path, name in subdirs:
        yield from _walk_local(Path(path), name, extensions, skip_dirs)
