"""deface's spellings on the command line: rewritten to faceveil's before parsing, each with a one-line
note naming faceveil's own spelling, so a deface habit (or script) works and teaches the new name.

- ``faceveil IMAGE...`` without a command runs ``faceveil anonymize IMAGE...`` and, as deface does,
  names outputs ``NAME_anonymized.EXT`` beside the inputs (unless ``-o``);
- ``anonymize``'s deface options: ``--thresh``, ``-s WxH``, ``--keep-audio``, ``--replacewith``,
  ``--replaceimg``, ``--mosaicsize``, ``--draw-scores`` (table in docs/cli.md).

Only this module knows deface; the command itself stays faceveil's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faceveil.errors import UsageError
from faceveil.io.suffixes import IMAGE_SUFFIXES, VIDEO_SUFFIXES

ROOT_OPTIONS = frozenset({"-h", "--help", "-V", "--version"})
DEFACE_SUFFIX = "_anonymized"  # deface's output name: NAME_anonymized.EXT
# deface --replacewith -> faceveil arguments
REPLACEWITH = {
    "blur": ["-m", "blur"],
    "solid": ["-m", "solid"],
    "mosaic": ["-m", "mosaic"],
    "img": ["-m", "replace"],
    "none": ["--preview"],  # deface leaves the faces as they are; faceveil's closest: the boxes, nothing else
}


@dataclass
class Translation:
    argv: list[str]
    notes: list[str] = field(default_factory=list)


def translate(argv: list[str], commands: Iterable[str]) -> Translation:
    """``argv`` with deface's spellings replaced by faceveil's, and the notes to print (one line each).
    ``commands``: the CLI's command names (a first word that is none of them but names a photo, a
    video or an existing path means deface's command-less form)."""
    commands = set(commands)
    notes: list[str] = []
    if not argv or argv[0] in ROOT_OPTIONS or argv[0] in commands:
        if not argv or argv[0] != "anonymize":
            return Translation(list(argv))
        head, rest = ["anonymize"], argv[1:]
    elif _names_media(argv):
        head, rest = ["anonymize", "--suffix", DEFACE_SUFFIX], list(argv)
        notes.append(f"no command: running `faceveil anonymize` (outputs NAME{DEFACE_SUFFIX}.EXT as deface names them)")
    else:
        return Translation(list(argv))
    options, positional = _split_at_double_dash(rest)
    if "-o" in options or "--output" in options or any(a.startswith("--output=") for a in options):
        head = [h for h in head if h not in ("--suffix", DEFACE_SUFFIX)]
    return Translation(head + _translate_options(options, notes) + positional, notes)


def _names_media(argv: list[str]) -> bool:
    media = frozenset(IMAGE_SUFFIXES) | VIDEO_SUFFIXES
    return any(not a.startswith("-") and (Path(a).suffix.lower() in media or Path(a).exists()) for a in argv)


def _split_at_double_dash(args: list[str]) -> tuple[list[str], list[str]]:
    if "--" in args:
        i = args.index("--")
        return args[:i], args[i:]
    return args, []


def _value(args: list[str], i: int, name: str) -> tuple[str, int]:
    """The value of the option at ``args[i]`` (``--name VALUE`` or ``--name=VALUE``) and the next index."""
    token = args[i]
    if "=" in token and token.startswith("--"):
        return token.split("=", 1)[1], i + 1
    if i + 1 >= len(args):
        raise UsageError(f"Option '{name}' requires an argument")
    return args[i + 1], i + 2


def _translate_options(args: list[str], notes: list[str]) -> list[str]:
    out: list[str] = []
    replacewith = None
    replaceimg = None
    i = 0
    while i < len(args):
        token = args[i]
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name == "--thresh":
            value, i = _value(args, i, name)
            out += ["-t", value]
            notes.append(f"--thresh is deface's spelling; faceveil's is -t/--threshold {value} (the same CenterFace score)")
        elif token == "-s" or (token.startswith("-s") and not token.startswith("--") and len(token) > 2):
            value, i = (token[2:], i + 1) if len(token) > 2 else _value(args, i, "-s")
            out += ["--scale", value]
            notes.append(f"-s is deface's spelling; faceveil's is --scale {value} (longest side at most max(W, H), "
                         "aspect kept, not stretched)")
        elif name == "--keep-audio":
            i += 1
            notes.append("--keep-audio is deface's spelling: faceveil keeps the audio anyway (--no-audio drops it)")
        elif name == "--replacewith":
            replacewith, i = _value(args, i, name)
            if replacewith not in REPLACEWITH:
                raise UsageError(f"--replacewith {replacewith!r}: deface's values are {', '.join(REPLACEWITH)} "
                                 "(faceveil's methods: -m, see faceveil anonymize --help)")
            out += REPLACEWITH[replacewith]
            what = "--preview (boxes drawn, faces left as they are, nothing else written)" if replacewith == "none" else " ".join(REPLACEWITH[replacewith])
            notes.append(f"--replacewith {replacewith} is deface's spelling; faceveil's is {what}")
        elif name == "--replaceimg":
            replaceimg, i = _value(args, i, name)
            out += ["-O", f"image={replaceimg}"]
            notes.append(f"--replaceimg is deface's spelling; faceveil's is -m replace -O image={replaceimg}")
        elif name == "--mosaicsize":
            value, i = _value(args, i, name)
            out += ["-O", f"cells={value}"]
            notes.append(f"--mosaicsize is deface's spelling; faceveil's is -O cells={value}: {value} cells across "
                         "each face, whatever its size (deface: blocks of that many pixels)")
        elif name == "--draw-scores":
            i += 1
            out.append("--draw-boxes")
            notes.append("--draw-scores is deface's spelling; faceveil's is --draw-boxes (boxes and scores)")
        else:
            out.append(token)
            i += 1
    if replaceimg is not None and replacewith is None:
        out += ["-m", "replace"]
    elif replaceimg is not None and replacewith != "img":
        raise UsageError(f"--replaceimg goes with --replacewith img, not --replacewith {replacewith}")
    return out


def is_quiet(argv: list[str]) -> bool:
    """``-q``/``--quiet`` among the options: the notes are not printed either."""
    options, _ = _split_at_double_dash(argv)
    return any(a in ("-q", "--quiet") for a in options)
