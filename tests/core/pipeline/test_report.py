"""The report's content, rendered from a Report made by hand: tables, escaping, offline HTML."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

from mlopsctl.core.pipeline.report import (
    ConfusionMatrix,
    MetricRow,
    PlotData,
    Report,
    describe_value,
    metric_rows,
    render_html,
    render_markdown,
    show_change,
)


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_report(root: Path, **changes: object) -> Report:
    (root / "plots/images").mkdir(parents=True, exist_ok=True)
    (root / "plots/images/roc curve.png").write_bytes(tiny_png())
    values: dict[str, object] = {
        "project": "demo",
        "root": root,
        "commit": "0123456789abcdef" * 2 + "01234567",
        "dirty": False,
        "rev": "HEAD",
        "rev_commit": "fedcba9876543210" * 2 + "76543210",
        "rev_has_metrics": True,
        "primary_metric": "f1",
        "metrics": metric_rows({"f1": 0.9, "accuracy": 0.8}, {"f1": 0.85, "accuracy": 0.8}, "f1"),
        "params": [("model.C", "1.0"), ("data.features.numeric", "30 items")],
        "images": ["plots/images/roc curve.png"],
        "plot_data": [
            PlotData(
                "plots/confusion.csv",
                10,
                ["actual", "predicted"],
                ConfusionMatrix(["0", "1"], [[4, 1], [2, 3]]),
            )
        ],
    }
    values.update(changes)
    return Report(**values)  # type: ignore[arg-type]


def test_metric_rows_put_the_primary_first_and_diff_numbers_only() -> None:
    rows = metric_rows(
        {"accuracy": 0.9, "f1": 0.8, "note": "x", "new": 1},
        {"accuracy": 0.85, "f1": 0.8, "note": "y", "gone": 2},
        "f1",
    )
    assert [r.name for r in rows] == ["f1", "accuracy", "note", "new", "gone"]
    assert rows[0] == MetricRow("f1", 0.8, 0.8, 0.0, True)
    assert rows[1].change == 0.05
    assert [r.change for r in rows[2:]] == [None, None, None]
    assert (rows[3].rev_value, rows[4].value) == (None, None)


def test_params_summarise_long_lists() -> None:
    assert describe_value([f"f{i}" for i in range(30)]) == "30 items"
    assert describe_value(["a", "b"]) == "[a, b]"
    assert describe_value([]) == "[]"
    assert describe_value(None) == "null"
    assert describe_value(True) == "true"
    assert describe_value(0.5) == "0.5"


def test_markdown_has_the_tables_and_links_images_relative_to_the_output(tmp_path: Path) -> None:
    report = make_report(tmp_path / "project")
    text = render_markdown(report, tmp_path / "elsewhere" / "out")
    assert "# Model report: demo" in text
    assert "commit 01234567; metrics compared with HEAD (fedcba98)" in text
    assert "| Metric | Workspace | HEAD | Change |" in text
    assert "| f1 (primary) | 0.9 | 0.85 | +0.05 better |" in text
    assert "| accuracy | 0.8 | 0.8 | 0 |" in text
    assert "| data.features.numeric | 30 items |" in text
    assert "![plots/images/roc curve.png](../../project/plots/images/roc%20curve.png)" in text
    assert "| actual \\ predicted | 0 | 1 |" in text
    assert "| 1 | 2 | 3 |" in text


def test_without_rev_metrics_there_is_no_change_column(tmp_path: Path) -> None:
    rows = metric_rows({"f1": 0.9}, {}, "f1")
    report = make_report(tmp_path, rev_has_metrics=False, metrics=rows, dirty=True)
    text = render_markdown(report, tmp_path / "reports")
    assert "| Metric | Workspace |\n" in text and "Change" not in text
    assert "HEAD has no metrics to compare with." in text
    assert "with uncommitted changes" in text
    page = render_html(report)
    assert "<th>Change</th>" not in page and "with uncommitted changes" in page


def test_html_is_self_contained_with_images_inline(tmp_path: Path) -> None:
    report = make_report(tmp_path)
    page = render_html(report)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "src=" not in page.replace('src="data:image/png;base64,', "")
    # the browser itself refuses anything external
    assert "default-src &#x27;none&#x27;; img-src data:;" in page
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert [base64.b64decode(u) for u in uris] == [tiny_png()]
    assert '<table id="metrics">' in page
    assert (
        '<td class="num">0.9</td><td class="num">0.85</td><td class="num">+0.05 better</td>' in page
    )


def test_every_text_is_escaped(tmp_path: Path) -> None:
    nasty = "<script>alert('x')</script> | & \"q\""
    report = make_report(
        tmp_path,
        project=nasty,
        rev="<b>rev</b>",
        metrics=metric_rows({nasty: 1.0}, {nasty: 0.5}, "f1"),
        params=[(nasty, nasty)],
    )
    page = render_html(report)
    assert "<script>alert" not in page and "<b>rev" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; | &amp; &quot;q&quot;" in page
    assert page.count("<script>") == 1  # only the page's own image counter
    text = render_markdown(report, tmp_path / "reports")
    assert "<script>" not in text and "<b>" not in text
    assert (
        "| &lt;script&gt;alert('x')&lt;/script&gt; \\| &amp; \"q\" | 1 | 0.5 | +0.5 better |"
        in text
    )


def test_the_change_column_says_better_in_the_metrics_direction() -> None:
    rows = metric_rows(
        {"rmse": 12000.0, "r2": 0.81}, {"rmse": 12345.6, "r2": 0.8}, "rmse", {"rmse": "minimize"}
    )
    by_name = {row.name: row for row in rows}
    assert by_name["rmse"].better is True and show_change(by_name["rmse"]) == "-345.6 better"
    assert by_name["r2"].direction == "maximize" and show_change(by_name["r2"]) == "+0.01 better"
    worse = metric_rows({"rmse": 2.5}, {"rmse": 2.0}, "rmse", {"rmse": "minimize"})[0]
    assert worse.better is False and show_change(worse) == "+0.5 worse"
