"""URLs as mlopsctl records or prints them: never with the credentials a user put in them
(`https://user:token@host/repo.git` -> `https://host/repo.git`)."""

from __future__ import annotations

import re

# the userinfo of a URL with a scheme: everything between `://` and the last `@` before the
# host ends (no `/`, whitespace or quote in it)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")


def without_credentials(text: str) -> str:
    """`text` (a URL, or a message naming URLs) with every URL's user and password removed."""
    return _USERINFO.sub(r"\g<scheme>", text)
