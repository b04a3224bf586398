"""Schemas: inferred tight enough to catch real problems, loose enough for the next sample."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlopsctl.core.data.schema import infer_schema, load_schema, render_schema, validate_frame
from mlopsctl.core.data.tables import read_table
from mlopsctl.errors import BadInput
from tests.conftest import run


def sample(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 0.5, n),
            "delta": rng.normal(0, 1, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "comment": [f"free text {i}" for i in range(n)],
            "score": rng.normal(50, 10, n),
        }
    )
    frame.loc[::17, "score"] = np.nan
    return frame


def schema_file(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(render_schema(infer_schema(frame, "data/x.csv", "x")))
    return path


def test_inferred_schema_is_tightened(tmp_path: Path) -> None:
    spec = yaml.safe_load(schema_file(tmp_path, sample(300, 0)).read_text())
    assert spec["strict"] is True and spec["coerce"] is False
    cols = spec["columns"]
    assert cols["colour"] == {"dtype": "str", "isin": ["blue", "green", "red"], "nullable": False}
    assert cols["comment"] == {"dtype": "str", "nullable": False}  # mostly distinct: no isin
    assert cols["score"]["nullable"] is True and cols["age"]["nullable"] is False
    # never negative in the data: the bound keeps the sign; the top is widened
    assert (
        cols["age"]["greater_than_or_equal_to"] == 0 and cols["age"]["less_than_or_equal_to"] > 89
    )
    assert (
        cols["delta"]["greater_than_or_equal_to"] < -3 < 3 < cols["delta"]["less_than_or_equal_to"]
    )


def test_a_new_sample_of_the_same_data_passes(tmp_path: Path) -> None:
    schema = load_schema(schema_file(tmp_path, sample(300, 0)))
    assert validate_frame(sample(3000, 1), schema) == []


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    schema = load_schema(schema_file(tmp_path, sample(300, 0)))
    bad = sample(50, 2).drop(columns=["comment"]).assign(extra=1)
    bad.loc[3, "colour"] = "purple"
    bad.loc[[4, 5], "age"] = -1
    bad.loc[6, "income"] = np.nan
    bad["delta"] = bad["delta"].astype(str)
    found = {(f.column, f.check): f for f in validate_frame(bad, schema)}
    assert found[("comment", "missing column")].count == 1
    assert found[("extra", "unexpected column")].count == 1
    assert found[("colour", "isin(['blue', 'green', 'red'])")].examples == ["purple"]
    age = found[("age", "greater_than_or_equal_to(0)")]
    assert (age.count, age.rows, age.examples) == (2, [4, 5], [-1])
    assert found[("income", "not_nullable")].rows == [6]
    assert any(column == "delta" and "dtype" in check for column, check in found)


BLOCK_PYARROW = "import sys; sys.modules['pyarrow'] = None\n"
VALIDATE_CSV = """
from pathlib import Path
from mlopsctl.core.data.schema import load_schema, validate_frame
from mlopsctl.core.data.tables import read_table
import pandas as pd
frame = read_table(Path("d.csv"))
print(frame["c"].dtype.storage, validate_frame(frame, load_schema(Path("s.yaml"))))
"""


@pytest.mark.parametrize("pyarrow", ["with pyarrow", "without pyarrow"])
def test_string_columns_load_and_validate_with_or_without_pyarrow(
    tmp_path: Path, pyarrow: str
) -> None:
    """pandas' default `str` is backed by pyarrow when it is installed, else by Python."""
    if pyarrow == "with pyarrow":
        pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"c": ["a", "b", None] * 5})
    frame.to_csv(tmp_path / "d.csv", index=False)
    schema_file(tmp_path, frame)
    assert "string[" not in (tmp_path / "s.yaml").read_text()
    code = (BLOCK_PYARROW if pyarrow == "without pyarrow" else "") + VALIDATE_CSV
    out = run([sys.executable, "-c", code], tmp_path, check=True).stdout
    assert out.strip().endswith("[]"), out
    assert ("pyarrow" in out) == (pyarrow == "with pyarrow"), out


def test_parquet_and_csv_read_alike(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    frame = sample(20, 0)
    frame.to_parquet(tmp_path / "d.parquet")
    frame.to_csv(tmp_path / "d.csv", index=False)
    schema = load_schema(schema_file(tmp_path, read_table(tmp_path / "d.csv")))
    assert validate_frame(read_table(tmp_path / "d.parquet"), schema) == []


def test_parquet_pandas_dtypes_pass_their_own_schema(tmp_path: Path) -> None:
    """What Parquet keeps of pandas: categories, nullable booleans and integers, zoned
    timestamps. The inferred schema takes the data it was inferred from, and still catches
    a new category."""
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "island": pd.Categorical(["Biscoe", "Dream", "Dream", None]),
            "heavy": pd.array([True, False, None, True], dtype="boolean"),
            "year": pd.array([2007, 2008, 2009, 2009], dtype="Int64"),
            "seen": pd.date_range("2020-01-01", periods=4, freq="h", tz="UTC"),
        }
    )
    frame.to_parquet(tmp_path / "p.parquet")
    data = read_table(tmp_path / "p.parquet")
    schema_path = schema_file(tmp_path, data)
    spec = yaml.safe_load(schema_path.read_text())["columns"]
    assert spec["island"]["dtype"] == "category" and spec["heavy"]["dtype"] == "boolean"
    schema = load_schema(schema_path)
    assert validate_frame(data, schema) == []
    data["island"] = pd.Categorical(["Biscoe", "Dream", "Torgersen", None])
    assert [f.column for f in validate_frame(data, schema)] == ["island"]


@pytest.mark.parametrize(
    ("name", "content"),
    [("d.parquet", b"PAR1 this is not parquet"), ("d.csv", b""), ("d.csv.gz", b"not gzip")],
)
def test_a_corrupt_file_is_bad_input_naming_it(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(BadInput) as err:
        read_table(tmp_path / name)
    assert name in err.value.message and "cannot read" in err.value.message


def test_a_broken_schema_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("columns:\n  a:\n    dtype: no_such_type\n")
    with pytest.raises(BadInput, match="not a valid pandera schema"):
        load_schema(path)
