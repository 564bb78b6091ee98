"""Typed errors. Each maps to a distinct, documented process exit code (docs/cli.md "Errors and exit codes").

The CLI turns any :class:`FaceveilError` into a one-line message on stderr and its ``exit_code``;
anything else is a bug and is reported as such (exit 1) without a traceback unless ``FACEVEIL_DEBUG=1``.
"""

from __future__ import annotations


class FaceveilError(Exception):
    """Base class of every error faceveil reports to users."""

    exit_code = 1


class InputError(FaceveilError):
    """An input file is missing, unreadable, corrupt, not an image, or unsupported (e.g. 16-bit)."""

    exit_code = 3


class PayloadMissingError(FaceveilError):
    """No recovery payload was found (not embedded, sidecar missing)."""

    exit_code = 4


class PayloadCorruptError(FaceveilError):
    """The recovery payload is truncated, malformed or fails its checksum."""

    exit_code = 5


class WrongKeyError(FaceveilError):
    """The passphrase or private key does not open the payload."""

    exit_code = 6


class TamperedPayloadError(FaceveilError):
    """The payload's authenticated encryption failed although the key was right."""

    exit_code = 7


class TamperedPixelsError(FaceveilError):
    """The anonymized pixels no longer match the hash bound into the payload."""

    exit_code = 8


class UsageError(InputError):
    """Bad command-line usage the parser cannot see: an unknown method / detector / payload mode,
    a malformed or unknown ``-O`` option, a value of the wrong type, contradictory flags, a malformed
    ``--boxes`` file. A subclass of
    InputError so API callers that catch InputError keep working; the CLI exits 2, like click's own
    usage errors."""

    exit_code = 2


class LimitExceededError(InputError):
    """An input demands more work than a safety limit allows: an image with more pixels than
    ``max_pixels``, or a passphrase stanza / key file whose Argon2id cost is above the configured
    ceiling. The message names the limit and how to raise it for a file you trust."""

    exit_code = 13


class SourceMismatchError(FaceveilError):
    """A video payload in source coding (the input's compressed packets, docs/format.md) decodes, on this
    machine, to original pixels that differ from the digests taken at anonymization: this FFmpeg build
    converts YUV to RGB differently (another version, swscale path or CPU). Nothing is written; recover
    where the video was anonymized (same faceveil/PyAV build), or anonymize with
    ``--payload-coding regions``, which stores the pixels themselves."""

    exit_code = 14


class OutputWriteError(FaceveilError):
    """An output could not be written: its folder is not writable, the disk is full, the file system is
    read-only. Nothing is left behind (no partial file, no scratch folder)."""

    exit_code = 15


class UnrecoverableOutputError(FaceveilError):
    """An anonymized video failed the writer's own recovery check (pipeline.video_check.recovery_problem:
    its payload read back as ``recover`` reads it), with every payload coding tried. Nothing is written:
    exit 0 always means the output can be recovered."""

    exit_code = 16


class OutputExistsError(FaceveilError):
    """Refusing to overwrite an existing file or an input (use --overwrite)."""

    exit_code = 9


class ModelUnavailableError(FaceveilError):
    """A model's weight file is missing; the message lists what and where."""

    exit_code = 10


class OptionalDependencyError(ModelUnavailableError):
    """A method, detector or command needs a package from an optional extra that is not installed
    (PyTorch: the ``learned`` extra). Exit 10 like a missing model: it cannot run as asked."""


# top-level package -> the pyproject extra that installs it (the classical path runs without them)
OPTIONAL_PACKAGES = {"torch": "learned", "torchvision": "learned"}


def optional_dependency_error(exc: ModuleNotFoundError, what: str) -> OptionalDependencyError | None:
    """The one-line error for ``exc`` when it is a missing optional package, else None (a real bug)."""
    package = (exc.name or "").split(".")[0]
    extra = OPTIONAL_PACKAGES.get(package)
    if extra is None:
        return None
    return OptionalDependencyError(f"{what} needs {package} (PyTorch), which is not installed: it comes with the "
                                   f"'{extra}' extra: pip install 'faceveil[{extra}]' (scripts/install.sh installs it)")


class DeviceUnavailableError(ModelUnavailableError):
    """The requested execution device (``--device cuda``) is absent: no GPU, or no CUDA build of
    onnxruntime / torch. Same exit code as a missing model: the model cannot run as asked."""


class KeyMaterialError(FaceveilError):
    """No passphrase/key given, or a key file is unreadable or of the wrong kind."""

    exit_code = 11


class NoFacesError(FaceveilError):
    """Raised only when the caller asked for it (``--require-faces``)."""

    exit_code = 12
