from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlopsctl.core.data.profile import profile_frame, write_profile
from mlopsctl.errors import BadInput


def test_profile_numeric_and_categorical_columns() -> None:
    frame = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, np.nan, 5.0], "c": ["a", "b", "a", None, "a"], "flag": [True] * 5}
    )
    profile = profile_frame(frame, "d.csv")
    assert profile["format"] == "mlopsctl.profile/1" and profile["rows"] == 5
    x = profile["columns"]["x"]
    assert (x["kind"], x["count"], x["missing"], x["unique"]) == ("numeric", 4, 1, 4)
    assert x["mean"] == pytest.approx(2.75) and x["quantiles"]["0.5"] == pytest.approx(2.5)
    assert sum(x["histogram"]["counts"]) == 4 and len(x["histogram"]["edges"]) == 11
    c = profile["columns"]["c"]
    assert c["kind"] == "categorical" and c["missing"] == 1
    assert c["frequencies"] == {"a": 0.75, "b": 0.25} and c["other"] == 0.0
    assert c["top"][0] == {"value": "a", "count": 3}
    assert profile["columns"]["flag"]["kind"] == "categorical"


def test_same_data_same_bytes_and_no_clobbering(tmp_path: Path) -> None:
    frame = pd.DataFrame({"c": ["b", "a"] * 10, "x": range(20)})
    out = tmp_path / "p.json"
    write_profile(profile_frame(frame, "d"), out)
    first = out.read_bytes()
    write_profile(profile_frame(frame.iloc[::-1], "d"), out)  # a profile may be replaced
    assert json.loads(out.read_bytes())["columns"] == json.loads(first)["columns"]
    mine = tmp_path / "mine.json"
    mine.write_text('{"not": "a profile"}')
    with pytest.raises(BadInput, match="not an mlopsctl profile"):
        write_profile(profile_frame(frame, "d"), mine)
    assert mine.read_text() == '{"not": "a profile"}'
