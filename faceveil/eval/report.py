"""Write an evaluation: ``metrics.json`` and a self-contained offline HTML report (PNG files next to it).

Layout of the output directory::

    metrics.json         every metric as mean ± std (and per face)
    report.html          tables, image grids, plots; opens offline (relative links only)
    images/<item>_<face>_<role>.png   face crops: original | anonymized | recovered | wrong key | obfuscated
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
GRID_HEIGHT = 160  # px of each crop in the grid
GRID_MARGIN = 0.5  # context around the face box in grid crops


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "item"


@dataclass
class GridRow:
    label: str
    cells: dict[str, str | None]  # role -> relative image path, None when not available
    notes: str = ""


@dataclass
class ReportWriter:
    """Collects image grids while the evaluation streams, then writes JSON and HTML."""

    out_dir: Path
    max_grid_faces: int = 24
    rows: list[GridRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        (self.out_dir / "images").mkdir(parents=True, exist_ok=True)
        (self.out_dir / "plots").mkdir(parents=True, exist_ok=True)

    def add_item(self, item: EvalItem) -> None:
        """Save the face crops of one item for the grid (called by evaluate's on_item)."""
        from PIL import Image

        images = {"original": item.original, "anonymized": item.anonymized, "recovered": item.recovered, "wrong_key": item.wrong_key, "obfuscated": item.obfuscated}
        for i, face in enumerate(item.faces):
            if len(self.rows) >= self.max_grid_faces:
                return
            x0, y0, x1, y1 = face_region(face, item.original.shape, GRID_MARGIN)
            if x1 <= x0 or y1 <= y0:
                continue
            cells: dict[str, str | None] = {}
            for role in GRID_ROLES:
                image = images[role]
                if image is None:
                    cells[role] = None
                    continue
                crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
                width = max(1, round(crop.width * GRID_HEIGHT / crop.height))
                rel = f"images/{_slug(item.name)}_{i}_{role}.png"
                crop.resize((width, GRID_HEIGHT), Image.LANCZOS).save(self.out_dir / rel)
                cells[role] = rel
            kind = {"payload": "recovered from the encrypted payload (exact pixels)", "pixels": "recovered from the pixels by the key holder", "external": "recovered image supplied"}
            self.rows.append(GridRow(f"{item.name} · face {i}", cells, kind.get(item.recovery_kind or "", "")))

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

    def write(self, result: EvalResult, title: str, header: dict[str, str], overwrite: bool = False) -> tuple[Path, Path]:
        self.check_writable(overwrite)
        json_path, html_path = self.json_path, self.html_path
        payload = {"title": title, **header, **result.to_dict()}
        json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        plots = write_plots(result, self.out_dir / "plots")
        html_path.write_text(render_html(result, title, header, self.rows, [p.relative_to(self.out_dir).as_posix() for p in plots]))
        return json_path, html_path


# --- plots ----------------------------------------------------------------------------------------------


def write_plots(result: EvalResult, plot_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # headless: never needs a display
    import matplotlib.pyplot as plt

    written = []
    identity = {k: v for k, v in result.metrics.items() if k.startswith("identity.") and v.n}
    if identity:
        recognizers = sorted({k.split(".")[2] for k in identity})
        roles = [r for r in ("anonymized", "recovered", "wrong_key", "obfuscated") if any(k.split(".")[1] == r for k in identity)]
        fig, ax = plt.subplots(figsize=(6.5, 3.5))
        width = 0.8 / len(roles)
        for j, role in enumerate(roles):
            means = [identity.get(f"identity.{role}.{r}").mean if f"identity.{role}.{r}" in identity else np.nan for r in recognizers]
            stds = [identity.get(f"identity.{role}.{r}").std if f"identity.{role}.{r}" in identity else 0 for r in recognizers]
            ax.bar(np.arange(len(recognizers)) + j * width, means, width, yerr=stds, label=role, capsize=3)
        ax.set_xticks(np.arange(len(recognizers)) + width * (len(roles) - 1) / 2, recognizers)
        ax.set_ylabel("cosine similarity to original")
        ax.set_ylim(-0.2, 1.05)
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=8)
        ax.set_title("Identity similarity (lower = better hidden; recovered should be 1)")
        written.append(_save(fig, plot_dir / "identity.png"))

    detection = {k.split(".", 1)[1]: v for k, v in result.metrics.items() if k.startswith("detected.") and v.n}
    if detection:
        fig, ax = plt.subplots(figsize=(6.5, 3.0))
        names = sorted(detection)
        ax.bar(names, [detection[n].mean for n in names], color="tab:green")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("detection rate")
        ax.set_title("Anonymized faces still detected (higher = more utility kept)")
        written.append(_save(fig, plot_dir / "detection.png"))

    for rname, points in result.diversity_points.items():
        if len(points) < 4:
            continue
        from faceveil.eval.tsne import tsne

        labels = [label for label, _ in points]
        y = tsne(np.stack([e for _, e in points]))
        fig, ax = plt.subplots(figsize=(5, 4.5))
        for label in sorted(set(labels)):
            mask = np.array([lab == label for lab in labels])
            ax.scatter(y[mask, 0], y[mask, 1], s=14, label=label)
        ax.legend(fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"t-SNE of anonymizations ({rname} embeddings)")
        written.append(_save(fig, plot_dir / f"diversity_tsne_{_slug(rname)}.png"))
    return written


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


# --- HTML -----------------------------------------------------------------------------------------------

_CSS = f"""
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
th{{background:#f3f3f3}}td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.grid td{{text-align:center;vertical-align:top}}.grid img{{height:{GRID_HEIGHT}px}}.na{{color:#999;font-size:90%}}
code{{background:#f3f3f3;padding:1px 4px}}
"""


def _fmt(v: float) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def render_html(result: EvalResult, title: str, header: dict[str, str], rows: list[GridRow], plots: list[str]) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{e(title)}</h1><table>")
    parts += [f"<tr><th>{e(k)}</th><td><code>{e(str(v))}</code></td></tr>" for k, v in header.items()]
    parts.append("</table>")

    parts.append("<h2>Metrics (mean ± std over faces)</h2><table><tr><th>metric</th><th>mean</th><th>std</th><th>n</th><th>missing</th></tr>")
    for name, s in sorted(result.metrics.items()):
        parts.append(f"<tr><td>{e(name)}</td><td class=num>{_fmt(s.mean)}</td><td class=num>{_fmt(s.std)}</td><td class=num>{s.n}</td><td class=num>{s.missing}</td></tr>")
    parts.append("</table>")
    if result.dataset:
        parts.append("<h2>Dataset metrics</h2><table><tr><th>metric</th><th>value</th></tr>")
        parts += [f"<tr><td>{e(k)}</td><td class=num>{_fmt(v)}</td></tr>" for k, v in sorted(result.dataset.items())]
        parts.append("</table><p>fed.&lt;recognizer&gt;: Fréchet distance between original and anonymized face embeddings of that recognizer (not FID).</p>")

    parts.append("<h2>Which models measured what</h2><table>")
    parts += [f"<tr><th>{e(k)}</th><td>{e(', '.join(v) or 'none')}</td></tr>" for k, v in result.models.items()]
    parts.append("</table>")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in result.notes) + "</ul>")

    if plots:
        parts.append("<h2>Plots</h2>" + "".join(f"<p><img src='{e(p)}' alt='{e(Path(p).stem)}'></p>" for p in plots))
    if rows:
        parts.append("<h2>Faces</h2><table class=grid><tr><th>face</th>" + "".join(f"<th>{r.replace('_', ' ')}</th>" for r in GRID_ROLES) + "</tr>")
        for row in rows:
            cells = "".join(
                f"<td><img src='{e(path)}' alt='{e(role)}'></td>" if path else "<td class=na>not applicable</td>" for role, path in row.cells.items()
            )
            parts.append(f"<tr><td>{e(row.label)}<br><span class=na>{e(row.notes)}</span></td>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
