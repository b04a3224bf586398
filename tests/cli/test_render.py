"""cli.render: the change colours follow the metric's direction."""

from __future__ import annotations

from mlopsctl.cli.render import delta, fmt, metrics_table


def test_green_means_better_in_the_metrics_direction() -> None:
    assert delta(0.9, 0.8) == "[green]+0.1[/]"
    assert delta(0.9, 0.8, "minimize") == "[red]+0.1[/]"
    assert delta(1.5, 2.0, "minimize") == "[green]-0.5[/]"
    assert delta(2.0, 2.0, "minimize") == "[dim]0[/]"
    assert fmt(0.973684) == "0.9737" and fmt(12345.6) == "12346" and fmt(None) == "-"


def test_the_metrics_table_marks_metrics_to_minimize() -> None:
    from rich.console import Console

    table = metrics_table(
        {"rmse": 1.0, "r2": 0.9},
        [("HEAD", {"rmse": 2.0, "r2": 0.8})],
        "rmse",
        {"rmse": "minimize", "r2": "maximize"},
    )
    console = Console(width=120, record=True, color_system="standard", force_terminal=True)
    console.print(table)
    text = console.export_text(styles=True)
    rmse = next(line for line in text.splitlines() if "rmse" in line)
    r2 = next(line for line in text.splitlines() if " r2 " in line)
    assert "lower is better" in rmse and "\x1b[32m-1" in rmse  # down: green
    assert "lower is better" not in r2 and "\x1b[32m+0.1" in r2
