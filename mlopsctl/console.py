"""The one place that talks to the terminal.

rich honours NO_COLOR and TERM=dumb by itself; output that is not a TTY gets no
colour and no live progress.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _width() -> int | None:
    """Not a terminal (CI logs, pipes): tables get room instead of rich's 80 columns."""
    import os
    import sys

    if sys.stdout.isatty():
        return None
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 120


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False, width=_width())


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_error(message: str, hint: str | None = None) -> None:
    from rich.markup import escape

    err = err_console()
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)
