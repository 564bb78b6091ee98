"""What each method was measured to hide, shown where users choose a method (``faceveil anonymize --help``,
``faceveil models``) and in docs/eval.md.

Measured with ``python benchmarks/bench_privacy.py --set heldout`` (docs/eval.md, "Which faces"): every
method through `faceveil anonymize`'s own code and CLI defaults, on held-out real faces (22 faces of at
least 30 px, 17 people, in 15 photos; random content keys, as in real use). "same person" is each recognizer's own rule, anonymized vs
original; the solid-fill floor (a grey fill under the same mask, hair and background left) is beside it.
Update this table when a method's defaults change (the benchmark prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

COMMAND = "python benchmarks/bench_privacy.py --set heldout"
RECOGNIZERS = ("dlib", "faceres", "mobileface")


@dataclass(frozen=True)
class Rating:
    same_person: dict[str, float]  # recognizer -> fraction of faces judged the same person
    rank1: dict[str, float]  # recognizer -> rank-1 re-identification against the originals
    hides: bool  # same-person rates at the floor's and rank-1 <= 2x the floor's, on every recognizer
    note: str = ""


# The solid-fill floor on the same faces (the ellipse mask of region methods): what no face-only method
# can go below.
FLOOR = Rating({"dlib": 0.045, "faceres": 0.0, "mobileface": 0.0}, {"dlib": 0.045, "faceres": 0.091, "mobileface": 0.091}, True)

RATINGS: dict[str, Rating] = {
    "mosaic": Rating({"dlib": 0.136, "faceres": 0.0, "mobileface": 0.0}, {"dlib": 0.091, "faceres": 0.091, "mobileface": 0.227}, False,
                     "near the floor; dlib and MobileFace still re-identify a few faces"),
    "solid": Rating(FLOOR.same_person, FLOOR.rank1, True, "the floor: only hair and background are left"),
    "blur": Rating({"dlib": 0.136, "faceres": 0.0, "mobileface": 0.136}, {"dlib": 0.136, "faceres": 0.091, "mobileface": 0.818}, False,
                   "MobileFace ranks the right person first for 82 % of faces"),
    "pixelate": Rating({"dlib": 0.136, "faceres": 0.0, "mobileface": 0.182}, {"dlib": 0.091, "faceres": 0.045, "mobileface": 0.955}, False,
                       "MobileFace ranks the right person first for 95 % of faces"),
    "proface-s": Rating({"dlib": 0.227, "faceres": 0.0, "mobileface": 0.227}, {"dlib": 0.182, "faceres": 0.136, "mobileface": 0.909}, False,
                        "blur cover, the default; hides less than plain blur; pixelate cover: MobileFace 59 %, median cover: 95 %"),
    "median": Rating({"dlib": 0.409, "faceres": 0.091, "mobileface": 0.727}, {"dlib": 0.455, "faceres": 0.636, "mobileface": 1.0}, False,
                     "keeps the face recognisable; a look, not an anonymizer"),
}


def summary(method: str) -> str | None:
    """One line: the measured same-person rates of ``method``, or None if it was not measured."""
    r = RATINGS.get(method)
    if r is None:
        return None
    rates = ", ".join(f"{k} {100 * v:.0f} %" for k, v in r.same_person.items())
    verdict = "hides identity" if r.hides else "does NOT hide identity from recognizers" if _far_above(r) else "partly hides identity"
    return f"{method}: same person {rates}; {verdict}" + (f" ({r.note})" if r.note else "")


def _far_above(r: Rating) -> bool:
    """Judged the same person on a quarter of the faces or more by some recognizer."""
    return any(v >= 0.25 for v in r.same_person.values())


def warning(method: str) -> str | None:
    """A one-line warning for a method that does not hide identity from face recognizers, else None."""
    r = RATINGS.get(method)
    if r is None or not _far_above(r):
        return None
    worst = max(r.same_person, key=r.same_person.get)
    return (f"warning: {method} does not hide identity from face recognizers ({worst} still says 'same person' for "
            f"{100 * r.same_person[worst]:.0f} % of faces; docs/eval.md); use mosaic or solid to hide who it is")


def table_help(sep: str = "\n") -> str:
    """Lines for ``faceveil models`` (``sep="\n\n"``: paragraphs, for typer's rich ``--help``, which
    joins single newlines into one paragraph)."""
    lines = [f"Measured identity hiding (same-person rate per recognizer, held-out real faces; `{COMMAND}`; "
             f"solid-fill floor: " + ", ".join(f"{k} {100 * v:.0f} %" for k, v in FLOOR.same_person.items()) + "):"]
    lines += [f"  {line}" for m in RATINGS if (line := summary(m))]
    return sep.join(lines)
