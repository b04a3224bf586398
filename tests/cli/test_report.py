"""`mlopsctl report` on real projects: the files, the comparison with a rev, a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from mlopsctl.core.pipeline.metrics import format_change, format_number
from tests.cli.test_init import assert_one_line_error
from tests.conftest import dvc, git, mlopsctl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IMAGES = ["plots/images/confusion_matrix.png", "plots/images/roc_curve.png"]


def report_json(*args: str, cwd: Path) -> dict:
    proc = mlopsctl("report", "--json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_report_writes_markdown_and_html_into_reports(trained_project: Path) -> None:
    proc = mlopsctl("report", cwd=trained_project / "src")  # from anywhere inside the project
    assert proc.returncode == 0, proc.stderr
    assert "report.md" in proc.stdout and "report.html" in proc.stdout
    md = (trained_project / "reports/report.md").read_text()
    page = (trained_project / "reports/report.html").read_text()
    metrics = json.loads((trained_project / "metrics.json").read_text())
    head = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    assert f"commit {head[:8]};" in md and "uncommitted" not in md
    # the workspace is HEAD: every change is 0
    f1 = format_number(metrics["f1"])
    assert f"| f1 (primary) | {f1} | {f1} | 0 |" in md
    for name, value in metrics.items():
        assert format_number(value) in md and format_number(value) in page, name
    assert "| data.features.numeric | 30 items |" in md
    assert "| model._target_ | sklearn.linear_model.LogisticRegression |" in md
    for image in IMAGES:
        assert f"](../{image})" in md and (trained_project / "reports" / ".." / image).is_file()
    assert "| actual \\ predicted | 0 | 1 |" in md
    assert page.count('src="data:image/png;base64,') == 2
    assert not re.search(r"https?://", page)
    # generated, so ignored by git; and the same inputs write the same bytes
    assert git("status", "--porcelain", cwd=trained_project).stdout == ""
    before = (trained_project / "reports/report.html").read_bytes()
    assert mlopsctl("report", cwd=trained_project).returncode == 0
    assert (trained_project / "reports/report.html").read_bytes() == before


def test_json_says_where_the_files_went_and_the_metrics(
    trained_template: Path, tmp_path: Path
) -> None:
    result = report_json("--output", str(tmp_path / "out"), cwd=trained_template)
    assert result["markdown"] == str(tmp_path / "out/report.md")
    assert result["html"] == str(tmp_path / "out/report.html")
    assert Path(result["markdown"]).is_file() and Path(result["html"]).is_file()
    metrics = json.loads((trained_template / "metrics.json").read_text())
    assert {name: row["value"] for name, row in result["metrics"].items()} == metrics
    assert all(row["change"] == 0 for row in result["metrics"].values())
    assert result["primary_metric"] == "f1" and result["dirty"] is False
    assert result["images"] == IMAGES
    # Markdown links reach the images from wherever the report was written
    md = Path(result["markdown"]).read_text()
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert (tmp_path / "out" / link).resolve().is_file(), link


@pytest.mark.slow
def test_change_column_against_a_rev_whose_metrics_differ(trained_project: Path) -> None:
    params = yaml.safe_load((trained_project / "params.yaml").read_text())
    params["model"]["C"] = 0.001
    (trained_project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc("repro", cwd=trained_project)
    new = json.loads((trained_project / "metrics.json").read_text())
    old = json.loads(git("show", "HEAD:metrics.json", cwd=trained_project).stdout)
    assert new != old

    result = report_json(cwd=trained_project)
    assert result["dirty"] is True and result["rev"] == "HEAD"
    for name, row in result["metrics"].items():
        assert (row["value"], row["rev_value"]) == (new[name], old[name])
        assert row["change"] == pytest.approx(new[name] - old[name])
    assert any(row["change"] != 0 for row in result["metrics"].values())
    md = (trained_project / "reports/report.md").read_text()
    assert "with uncommitted changes" in md
    assert "| model.C | 0.001 |" in md
    change = format_change(new["f1"] - old["f1"])
    verdict = "better" if new["f1"] > old["f1"] else "worse"
    row = f"| f1 (primary) | {format_number(new['f1'])} | {format_number(old['f1'])} | {change}"
    assert f"{row} {verdict} |" in md

    # committed, the same comparison is with the commit before
    git("commit", "-qam", "C=0.001", cwd=trained_project)
    again = report_json("--rev", "HEAD~1", cwd=trained_project)
    assert again["metrics"] == result["metrics"] and again["dirty"] is False


@pytest.mark.slow
def test_no_metrics_yet_then_no_change_column_against_a_rev_without_them(project: Path) -> None:
    proc = mlopsctl("report", cwd=project)
    assert_one_line_error(proc, 2)
    assert "no metrics yet" in proc.stderr and "dvc repro" in proc.stderr
    assert not (project / "reports").exists()

    dvc("repro", cwd=project)
    result = report_json(cwd=project)
    assert all(row["rev_value"] is None for row in result["metrics"].values())
    md = (project / "reports/report.md").read_text()
    assert "HEAD has no metrics to compare with." in md
    assert "| Metric | Workspace |\n" in md and "Change" not in md


def test_outside_a_project_is_an_environment_error(tmp_path: Path) -> None:
    proc = mlopsctl("report", cwd=tmp_path)
    assert_one_line_error(proc, 3)
    assert "not inside an mlopsctl project" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_rev_and_a_file_as_output_are_bad_input(
    trained_template: Path, tmp_path: Path
) -> None:
    proc = mlopsctl(
        "report", "--rev", "no-such-rev", "--output", str(tmp_path), cwd=trained_template
    )
    assert_one_line_error(proc, 2)
    assert "unknown revision 'no-such-rev'" in proc.stderr
    (tmp_path / "file").write_text("mine")
    proc = mlopsctl("report", "--output", str(tmp_path / "file"), cwd=trained_template)
    assert_one_line_error(proc, 2)
    assert (tmp_path / "file").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# -- a real browser ------------------------------------------------------------------------


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class TableCells(HTMLParser):
    """The text of every cell of the table with id `table_id`, row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows = table_id, False, []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_html_renders_offline_in_a_real_browser(trained_template: Path, tmp_path: Path) -> None:
    result = report_json("--output", str(tmp_path / "out"), cwd=trained_template)
    url = Path(result["html"]).as_uri()

    dom = chromium(
        "--virtual-time-budget=5000", "--dump-dom", url, profile=tmp_path / "profile"
    ).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:2000]
    # the page's own script counted the images that decoded (naturalWidth > 0) on load
    assert 'data-images-loaded="2"' in body.group(0), body.group(0)
    assert 'data-images-total="2"' in body.group(0)
    cells = TableCells("metrics")
    cells.feed(dom)
    assert cells.rows[0] == ["Metric", "Workspace", "HEAD", "Change"]
    metrics = json.loads((trained_template / "metrics.json").read_text())
    shown = {row[0].removesuffix(" (primary)"): row[1:] for row in cells.rows[1:]}
    assert shown == {name: [format_number(v), format_number(v), "0"] for name, v in metrics.items()}

    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", url, profile=tmp_path / "profile")
    from PIL import Image

    with Image.open(shot) as image:
        image.load()
        assert image.format == "PNG" and image.size == (1200, 1600)
        grey = image.convert("L")
        low, high = grey.getextrema()
        assert low < 64 and high > 200, "the page drew dark text on a light background"
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        # text alone is greys; the matplotlib plots bring many colours
        assert len(colours) > 100
