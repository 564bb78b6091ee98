"""Write an evaluation: ``metrics.json`` and a self-contained offline HTML report (PNG files next to it).

One or several methods (``faceveil eval --method A --method B``) go side by side in one report: a verdict
per method and recognizer first ("hides identity from dlib: yes / no", from same-person rates and
re-identification by ranking against the solid-fill floor), then the metrics grouped as privacy / utility /
recovery with their better direction, plots (same-person rates, cosines with each recognizer's threshold,
rank-1, privacy vs utility, detection) and a grid of face thumbnails.

Layout of the output directory::

    metrics.json         every metric as mean ± std (and per face); several methods: under "runs"
    report.html          verdicts, tables, plots, thumbnails; opens offline (relative links only)
    images/<item>_<face>_<role>.png   face crops (one method); images/<method>/... (several)
    plots/*.png          matplotlib figures
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceveil.errors import OutputExistsError
from faceveil.eval.runner import EvalResult, face_region
from faceveil.eval.sources import EvalItem

GRID_ROLES = ("original", "anonymized", "recovered", "wrong_key", "obfuscated")
GRID_HEIGHT = 120  # px of each crop in the grid
GRID_MARGIN = 0.5  # context around the face box in grid crops
Runs = list[tuple[str, EvalResult]]  # (method label, its result), in the order asked


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "item"


@dataclass
class GridRow:
    label: str
    cells: dict[str, str | None]  # column -> relative image path, None when not available
    notes: str = ""


@dataclass
class ReportWriter:
    """Collects image grids while the evaluation streams, then writes JSON and HTML."""

    out_dir: Path
    max_grid_faces: int = 12
    rows: list[GridRow] = field(default_factory=list)
    _by_face: dict = field(default_factory=dict)  # (item name, face index) -> GridRow

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        (self.out_dir / "images").mkdir(parents=True, exist_ok=True)
        (self.out_dir / "plots").mkdir(parents=True, exist_ok=True)

    def add_item(self, item: EvalItem, method: str | None = None) -> None:
        """Save the face crops of one item for the grid (called by evaluate's on_item); ``method`` labels
        the columns when several methods share the report (the original is saved once)."""
        from PIL import Image

        images = {"original": item.original, "anonymized": item.anonymized, "recovered": item.recovered, "wrong_key": item.wrong_key, "obfuscated": item.obfuscated}
        for i, face in enumerate(item.faces):
            key = (item.name, i)
            if key not in self._by_face and len(self.rows) >= self.max_grid_faces:
                return
            x0, y0, x1, y1 = face_region(face, item.original.shape, GRID_MARGIN)
            if x1 <= x0 or y1 <= y0:
                continue
            kind = {"payload": "recovered from the encrypted payload (exact pixels)", "pixels": "recovered from the pixels by the key holder", "external": "recovered image supplied"}
            row = self._by_face.get(key)
            if row is None:
                row = GridRow(f"{item.name} · face {i}", {}, kind.get(item.recovery_kind or "", "") if method is None else "")
                self._by_face[key] = row
                self.rows.append(row)
            for role in GRID_ROLES:
                column = role if method is None or role == "original" else f"{method} · {role}"
                if role == "original" and column in row.cells:
                    continue
                image = images[role]
                if image is None:
                    if method is None or role in ("anonymized", "recovered"):
                        row.cells.setdefault(column, None)
                    continue
                crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
                width = max(1, round(crop.width * GRID_HEIGHT / crop.height))
                sub = f"{_slug(method)}/" if method is not None and role != "original" else ""
                (self.out_dir / "images" / sub).mkdir(parents=True, exist_ok=True)
                rel = f"images/{sub}{_slug(item.name)}_{i}_{role}.png"
                crop.resize((width, GRID_HEIGHT), Image.LANCZOS).save(self.out_dir / rel)
                row.cells[column] = rel

    @property
    def json_path(self) -> Path:
        return self.out_dir / "metrics.json"

    @property
    def html_path(self) -> Path:
        return self.out_dir / "report.html"

    def check_writable(self, overwrite: bool) -> None:
        """Refuse up front (before minutes of evaluation) to replace an earlier report."""
        if not overwrite:
            for p in (self.json_path, self.html_path):
                if p.exists():
                    raise OutputExistsError(f"{p} exists (use --overwrite)")

    def write(self, result: EvalResult | Runs, title: str, header: dict[str, str], overwrite: bool = False) -> tuple[Path, Path]:
        """One result (the former layout) or several methods' ``[(label, result), ...]``."""
        self.check_writable(overwrite)
        runs = _as_runs(result)
        json_path, html_path = self.json_path, self.html_path
        if len(runs) == 1:
            payload = {"title": title, **header, **runs[0][1].to_dict(), "verdict": verdicts(runs[0][1])}
        else:
            payload = {"title": title, **header, "runs": {label: r.to_dict() | {"verdict": verdicts(r)} for label, r in runs}}
        json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        plots = write_plots(runs, self.out_dir / "plots")
        html_path.write_text(render_html(runs, title, header, self.rows, [p.relative_to(self.out_dir).as_posix() for p in plots]))
        return json_path, html_path


def _as_runs(result: EvalResult | Runs) -> Runs:
    return [("", result)] if isinstance(result, EvalResult) else list(result)


# --- verdicts and metric groups ---------------------------------------------------------------------------


def _mean(result: EvalResult, key: str) -> float | None:
    s = result.metrics.get(key)
    return None if s is None or s.n == 0 else float(s.mean)


def verdicts(result: EvalResult) -> dict[str, dict]:
    """Per recognizer: does the method hide identity from it? ``hides`` is True when the anonymized faces
    are judged "same person" no more often than a solid grey fill under the same mask (the floor: what hair
    and background alone give) and, where ranking was measured, rank-1 re-identification is at most twice
    the floor's (or twice chance, if higher). None when the recognizer measured nothing."""
    out: dict[str, dict] = {}
    recognizers = sorted({k.split(".")[2] for k in result.metrics if k.startswith("same_person.anonymized.")})
    for r in recognizers:
        same, floor = _mean(result, f"same_person.anonymized.{r}"), _mean(result, f"same_person.floor.{r}")
        rank1, floor1 = _mean(result, f"rank1.anonymized.{r}"), _mean(result, f"rank1.floor.{r}")
        chance = result.dataset.get(f"rank1.chance.{r}")
        hides = None
        if same is not None:
            hides = same <= (floor if floor is not None else 0.0) + 1e-9
            if rank1 is not None and floor1 is not None:
                hides = hides and rank1 <= max(2 * floor1, 2 * (chance or 0.0)) + 1e-9
        out[r] = {"hides": hides, "same_person": same, "same_person_floor": floor, "rank1": rank1,
                  "rank1_floor": floor1, "rank1_chance": chance, "cosine": _mean(result, f"identity.anonymized.{r}"),
                  "threshold_cosine": result.thresholds.get(r)}
    return out


# (prefix, group, direction, what it is): first match wins; direction "↑" higher is better, "↓" lower,
# "" a reference level (floors, chance), not a score
METRIC_GROUPS: tuple[tuple[str, str, str, str], ...] = (
    ("same_person.anonymized.", "privacy", "↓", "judged the same person as the original"),
    ("rank1.anonymized.", "privacy", "↓", "re-identified first against a gallery of originals (rank-1)"),
    ("rank5.anonymized.", "privacy", "↓", "right person among the 5 closest originals (rank-5)"),
    ("identity.anonymized.", "privacy", "↓", "cosine similarity to the original"),
    ("same_person.floor.", "privacy", "", "floor: solid fill judged the same person"),
    ("rank1.floor.", "privacy", "", "floor: solid fill re-identified (rank-1)"),
    ("rank5.floor.", "privacy", "", "floor: solid fill rank-5"),
    ("identity.floor.", "privacy", "", "floor: solid fill cosine"),
    ("same_person.obfuscated.", "privacy", "", "the plain cover judged the same person"),
    ("rank1.obfuscated.", "privacy", "", "the plain cover re-identified (rank-1)"),
    ("rank5.obfuscated.", "privacy", "", "the plain cover rank-5"),
    ("identity.obfuscated.", "privacy", "", "the plain cover's cosine"),
    ("same_person.wrong_key.", "privacy", "↓", "wrong-key recovery judged the same person"),
    ("identity.wrong_key.", "privacy", "↓", "wrong-key recovery cosine"),
    ("diversity.", "privacy", "↑", "distance between anonymizations of one face"),
    ("detected.", "utility", "↑", "anonymized face still detected"),
    ("box_distance_rel.", "utility", "↓", "detected box moved (/ diagonal)"),
    ("box_distance.", "utility", "↓", "detected box moved (px)"),
    ("landmarks68_nme", "utility", "↓", "68 landmarks moved (/ inter-ocular)"),
    ("facemesh_nme", "utility", "↓", "468 mesh points moved (/ inter-ocular)"),
    ("pose_distance", "utility", "↓", "head pose changed (degrees)"),
    ("shape_distance", "utility", "↓", "face shape changed"),
    ("expression_distance", "utility", "↓", "expression changed"),
    ("lpips.anonymized", "utility", "↓", "perceptual distance to the original"),
    ("protected_vs_obfuscated.mae", "utility", "↓", "protected vs its plain cover"),
    ("protected_vs_obfuscated.", "utility", "↑", "protected vs its plain cover"),
    ("recovery.mae", "recovery", "↓", "key holder's recovery vs original"),
    ("recovery.", "recovery", "↑", "key holder's recovery vs original"),
    ("identity.recovered.", "recovery", "↑", "recovered face's cosine to the original"),
    ("same_person.recovered.", "recovery", "↑", "recovered face judged the same person"),
    ("lpips.recovered", "recovery", "↓", "recovered face's perceptual distance"),
    ("wrong_key.mae", "recovery", "↑", "wrong-key recovery vs original (should stay far)"),
    ("wrong_key.", "recovery", "↓", "wrong-key recovery vs original (should stay far)"),
    ("payload.bit_error_rate", "recovery", "↓", "hidden payload bit errors"),
    ("payload.", "recovery", "↑", "hidden payload decoded"),
)
GROUPS = ("privacy", "utility", "recovery")


def metric_group(name: str) -> tuple[str, str, str]:
    """(group, direction, description) of a per-face metric name."""
    for prefix, group, direction, what in METRIC_GROUPS:
        if name.startswith(prefix):
            return group, direction, what
    return "other", "", ""


# --- plots ----------------------------------------------------------------------------------------------


def _grouped_bars(ax, runs: Runs, keys: list[str], metric: str, marker: str | None = None, marker_label: str = ""):
    """Bars of ``metric.<key>`` per key (x) and method (colour); ``marker``: a reference metric drawn as a
    black tick on each bar (the solid-fill floor). Values are written on the bars, so zeros still show."""
    n = max(1, len(runs))
    width = 0.8 / n
    for j, (label, r) in enumerate(runs):
        xs = np.arange(len(keys)) + j * width
        means = [(_mean(r, f"{metric}.{k}") if _mean(r, f"{metric}.{k}") is not None else np.nan) for k in keys]
        ax.bar(xs, means, width, label=label or None)
        for x, v in zip(xs, means):
            if np.isfinite(v):
                ax.annotate(f"{v:.2f}", (x, v), ha="center", va="bottom", fontsize=7, xytext=(0, 1), textcoords="offset points")
        if marker:
            refs = [_mean(r, f"{marker}.{k}") for k in keys]
            pts = [(x, v) for x, v in zip(xs, refs) if v is not None]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker="_", s=400, color="black", zorder=3,
                           label=marker_label if j == 0 else None)
    ax.set_xticks(np.arange(len(keys)) + width * (n - 1) / 2, keys)


def write_plots(result: EvalResult | Runs, plot_dir: Path) -> list[Path]:
    """The report's figures; a chart is drawn only when it has something to show."""
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    runs = _as_runs(result)
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    several = len(runs) > 1
    recognizers = sorted({k.split(".")[2] for _, r in runs for k, v in r.metrics.items() if k.startswith("identity.") and v.n})

    same = [k for k in recognizers if any(_mean(r, f"same_person.anonymized.{k}") is not None for _, r in runs)]
    if same:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        _grouped_bars(ax, runs, same, "same_person.anonymized", "same_person.floor", "solid fill (floor)")
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("fraction of faces")
        ax.set_title("Judged the same person as the original (↓ lower = better hidden)")
        ax.legend(fontsize=8)
        written.append(_save(fig, plot_dir / "same_person.png"))

    if recognizers:
        roles = ["anonymized"] if several else [r for r in ("anonymized", "recovered", "wrong_key", "obfuscated", "floor")
                                                if any(f"identity.{r}.{k}" in runs[0][1].metrics for k in recognizers)]
        fig, ax = plt.subplots(figsize=(7, 3.8))
        if several:
            _grouped_bars(ax, runs, recognizers, "identity.anonymized")
            n = len(runs)
        else:
            res = runs[0][1]
            n = len(roles)
            width = 0.8 / n
            for j, role in enumerate(roles):
                means = [_mean(res, f"identity.{role}.{k}") for k in recognizers]
                ax.bar(np.arange(len(recognizers)) + j * width, [np.nan if m is None else m for m in means], width,
                       label={"floor": "solid fill (floor)"}.get(role, role.replace("_", " ")))
            ax.set_xticks(np.arange(len(recognizers)) + width * (n - 1) / 2, recognizers)
        thresholds = runs[0][1].thresholds
        for i, k in enumerate(recognizers):  # each recognizer's own "same person" line over its bars
            t = thresholds.get(k)
            if t is not None and np.isfinite(t):
                ax.hlines(t, i - 0.1, i + 0.8 - 0.1 / max(n, 1) + 0.1, colors="red", linestyles="--", lw=1.2,
                          label="same-person threshold" if i == 0 else None)
        ax.set_ylabel("cosine similarity to original")
        ax.set_ylim(-0.2, 1.1)
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set_title("Cosine to the original (above the red line = judged the same person)")
        written.append(_save(fig, plot_dir / "identity.png"))

    ranked = [k for k in recognizers if any(_mean(r, f"rank1.anonymized.{k}") is not None for _, r in runs)]
    if ranked:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        _grouped_bars(ax, runs, ranked, "rank1.anonymized", "rank1.floor", "solid fill (floor)")
        chance = [runs[0][1].dataset.get(f"rank1.chance.{k}") for k in ranked]
        for i, c in enumerate(chance):
            if c is not None:
                ax.hlines(c, i - 0.4, i + 0.8, colors="grey", linestyles=":", label="chance" if i == 0 else None)
        ax.set_ylim(0, 1.12)
        ax.set_ylabel("fraction of faces")
        ax.set_title("Re-identified first against a gallery of originals (rank-1, ↓)")
        ax.legend(fontsize=8)
        written.append(_save(fig, plot_dir / "rank1.png"))

    detectors = sorted({k.split(".", 1)[1] for _, r in runs for k, v in r.metrics.items() if k.startswith("detected.") and v.n})
    if detectors:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        _grouped_bars(ax, runs, detectors, "detected")
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("detection rate")
        ax.set_title("Anonymized faces still detected (↑ higher = more utility kept)")
        if several:
            ax.legend(fontsize=8)
        written.append(_save(fig, plot_dir / "detection.png"))

    points = []
    for label, r in runs:
        hidden = [1 - v for k in same if (v := _mean(r, f"same_person.anonymized.{k}")) is not None]
        kept = [v for d in detectors if (v := _mean(r, f"detected.{d}")) is not None]
        pose = _mean(r, "pose_distance")
        if hidden and (kept or pose is not None):
            points.append((label or "method", float(np.mean(hidden)), float(np.mean(kept)) if kept else None, pose))
    if points:
        panels = [(2, "faces still detected (mean over detectors, ↑)"), (3, "head pose change, degrees (↓)")]
        panels = [p for p in panels if any(pt[p[0]] is not None for pt in points)]
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
        for ax, (idx, ylabel) in zip(axes[0], panels):
            for pt in points:
                if pt[idx] is not None:
                    ax.scatter(pt[1], pt[idx], s=40)
                    ax.annotate(pt[0], (pt[1], pt[idx]), fontsize=8, xytext=(4, 3), textcoords="offset points")
            ax.set_xlim(-0.05, 1.1)
            ax.set_xlabel("identity hidden: 1 - same-person rate (mean, ↑)")
            ax.set_ylabel(ylabel)
            if idx == 2:
                ax.set_ylim(-0.05, 1.1)
        fig.suptitle("Privacy vs utility (best: top right / bottom right)", fontsize=10)
        written.append(_save(fig, plot_dir / "privacy_utility.png"))

    for label, r in runs:
        for rname, pts in r.diversity_points.items():
            if len(pts) < 4:
                continue
            from faceveil.eval.tsne import tsne

            labels = [lab for lab, _ in pts]
            y = tsne(np.stack([e for _, e in pts]))
            fig, ax = plt.subplots(figsize=(5, 4.5))
            for lab in sorted(set(labels)):
                sel = np.array([x == lab for x in labels])
                ax.scatter(y[sel, 0], y[sel, 1], s=14, label=lab)
            ax.legend(fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"t-SNE of anonymizations ({rname} embeddings){' · ' + label if label else ''}")
            written.append(_save(fig, plot_dir / f"diversity_tsne_{_slug(label + '_' + rname if label else rname)}.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# --- HTML -----------------------------------------------------------------------------------------------

_CSS = f"""
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
th{{background:#f3f3f3}}td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.grid td{{text-align:center;vertical-align:top}}.grid img{{height:{GRID_HEIGHT}px}}.na{{color:#999;font-size:90%}}
code{{background:#f3f3f3;padding:1px 4px}}.yes{{background:#dfd;font-weight:bold}}.no{{background:#fdd;font-weight:bold}}
tr.group th{{background:#dde}}td.ref{{color:#666}}
"""


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f} %"


def _verdict_table(runs: Runs) -> list[str]:
    e = html.escape
    recognizers = sorted({r for _, res in runs for r in verdicts(res)})
    if not recognizers:
        return ["<p class=na>No recognizer measured anything: no verdict.</p>"]
    parts = ["<h2>Verdict: does it hide identity?</h2>",
             "<p>Per recognizer: <b>yes</b> when the anonymized faces are judged the same person no more often than a "
             "solid grey fill under the same mask (what hair, ears and background alone give) and rank-1 "
             "re-identification against the originals is at most 2× the solid fill's (or 2× chance).</p>",
             "<table><tr><th>method</th>" + "".join(f"<th>hides identity from {e(r)}?</th>" for r in recognizers) + "</tr>"]
    for label, res in runs:
        v = verdicts(res)
        cells = []
        for r in recognizers:
            d = v.get(r)
            if d is None or d["hides"] is None:
                cells.append("<td class=na>not measured</td>")
                continue
            detail = f"same person {_pct(d['same_person'])} (solid fill {_pct(d['same_person_floor'])})"
            if d["rank1"] is not None:
                detail += f"; rank-1 {_pct(d['rank1'])} (solid fill {_pct(d['rank1_floor'])}, chance {_pct(d['rank1_chance'])})"
            detail += f"; cosine {_fmt(d['cosine'])} (threshold {_fmt(d['threshold_cosine'])})"
            cls, word = ("yes", "yes") if d["hides"] else ("no", "no")
            cells.append(f"<td class={cls}>{word}<br><span class=na>{e(detail)}</span></td>")
        parts.append(f"<tr><th>{e(label or 'method')}</th>{''.join(cells)}</tr>")
    parts.append("</table>")
    return parts


def _metrics_table(runs: Runs) -> list[str]:
    e = html.escape
    names = sorted({k for _, r in runs for k in r.metrics})
    parts = ["<h2>Metrics (mean ± std over faces; ↑ higher is better, ↓ lower is better, no arrow: reference level)</h2>",
             "<table><tr><th>metric</th><th></th><th>what</th>"
             + "".join(f"<th>{e(label or 'mean ± std')}</th>" for label, _ in runs) + "<th>faces</th></tr>"]
    for group in (*GROUPS, "other"):
        rows = [n for n in names if metric_group(n)[0] == group]
        rows.sort(key=lambda n: ([p for p, *_ in METRIC_GROUPS].index(next((p for p, *_ in METRIC_GROUPS if n.startswith(p)), "")) if metric_group(n)[0] != "other" else 0, n))
        if not rows:
            continue
        parts.append(f"<tr class=group><th colspan={4 + len(runs)}>{group}</th></tr>")
        for n in rows:
            _, direction, what = metric_group(n)
            cells, counts = [], []
            for _, r in runs:
                s = r.metrics.get(n)
                cells.append("<td class=na>n/a</td>" if s is None or s.n == 0 else f"<td class='num{' ref' if not direction else ''}'>{_fmt(s.mean)} ± {_fmt(s.std)}</td>")
                counts.append(str(s.n) if s is not None else "0")
            parts.append(f"<tr><td>{e(n)}</td><td>{direction}</td><td class=na>{e(what)}</td>{''.join(cells)}<td class=num>{'/'.join(counts)}</td></tr>")
    parts.append("</table>")
    return parts


def render_html(result: EvalResult | Runs, title: str, header: dict[str, str], rows: list[GridRow], plots: list[str]) -> str:
    e = html.escape
    runs = _as_runs(result)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{e(title)}</h1><table>")
    parts += [f"<tr><th>{e(k)}</th><td><code>{e(str(v))}</code></td></tr>" for k, v in header.items()]
    parts.append("</table>")
    parts += _verdict_table(runs)
    if plots:
        parts.append("<h2>Plots</h2>" + "".join(f"<p><img src='{e(p)}' alt='{e(Path(p).stem)}'></p>" for p in plots))
    if rows:
        columns = list(dict.fromkeys(c for row in rows for c in row.cells))
        parts.append(f"<h2>Faces (first {len(rows)})</h2><table class=grid><tr><th>face</th>" + "".join(f"<th>{e(c.replace('_', ' '))}</th>" for c in columns) + "</tr>")
        for row in rows:
            cells = "".join(
                f"<td><img src='{e(row.cells[c])}' alt='{e(c)}'></td>" if row.cells.get(c) else "<td class=na>not applicable</td>" for c in columns
            )
            parts.append(f"<tr><td>{e(row.label)}<br><span class=na>{e(row.notes)}</span></td>{cells}</tr>")
        parts.append("</table>")
    parts += _metrics_table(runs)
    dataset = sorted({k for _, r in runs for k in r.dataset})
    if dataset:
        parts.append("<h2>Dataset metrics</h2><table><tr><th>metric</th>" + "".join(f"<th>{e(label or 'value')}</th>" for label, _ in runs) + "</tr>")
        parts += [f"<tr><td>{e(k)}</td>" + "".join(f"<td class=num>{_fmt(r.dataset.get(k))}</td>" for _, r in runs) + "</tr>" for k in dataset]
        parts.append("</table><p>fed.&lt;recognizer&gt;: Fréchet distance between original and anonymized face embeddings of that "
                     "recognizer (not FID). rank&lt;k&gt;.chance: a random ranking's rate. faces.small: faces under the minimum "
                     "size, listed in metrics.json, not averaged in.</p>")
    for label, r in runs:
        parts.append(f"<h2>Which models measured what{' · ' + e(label) if label else ''}</h2><table>")
        parts += [f"<tr><th>{e(k)}</th><td>{e(', '.join(v) or 'none')}</td></tr>" for k, v in r.models.items()]
        parts.append("</table>")
        if r.notes:
            parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{e(n)}</li>" for n in r.notes) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
