"""`mlopsctl report`: the workspace's metrics, params and plots as Markdown and offline HTML.

The Markdown is for CI comments and step summaries (images linked by relative path); the
HTML page is self-contained (images as `data:` URIs, inline CSS, one inline script, a
Content-Security-Policy that forbids every external load) so it opens anywhere, offline.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core.config import flatten
from mlopsctl.core.files import write_atomic
from mlopsctl.core.pipeline.metrics import (
    better,
    format_change,
    format_number,
    read_metrics,
)
from mlopsctl.core.project import MAXIMIZE, Project
from mlopsctl.errors import BadInput, EnvironmentProblem

DEFAULT_OUTPUT = "reports"
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"
# a list longer than this is shown as "N items" in the params table
LIST_ITEMS_SHOWN = 5
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
DATA_TYPES = {".csv": ",", ".tsv": "\t"}
CONFUSION_TEMPLATES = {"confusion", "confusion_normalized"}


@dataclass(frozen=True)
class MetricRow:
    name: str
    value: Any  # None when only the rev has it
    rev_value: Any  # None when the rev does not have it
    change: float | None  # value - rev_value, for two numbers
    primary: bool
    direction: str = "maximize"  # or minimize: whether a negative change is better

    @property
    def better(self) -> bool | None:
        """The workspace's value improves on the rev's (None: equal, or not two numbers)."""
        return better(self.value, self.rev_value, self.direction)


@dataclass(frozen=True)
class ConfusionMatrix:
    labels: list[str]
    counts: list[list[int]]  # counts[actual][predicted], in `labels` order


@dataclass(frozen=True)
class PlotData:
    path: str  # relative to the project root, as dvc.yaml names it
    rows: int
    columns: list[str]
    confusion: ConfusionMatrix | None = None


@dataclass(frozen=True)
class Report:
    project: str
    root: Path
    commit: str | None  # full sha of HEAD
    dirty: bool  # tracked files differ from HEAD
    rev: str
    rev_commit: str
    rev_has_metrics: bool
    primary_metric: str
    metrics: list[MetricRow]
    params: list[tuple[str, str]]
    images: list[str] = field(default_factory=list)  # relative to the project root
    plot_data: list[PlotData] = field(default_factory=list)


@dataclass(frozen=True)
class WrittenReport:
    report: Report
    markdown: Path
    html: Path


def write_report(project: Project, output: Path | None = None, rev: str = "HEAD") -> WrittenReport:
    """Collect the report and write `report.md` and `report.html` (atomically) into `output`."""
    out_dir = (output if output is not None else project.root / DEFAULT_OUTPUT).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir} is a file, not a folder", "pass a folder to --output")
    report = collect_report(project, rev)
    markdown, page = render_markdown(report, out_dir), render_html(report)
    md_path, html_path = out_dir / MARKDOWN_NAME, out_dir / HTML_NAME
    write_atomic(md_path, markdown)
    write_atomic(html_path, page)
    return WrittenReport(report, md_path, html_path)


def collect_report(project: Project, rev: str = "HEAD") -> Report:
    root = project.root
    metrics = read_metrics(root)
    if not metrics:
        raise BadInput(
            f"{root.name} has no metrics yet: the pipeline has not run in this workspace",
            "run `dvc repro` (or `mlopsctl train`) first, then `mlopsctl report`",
        )
    commit, dirty, rev_commit, plot_outs = _inspect_repo(root, rev)
    try:
        rev_metrics = read_metrics(root, rev)
    except BadInput:
        # read_metrics raises for a rev without the metrics file; the rev itself is known good
        rev_metrics = {}
    primary = project.primary_metric()
    images, plot_data = _plots(root, plot_outs)
    return Report(
        project=_project_name(project),
        root=root,
        commit=commit,
        dirty=dirty,
        rev=rev,
        rev_commit=rev_commit,
        rev_has_metrics=bool(rev_metrics),
        primary_metric=primary,
        metrics=metric_rows(
            metrics, rev_metrics, primary, project.metric_directions([*metrics, *rev_metrics])
        ),
        params=[(name, describe_value(value)) for name, value in flatten(project.params()).items()],
        images=images,
        plot_data=plot_data,
    )


def metric_rows(
    workspace: dict[str, Any],
    at_rev: dict[str, Any],
    primary: str,
    directions: dict[str, str] | None = None,
) -> list[MetricRow]:
    """One row per metric in either, the primary metric first; `directions` says which
    metrics are better lower (maximize when not given)."""
    names = list(workspace) + [name for name in at_rev if name not in workspace]
    names.sort(key=lambda name: name != primary)  # stable: keeps DVC's order otherwise
    rows = []
    for name in names:
        value: Any = workspace.get(name)
        old: Any = at_rev.get(name)
        change = round(value - old, 12) if _is_number(value) and _is_number(old) else None
        direction = (directions or {}).get(name, MAXIMIZE)
        rows.append(MetricRow(name, value, old, change, name == primary, direction))
    return rows


def describe_value(value: Any) -> str:
    """A param's value in one short cell: long lists become "30 items"."""
    if isinstance(value, list | tuple):
        if len(value) > LIST_ITEMS_SHOWN:
            return f"{len(value)} items"
        return "[" + ", ".join(describe_value(item) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def show_value(value: Any) -> str:
    """A metric's cell: numbers in the one metric format, "—" when missing."""
    if value is None:
        return "—"
    return format_number(value) if isinstance(value, float) else describe_value(value)


def show_change(row: MetricRow) -> str:
    """The change cell: signed, and whether it is better in the metric's direction."""
    if row.change is None:
        return "—"
    verdict = "" if row.better is None else " better" if row.better else " worse"
    return format_change(row.change) + verdict


# -- reading the repository ------------------------------------------------------------


def _inspect_repo(root: Path, rev: str) -> tuple[str | None, bool, str, list[tuple[str, Any]]]:
    """HEAD's sha, whether tracked files changed, `rev` resolved, and the plot outputs."""
    from dvc.scm import NoSCM, RevError, resolve_rev

    from mlopsctl.core.dvcrepo import open_repo

    with open_repo(root) as repo:
        scm = repo.scm
        if isinstance(scm, NoSCM):
            raise EnvironmentProblem(
                f"{root} is not a git repository", "mlopsctl projects live in git: run `git init`"
            )
        try:
            rev_commit = resolve_rev(scm, rev)
        except RevError as exc:
            raise BadInput(
                f"unknown revision {rev!r}", "pass a commit, branch, tag or experiment to --rev"
            ) from exc
        commit = scm.get_rev()
        dirty = bool(scm.is_dirty(untracked_files=False))
        outs = [
            (out.fs_path, out.plot)
            for out in repo.index.outs
            if out.plot and out.fs_path.startswith(str(root))
        ]
    return commit, dirty, rev_commit, outs


def _plots(root: Path, outs: list[tuple[str, Any]]) -> tuple[list[str], list[PlotData]]:
    images: list[str] = []
    data: list[PlotData] = []
    for fs_path, props in outs:
        path = Path(fs_path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            rel = file.relative_to(root).as_posix()
            suffix = file.suffix.lower()
            if suffix in IMAGE_TYPES and file.is_file():
                images.append(rel)
            elif suffix in DATA_TYPES and file.is_file():
                data.append(_plot_data(file, rel, props if isinstance(props, dict) else {}))
    return images, data


def _plot_data(file: Path, rel: str, props: dict[str, Any]) -> PlotData:
    with file.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter=DATA_TYPES[file.suffix.lower()])
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    confusion = None
    x, y = props.get("x"), props.get("y")
    if props.get("template") in CONFUSION_TEMPLATES and x in columns and y in columns:
        confusion = _confusion((row[y], row[x]) for row in rows)
    return PlotData(rel, len(rows), columns, confusion)


def _confusion(pairs: Iterable[tuple[str, str]]) -> ConfusionMatrix:
    counts: dict[tuple[str, str], int] = {}
    for pair in pairs:
        counts[pair] = counts.get(pair, 0) + 1
    labels = sorted({label for pair in counts for label in pair}, key=_label_order)
    matrix = [[counts.get((actual, pred), 0) for pred in labels] for actual in labels]
    return ConfusionMatrix(labels, matrix)


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _project_name(project: Project) -> str:
    """The name `mlopsctl init` gave the project (copier's answers), else the folder's."""
    import yaml

    answers = project.root / ".copier-answers.yml"
    if answers.is_file():
        loaded = yaml.safe_load(answers.read_text(encoding="utf-8"))
        if isinstance(loaded, dict) and loaded.get("project_name"):
            return str(loaded["project_name"])
    return project.root.name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- rendering -----------------------------------------------------------------------------


def _commit_line(report: Report) -> str:
    if report.commit is None:
        return "no commit yet"
    state = " with uncommitted changes" if report.dirty else ""
    return f"commit {report.commit[:8]}{state}"


def _rev_label(report: Report) -> str:
    return f"{report.rev} ({report.rev_commit[:8]})"


def _metric_header(report: Report) -> list[str]:
    if not report.rev_has_metrics:
        return ["Metric", "Workspace"]
    return ["Metric", "Workspace", report.rev, "Change"]


def _metric_cells(report: Report, row: MetricRow) -> list[str]:
    cells = [show_value(row.value)]
    if report.rev_has_metrics:
        cells += [show_value(row.rev_value), show_change(row)]
    return cells


def _md(text: str) -> str:
    """Text for a Markdown table cell: no HTML, no column breaks, one line."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(_md(cell) for cell in header) + " |"]
    lines.append("| " + " | ".join(align) + " |")
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: Report, output_dir: Path) -> str:
    """The report for a CI comment; images are linked relative to `output_dir`."""
    lines = [f"# Model report: {_md(report.project)}", ""]
    lines.append(f"{_md(_commit_line(report))}; metrics compared with {_md(_rev_label(report))}")
    lines += ["", "## Metrics", ""]
    if not report.rev_has_metrics:
        lines += [f"{_md(report.rev)} has no metrics to compare with.", ""]
    rows = []
    for row in report.metrics:
        name = f"{row.name} (primary)" if row.primary else row.name
        rows.append([name, *_metric_cells(report, row)])
    lines += _md_table(_metric_header(report), rows)
    lines += ["", "## Params", ""]
    lines += _md_table(["Param", "Value"], [[k, v] for k, v in report.params], numeric_from=2)
    if report.images or report.plot_data:
        lines += ["", "## Plots"]
    for image in report.images:
        link = Path(os.path.relpath(report.root / image, output_dir)).as_posix()
        lines += ["", f"![{_md(image)}]({_md(link).replace(' ', '%20')})"]
    for data in report.plot_data:
        lines += ["", f"**{_md(data.path)}**: {_data_summary(data)}"]
        if data.confusion is not None:
            lines += ["", *_md_table(*_confusion_table(data.confusion))]
    return "\n".join(lines) + "\n"


def _data_summary(data: PlotData) -> str:
    return f"{data.rows} rows ({', '.join(data.columns)})"


def _confusion_table(matrix: ConfusionMatrix) -> tuple[list[str], list[list[str]]]:
    header = ["actual \\ predicted", *matrix.labels]
    rows = [
        [label, *(str(n) for n in counts)]
        for label, counts in zip(matrix.labels, matrix.counts, strict=True)
    ]
    return header, rows


# The page loads nothing from outside: the CSP forbids it, so a stray URL cannot phone home.
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
.meta { color: #59636e; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.primary td { font-weight: 600; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; } figure img { max-width: 100%; border: 1px solid #d0d7de; }
figcaption { color: #59636e; font-size: .85rem; }
code { font-family: ui-monospace, monospace; }
"""
# counts the images that decoded, for tests and for anyone checking a page by script
_SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) loaded++;
  }
  document.body.dataset.imagesLoaded = String(loaded);
  document.body.dataset.imagesTotal = String(images.length);
});
"""


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_table(
    header: list[str], rows: list[tuple[list[str], str]], numeric_from: int = 1, table_id: str = ""
) -> str:
    """rows are (cells, the row's class)."""
    head = "".join(f"<th>{_h(cell)}</th>" for cell in header)
    body = []
    for cells, css in rows:
        tds = "".join(
            f'<td class="num">{_h(c)}</td>' if i >= numeric_from else f"<td>{_h(c)}</td>"
            for i, c in enumerate(cells)
        )
        body.append(f'<tr class="{_h(css)}">{tds}</tr>' if css else f"<tr>{tds}</tr>")
    opening = f'<table id="{_h(table_id)}">' if table_id else "<table>"
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report) -> str:
    """One self-contained page: every image inline as a data: URI, nothing loaded from outside."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_h(_CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Model report: {_h(report.project)}</title>",
        f"<style>{_CSS}</style>",
        f"<script>{_SCRIPT}</script>",
        "</head><body>",
        f"<h1>Model report: {_h(report.project)}</h1>",
        f'<p class="meta">{_h(_commit_line(report))}; metrics compared with '
        f"<code>{_h(_rev_label(report))}</code></p>",
        "<h2>Metrics</h2>",
    ]
    if not report.rev_has_metrics:
        parts.append(f"<p>{_h(report.rev)} has no metrics to compare with.</p>")
    rows = []
    for row in report.metrics:
        name = f"{row.name} (primary)" if row.primary else row.name
        rows.append(([name, *_metric_cells(report, row)], "primary" if row.primary else ""))
    parts.append(_html_table(_metric_header(report), rows, table_id="metrics"))
    parts.append("<h2>Params</h2>")
    params = [([k, v], "") for k, v in report.params]
    parts.append(_html_table(["Param", "Value"], params, numeric_from=2, table_id="params"))
    if report.images or report.plot_data:
        parts.append("<h2>Plots</h2>")
    if report.images:
        parts.append('<div class="plots">')
        for image in report.images:
            parts.append(
                f'<figure><img alt="{_h(image)}" src="{_data_uri(report.root / image)}">'
                f"<figcaption>{_h(image)}</figcaption></figure>"
            )
        parts.append("</div>")
    for data in report.plot_data:
        parts.append(f"<p><code>{_h(data.path)}</code>: {_h(_data_summary(data))}</p>")
        if data.confusion is not None:
            header, cm_rows = _confusion_table(data.confusion)
            parts.append(_html_table(header, [(cells, "") for cells in cm_rows]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _data_uri(path: Path) -> str:
    mime = IMAGE_TYPES[path.suffix.lower()]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
