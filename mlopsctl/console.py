"""The one place that talks to the terminal.

rich honours NO_COLOR and TERM=dumb by itself; output that is not a TTY gets no
colour and no live progress.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


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
