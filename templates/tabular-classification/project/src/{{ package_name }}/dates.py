"""Date features: the Pipeline pickles `date_parts` by reference: this module travels with the
model, so it imports numpy only (no pandas in the request path)."""

from datetime import date, datetime
from typing import Any

import numpy as np

EPOCH = date(1970, 1, 1)
# each date column becomes these numbers, in this order
DATE_PARTS = ("year", "month", "day_of_week", "days_since_1970")


def _parse(value: Any, fmt: str | None) -> date | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp (NaT is handled above)
        return value.to_pydatetime().date()
    text = str(value).strip()
    if not text or text.lower() in ("nan", "nat", "none"):
        return None
    try:
        parsed = datetime.strptime(text, fmt) if fmt else datetime.fromisoformat(text)
    except ValueError:
        return None  # an unreadable date is a missing one: the imputer fills it
    return parsed.date()


def date_parts(x: Any, formats: list[str | None] | None = None) -> np.ndarray:
    """Dates (one column each, strings in `formats[i]` or date objects) as four numbers per
    column: year, month, day of week (0 = Monday), days since 1970; NaN where missing."""
    array = np.asarray(x, dtype=object)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    formats = formats or [None] * array.shape[1]
    out = np.full((array.shape[0], len(DATE_PARTS) * array.shape[1]), np.nan)
    for j, fmt in enumerate(formats):
        for i, value in enumerate(array[:, j]):
            day = _parse(value, fmt)
            if day is not None:
                k = j * len(DATE_PARTS)
                out[i, k : k + 4] = (day.year, day.month, day.weekday(), (day - EPOCH).days)
    return out
