"""`monitor drift --report DIR`: an offline HTML page and PNG histograms (reference vs
current) for the drifted columns."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.files import write_atomic
from mlopsctl.core.monitor.drift import DriftResult

if TYPE_CHECKING:
    import pandas as pd

TOP_CATEGORIES = 15


def write_report(
    result: DriftResult, reference: dict[str, Any], current: pd.DataFrame, out: Path
) -> Path:
    """Write DIR/drift.html and DIR/<column>.png; the page's path."""
    images: dict[str, str] = {}
    for column in result.columns:
        if column.drifted and not current[column.column].dropna().empty:
            name = f"{_slug(column.column)}.png"
            png = _plot(column.column, column.kind, reference["columns"][column.column], current)
            if png is not None:
                write_atomic(out / name, png)
                images[column.column] = name
    page = out / "drift.html"
    write_atomic(page, _page(result, images))
    return page


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "column"


def _plot(name: str, kind: str, stats: dict[str, Any], current: pd.DataFrame) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from mlopsctl.core.data.profile import category_keys
    from mlopsctl.core.monitor.stats import reference_quantiles

    values = current[name].dropna()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    try:
        if kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
            numbers = numbers[np.isfinite(numbers)]
            ref_q = reference_quantiles(stats)
            if numbers.size == 0:
                return None
            low = float(min(ref_q.min(), numbers.min()))
            high = float(max(ref_q.max(), numbers.max()))
            bins = np.linspace(low, high, 31).tolist() if high > low else [low - 0.5, low + 0.5]
            # the reference's 100 quantiles each hold 1% of its values
            ax.hist(ref_q, bins=bins, density=True, alpha=0.5, label="reference")
            ax.hist(numbers, bins=bins, density=True, alpha=0.5, label="current")
        else:
            frequencies: dict[str, float] = stats.get("frequencies") or {}
            shares = category_keys(values).value_counts(normalize=True)
            names = list(dict.fromkeys([*frequencies, *map(str, shares.index)]))[:TOP_CATEGORIES]
            x = np.arange(len(names))
            ax.bar(x - 0.2, [frequencies.get(n, 0.0) for n in names], 0.4, label="reference")
            ax.bar(x + 0.2, [float(shares.get(n, 0.0)) for n in names], 0.4, label="current")
            ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_title(name)
        ax.legend()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _page(result: DriftResult, images: dict[str, str]) -> str:
    esc = html.escape
    verdict = "Dataset drift" if result.dataset_drift else "No dataset drift"
    rows = []
    for c in result.columns:
        score = "-" if c.score is None else f"{c.score:.4g}"
        mark = "<b class=bad>drift</b>" if c.drifted else "ok"
        rows.append(
            f"<tr><td>{esc(c.column)}</td><td>{c.kind}</td><td>{c.method}</td>"
            f"<td>{score}</td><td>{c.threshold:.4g}</td><td>{mark}</td>"
            f"<td>{esc(c.note)}</td></tr>"
        )
    figures = "".join(
        f'<figure><img src="{esc(src)}" alt="{esc(col)}"><figcaption>{esc(col)}</figcaption>'
        "</figure>"
        for col, src in images.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift: {esc(result.current)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.bad{{color:#b00}}
figure{{display:inline-block;margin:1em}}</style></head><body>
<h1>{verdict}</h1>
<p>{len(result.drifted_columns)} of {len(result.columns)} columns drifted
(share {result.share:.2f}, dataset drift at &ge; {result.share_threshold:g}).
Reference: {esc(result.reference)} ({result.rows_reference} rows).
Current: {esc(result.current)} ({result.rows_current} rows, {result.rows_compared} compared).</p>
<table><tr><th>column</th><th>type</th><th>method</th><th>score</th><th>threshold</th>
<th>drifted</th><th>note</th></tr>
{"".join(rows)}
</table>
{figures}
</body></html>
"""
