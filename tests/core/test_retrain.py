"""How retrain builds the new raw data file: replace, append, and appending twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlopsctl.core.retrain import _new_raw


def test_replace_keeps_the_bytes_and_append_is_idempotent(tmp_path: Path) -> None:
    raw, new = tmp_path / "raw.csv", tmp_path / "new.csv"
    pd.DataFrame({"x": [1.5, 2.5], "c": ["a", "b"]}).to_csv(raw, index=False)
    rows = pd.DataFrame({"x": [3.5], "c": ["c"]})
    rows.to_csv(new, index=False)
    frame, content = _new_raw(raw, new, rows, append=False)
    assert content == new.read_bytes() and len(frame) == 1
    frame, content = _new_raw(raw, new, rows, append=True)
    assert content is not None and list(frame["c"]) == ["a", "b", "c"]
    raw.write_bytes(content)
    frame, content = _new_raw(raw, new, rows, append=True)
    assert content is None  # these rows are already at the end: nothing to do
    parquet = tmp_path / "new.parquet"
    rows.to_parquet(parquet)
    frame, content = _new_raw(raw, parquet, rows, append=False)
    assert content == b"x,c\n3.5,c\n"  # converted to the raw file's format
