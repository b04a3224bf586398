"""How a text table is read: the separator and decimal mark told from its first lines (as
Excel writes `;` and `3,5` where the decimal mark is a comma), gzip and a UTF-8 byte-order
mark; and the project's own `read_raw` reads every such file exactly as mlopsctl does."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from mlopsctl.core.data.infer import infer_plan
from mlopsctl.core.data.tables import CsvDialect, csv_dialect, read_table
from mlopsctl.errors import BadInput
from tests.core.data.datasets import customers

TEMPLATE_PARAMS = (
    Path(__file__).parents[3]
    / "templates/tabular-classification/project/src/{{ package_name }}/params.py"
)


def project_read_raw():
    spec = importlib.util.spec_from_file_location("template_params", TEMPLATE_PARAMS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_raw


def write(path: Path, frame: pd.DataFrame, **options) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
            frame.to_csv(fh, index=False, **options)
    else:
        frame.to_csv(path, index=False, **options)
    return path


CASES = {
    "plain.csv": ({}, CsvDialect(",", ".")),
    # UCI's wine quality and bank marketing files: `;` with decimal points
    "semicolon.csv": ({"sep": ";"}, CsvDialect(";", ".")),
    # what Excel writes where the decimal mark is a comma
    "excel.csv": ({"sep": ";", "decimal": ","}, CsvDialect(";", ",")),
    "tabs.tsv": ({"sep": "\t"}, CsvDialect("\t", ".")),
    "tabs-named-csv.csv": ({"sep": "\t"}, CsvDialect("\t", ".")),
    "pipes.csv": ({"sep": "|"}, CsvDialect("|", ".")),
    "excel.csv.gz": ({"sep": ";", "decimal": ","}, CsvDialect(";", ",")),
    "bom.csv": ({"encoding": "utf-8-sig"}, CsvDialect(",", ".")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_dialect_is_told_and_both_readers_agree(tmp_path: Path, name: str) -> None:
    options, expected = CASES[name]
    frame = customers(200)
    path = write(tmp_path / name, frame, **options)
    assert csv_dialect(path) == expected
    ours = read_table(path)
    assert list(ours.columns) == list(frame.columns)
    assert ours["spend"].dtype == "float64"
    assert ours["spend"].tolist() == pytest.approx(frame["spend"].tolist())
    # the project's `prepare` reads the raw data with its own read_raw: the same frame
    pd.testing.assert_frame_equal(project_read_raw()(path), ours)


def test_a_question_mark_is_a_missing_value_to_both_readers(tmp_path: Path) -> None:
    """UCI's files write a missing number as `?` (auto-mpg's horsepower, the heart data's
    `ca`): the column stays numeric."""
    frame = customers(200)
    frame["horsepower"] = frame["spend"].astype(str)
    frame.loc[[3, 50], "horsepower"] = "?"
    path = write(tmp_path / "uci.csv", frame)
    ours = read_table(path)
    assert ours["horsepower"].dtype == "float64"
    assert ours["horsepower"].isna().sum() == 2
    pd.testing.assert_frame_equal(project_read_raw()(path), ours)
    plan, _ = infer_plan(path, "segment")
    assert {d.column: d.kind for d in plan.decisions}["horsepower"] == "numeric"


def test_a_quoted_separator_in_a_comma_header_does_not_fool_it(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text('"a;b";"c;d";e,target\n1;2;3,x\n', encoding="utf-8")
    # the comma splits the header into 2 fields, the semicolon into 3 (quotes aside): `;`
    assert csv_dialect(path).sep == ";"
    path.write_text('"a;b;c",d,target\n"1;2;3",4,x\n', encoding="utf-8")
    assert csv_dialect(path) == CsvDialect(",", ".")


def test_init_reads_an_excel_csv_and_says_so(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.csv", customers(300), sep=";", decimal=",")
    plan, _ = infer_plan(path, "segment")
    assert plan.read_as == "semicolon-separated, decimal comma"
    assert {d.column: d.kind for d in plan.decisions}["spend"] == "numeric"
    plain, _ = infer_plan(write(tmp_path / "plain.csv", customers(300)), "segment")
    assert plain.read_as == ""


def test_a_gzipped_csv_is_not_mistaken_for_text_in_another_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv.gz", customers(300))
    plan, _ = infer_plan(path, "segment")
    assert plan.task == "multiclass"


def test_a_latin1_csv_is_still_refused_as_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name;städte;target\nx;München;1\n".encode("latin-1"))
    with pytest.raises(BadInput, match="not UTF-8"):
        infer_plan(path, "target")
