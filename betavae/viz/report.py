"""The report of an experiment: ``report.md`` plus ``report.html`` with its figures inline."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from betavae.io import atomic_write_json, atomic_write_text, provenance


@dataclass
class Report:
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (headers, [[_cell(value) for value in row] for row in rows])))

    def figure(self, path: str | Path, caption: str) -> None:
        self.blocks.append(("figure", (Path(path), caption)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def write(self, out_dir: str | Path, settings: dict[str, Any]) -> Path:
        """Write report.md, report.html and settings.json (budget, seeds, versions, git commit) into out_dir."""
        out_dir = Path(out_dir)
        runs = trained_runs(out_dir / "runs")
        record = {"settings": settings, "provenance": provenance(), "runs": runs}
        atomic_write_json(out_dir / "settings.json", record)
        if runs:
            self.heading("Trained runs")
            self.paragraph("Every model behind this report, as its run directory recorded it (config.json, "
                           "status.json, provenance.json); a run reused from an earlier invocation keeps the "
                           "commit it was trained at.")
            self.table(list(runs[0]), [list(run.values()) for run in runs])
        self.heading("Settings and provenance")
        self.code(_format_settings({"settings": settings, "provenance": record["provenance"]}))
        atomic_write_text(out_dir / "report.md", self._markdown(out_dir))
        atomic_write_text(out_dir / "report.html", self._html(out_dir))
        return out_dir / "report.md"

    def _markdown(self, out_dir: Path) -> str:
        lines = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                lines += [f"## {content}", ""]
            elif kind == "paragraph":
                lines += [content, ""]
            elif kind == "table":
                headers, rows = content
                lines.append("| " + " | ".join(headers) + " |")
                lines.append("|" + "---|" * len(headers))
                lines += ["| " + " | ".join(row) + " |" for row in rows]
                lines.append("")
            elif kind == "figure":
                path, caption = content
                lines += [f"![{caption}]({_relative(path, out_dir)})", f"*{caption}*", ""]
            elif kind == "code":
                lines += ["```", content, "```", ""]
        return "\n".join(lines)

    def _html(self, out_dir: Path) -> str:
        parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
                 "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
                 "td:first-child,th:first-child{text-align:left}.pm{white-space:nowrap}img{max-width:100%}</style>",
                 f"<h1>{html.escape(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "heading":
                parts.append(f"<h2>{html.escape(content)}</h2>")
            elif kind == "paragraph":
                parts.append(f"<p>{html.escape(content)}</p>")
            elif kind == "table":
                headers, rows = content
                parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers) + "</tr>")
                parts += ["<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in rows]
                parts.append("</table>")
            elif kind == "figure":
                path, caption = content
                data = base64.b64encode(Path(path).read_bytes()).decode() if Path(path).exists() else ""
                parts.append(f"<figure><img src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(caption)}</figcaption></figure>")
            elif kind == "code":
                parts.append(f"<pre>{html.escape(content)}</pre>")
        return "\n".join(parts) + "\n"


def trained_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """One row per run directory under ``runs_dir``: what was trained, how, how far, at which commit."""
    from betavae.io import read_json
    from betavae.runs import RunDir

    rows = []
    for config_path in sorted(runs_dir.glob("*/config.json")):
        run = RunDir(config_path.parent)
        config = read_json(run.config_path)
        status = run.status()
        origin = read_json(run.provenance_path) if run.provenance_path.exists() else {}
        model, objective, optim, train = config["model"], config["objective"], config["optim"], config["train"]
        rows.append({"run": run.path.name, "model": config["model_type"], "arch": model["arch"],
                     "latents": model["latents"], "decoder": model["likelihood"], "β": objective["beta"],
                     "optimiser": f"{optim['name']} {optim['lr']:g}" if optim["name"] else "–",
                     "batch": train["batch_size"], "steps": f"{status.get('step', '?')}/{train['steps']}",
                     "seed": train["seed"], "state": status.get("state"), "commit": origin.get("git_commit")})
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _html_cell(text: str) -> str:
    """A table cell; "mean ± std" never breaks across lines."""
    return f"<td class='pm'>{html.escape(text)}</td>" if " ± " in text else f"<td>{html.escape(text)}</td>"


def _relative(path: Path, out_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(out_dir.resolve()))
    except ValueError:
        return str(path)


def _format_settings(record: dict[str, Any]) -> str:
    import json

    return json.dumps(record, indent=2, sort_keys=True, default=str)


def mean_std(values: list[float]) -> str:
    import numpy as np

    finite = [v for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return "–"
    return f"{100 * np.mean(finite):.2f} ± {100 * np.std(finite):.2f}"
