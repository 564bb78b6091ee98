"""Crash-safe output: a file is either absent or complete, never half-written, never an input.

Data goes to a temporary file in the destination directory (same filesystem, so the final rename is
atomic), is fsynced, then moved into place. Without ``overwrite`` the move is a hard link, which
fails if the name appeared meanwhile instead of silently replacing it.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import socket
import re
import time
import tempfile
from collections.abc import Iterable
from pathlib import Path

from faceveil.errors import InputError, OutputExistsError, OutputWriteError


# Recovered originals are the sensitive files (the faces the anonymization hid): owner-only by default.
PRIVATE_MODE = 0o600


def atomic_write_bytes(
    path: str | Path,
    data: bytes,
    *,
    overwrite: bool = False,
    protect: Iterable[str | Path] = (),
    mode: int | None = None,
) -> None:
    """Write ``data`` to ``path`` atomically.

    ``mode``: permission bits of the written file, minus the process umask (so a stricter umask still
    wins), also when replacing an existing file; e.g. :data:`PRIVATE_MODE` for recovered originals.
    None keeps an overwritten file's permissions and gives new files 0o666 minus the umask.
    Raises OutputExistsError if ``path`` exists and ``overwrite`` is False, or if ``path`` is (after
    resolving symlinks, or as a hard link) one of the ``protect`` paths, typically the inputs, even
    with ``overwrite``. InputError if the destination directory is missing; OutputWriteError (exit 15)
    if the OS refuses the write (permissions, disk full). On any failure no file is created or changed.
    """
    target = Path(path)
    _refuse_protected(target, protect)
    if not overwrite and (target.exists() or target.is_symlink()):
        raise OutputExistsError(f"{target} already exists; refusing to overwrite it (use --overwrite)")
    directory = target.parent
    if not directory.is_dir():
        raise InputError(f"cannot write {target}: directory {directory} does not exist")

    try:
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    temp_path = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_path, _mode_for(target) if mode is None else mode & ~_umask() & 0o7777)
        _move_into_place(temp_path, target, overwrite)
        _fsync_directory(directory)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            temp_path.unlink()
        if isinstance(exc, OSError):
            raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
        raise


def atomic_write_files(
    files: list[tuple[str | Path, bytes]],
    *,
    overwrite: bool = False,
    protect: Iterable[str | Path] = (),
    replaceable: Iterable[str | Path] = (),
) -> None:
    """Write several files as one unit, e.g. an image and its sidecar: every file goes to a temporary
    name first, then they are moved into place in the given order, so the *last* one (the image)
    appears only once the others are complete. An interruption leaves either nothing or, at worst,
    the earlier files without the last: ``replaceable`` names such leftovers (a sidecar whose image is
    missing), which may be replaced without ``overwrite``. On an error the files this call already
    moved into place are removed again."""
    targets = [Path(p) for p, _ in files]
    replaceable = {Path(p) for p in replaceable}
    for target in targets:
        _refuse_protected(target, protect)
        if not overwrite and target not in replaceable and (target.exists() or target.is_symlink()):
            raise OutputExistsError(f"{target} already exists; refusing to overwrite it (use --overwrite)")
        if not target.parent.is_dir():
            raise InputError(f"cannot write {target}: directory {target.parent} does not exist")
        if target.is_dir():
            raise OutputExistsError(f"cannot write {target}: it is a directory")
    temps: list[Path] = []
    placed: list[Path] = []
    try:
        for target, (_, data) in zip(targets, files):
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(name, _mode_for(target))
        with pair_lock(targets[-1].parent):  # two writers of one pair: each pair lands whole (issue 22)
            for target, temp in zip(targets, temps):
                _move_into_place(temp, target, overwrite or target in replaceable)
                placed.append(target)
        _fsync_directory(targets[-1].parent)
    except BaseException as exc:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        if len(placed) < len(targets) and not overwrite:  # an incomplete set is worse than none
            for target in placed:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        if isinstance(exc, OSError):
            raise OutputWriteError(f"cannot write {targets[len(placed)] if len(placed) < len(targets) else targets[-1]}: "
                                f"{exc.strerror or exc}") from None
        raise


# errnos that mean "the output cannot be written" (exit 15), not "the input is bad"; DISK_ERRNOS can
# only come from writing, so a whole pipeline may map them (EACCES could be a model file being read)
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
@contextlib.contextmanager
def pair_lock(directory: str | Path):
    """Serialise the final moves of files that belong together (an image and its sidecar, a video and its
    sidecar) among writers of one folder: without it, two ``--overwrite`` runs to the same output could
    interleave their moves and leave image A beside sidecar B. An advisory lock on the folder itself,
    so nothing is left behind; held for the renames only. A no-op where flock is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system without flock (some network mounts): unlocked, as before
        yield
    finally:
        os.close(fd)  # releases the lock


def restrict_permissions(path: str | Path, mode: int = PRIVATE_MODE) -> None:
    """chmod ``path`` to ``mode`` minus the umask: for outputs written by other means than
    :func:`atomic_write_bytes` (e.g. a video muxed into a temporary file), before they are renamed."""
    os.chmod(path, mode & ~_umask() & 0o7777)


def _refuse_protected(target: Path, protect: Iterable[str | Path]) -> None:
    resolved = target.resolve()
    for protected in protect:
        protected = Path(protected)
        same = protected.resolve() == resolved
        # Hard links to an input resolve to different names but are the same file.
        if not same and target.exists() and protected.exists():
            same = os.path.samefile(target, protected)
        if same:
            raise OutputExistsError(f"refusing to write {target}: it is the input file {protected}")


def _move_into_place(temp_path: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(temp_path, target)
        return
    try:
        # link() fails with FileExistsError if another writer created the name since our check.
        os.link(temp_path, target)
    except FileExistsError:
        raise OutputExistsError(f"{target} already exists; refusing to overwrite it (use --overwrite)") from None
    except OSError:
        # Filesystems without hard links (some network/FAT mounts): best effort, checked just above.
        if target.exists():
            raise OutputExistsError(f"{target} already exists; refusing to overwrite it (use --overwrite)") from None
        os.replace(temp_path, target)
        return
    temp_path.unlink()


def _mode_for(target: Path) -> int:
    """Keep an overwritten file's permissions; new files get the usual 0o666 minus the umask
    (mkstemp would otherwise leave them 0o600)."""
    with contextlib.suppress(OSError):
        return target.stat().st_mode & 0o7777
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask (reading it means setting it; set it straight back)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself; not possible on every platform, hence best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_move(temp_path: str | Path, path: str | Path, *, overwrite: bool = False, protect: Iterable[str | Path] = ()) -> None:
    """Move a finished temporary file (written next to ``path``, e.g. in a :class:`ScratchDir`) into
    place, with the same guarantees as :func:`atomic_write_bytes`: never onto an input, never over an
    existing file unless ``overwrite`` (checked at the move itself, not only up front)."""
    target = Path(path)
    _refuse_protected(target, protect)
    try:
        _move_into_place(Path(temp_path), target, overwrite)
        _fsync_directory(target.parent)
    except OSError as exc:
        raise OutputWriteError(f"cannot write {target}: {exc.strerror or exc}") from None


class ScratchDir:
    """A private temporary folder next to an output (same filesystem, so :func:`atomic_move` is a
    rename), for writers that produce several files (video: stream, payload, remuxed file).

    It holds an owner file (host, PID, start time). A run killed with SIGKILL cannot clean up, so each
    new ScratchDir for an output first removes that output's stale folders: those whose owner process
    is gone (same host) or older than :data:`STALE_SECONDS` (any host)."""

    OWNER = ".faceveil-scratch"
    STALE_SECONDS = 24 * 3600

    def __init__(self, dst: str | Path) -> None:
        dst = Path(dst)
        remove_stale_scratch(dst)
        try:
            self.dir = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
            owner = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
            (self.dir / self.OWNER).write_text(json.dumps(owner))
        except OSError as exc:
            if getattr(self, "dir", None) is not None:
                self.cleanup()
            raise OutputWriteError(f"cannot write {dst}: {exc.strerror or exc}") from None

    def path(self, name: str) -> Path:
        return self.dir / name

    def cleanup(self) -> None:
        for p in self.dir.iterdir():
            p.unlink(missing_ok=True)
        self.dir.rmdir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists (another user's) or not a PID we can judge: leave it
    return True


def remove_stale_scratch(dst: str | Path) -> list[Path]:
    """Remove scratch folders of ``dst`` (``.NAME.XXXX/`` holding a :attr:`ScratchDir.OWNER` file) left by a
    killed run: owner process gone on this host, or older than :attr:`ScratchDir.STALE_SECONDS`.
    Folders without an owner file, or of a live run, are left alone. Returns what was removed."""
    dst = Path(dst)
    removed = []
    host = socket.gethostname()
    try:
        candidates = list(dst.parent.glob(f".{glob.escape(dst.name)}.*"))
    except OSError:
        return removed
    for folder in candidates:
        owner_file = folder / ScratchDir.OWNER
        try:
            if not folder.is_dir() or folder.is_symlink() or not owner_file.is_file():
                continue
            owner = json.loads(owner_file.read_text())
            age = time.time() - float(owner.get("started", 0))
            dead = owner.get("host") == host and not _pid_alive(int(owner.get("pid", 0)))
            if not (dead or age > ScratchDir.STALE_SECONDS):
                continue
            for p in folder.iterdir():
                if p.is_file() or p.is_symlink():
                    p.unlink(missing_ok=True)
            folder.rmdir()
            removed.append(folder)
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # not ours, or in use: leave it
    return removed


_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # what atomic_write_* name their temp files


def remove_temp_leftovers(root: str | Path) -> list[Path]:
    """Remove the hidden ``.NAME.XXXXXXXX.tmp`` files that a killed writer (SIGKILL: no ``finally``)
    left anywhere under ``root``. Only for a tree no writer is using any more (the scale engine calls it
    when a run over its DST has finished). Returns what was removed."""
    removed = []
    for path in Path(root).rglob(".*.tmp"):
        try:
            if _TEMP_NAME.match(path.name) and path.is_file() and not path.is_symlink():
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
