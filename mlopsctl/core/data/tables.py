"""Reading a dataset (CSV or Parquet) into pandas, with errors that name the file and why."""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mlopsctl.errors import BadInput, EnvironmentProblem, MlopsctlError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES


def is_table(path: Path) -> bool:
    return path.name.lower().endswith(TABLE_SUFFIXES)


def read_table(path: Path) -> pd.DataFrame:
    """The dataset at `path`; a missing, unknown, corrupt or unreadable file is BadInput."""
    import pandas as pd

    name = _check_table(path)
    try:
        if name.endswith(PARQUET_SUFFIXES):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, **csv_dialect(path).read_csv_options())
    except MemoryError:
        raise
    except Exception as exc:
        raise _read_error(path, exc) from exc
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - read_* return frames
        raise BadInput(f"{path} did not read as a table", "give a CSV or Parquet file")
    return frame


def iter_table(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The dataset at `path` in pieces of about `rows` rows: memory stays bounded."""
    import pandas as pd

    name = _check_table(path)
    try:
        if name.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                for batch in parquet.iter_batches(batch_size=rows):
                    yield batch.to_pandas()
        else:
            options = csv_dialect(path).read_csv_options()
            with pd.read_csv(path, chunksize=rows, **options) as reader:
                yield from reader
    except MemoryError:
        raise
    except Exception as exc:
        raise _read_error(path, exc) from exc


def _check_table(path: Path) -> str:
    name = path.name.lower()
    if not path.exists():
        raise BadInput(f"{path}: no such file", "check the path (is the data pulled? `dvc pull`)")
    if not path.is_file():
        raise BadInput(f"{path} is not a file", "give a CSV or Parquet file")
    if not name.endswith(TABLE_SUFFIXES):
        raise BadInput(
            f"{path}: cannot tell the format from the name",
            f"give a file ending in one of {', '.join(TABLE_SUFFIXES)}",
        )
    if name.endswith((".csv", ".tsv")):
        _check_header(path)
    return name


MAX_HEADER_BYTES = 1 << 20


def _check_header(path: Path) -> None:
    """A CSV whose first line runs past 1 MiB is not a table a person made: refuse it before
    pandas tries to hold it (a 300 MB one-line file took 11.5 GB and a minute)."""
    with open(path, "rb") as fh:
        head = fh.read(MAX_HEADER_BYTES + 1)
    if len(head) > MAX_HEADER_BYTES and b"\n" not in head:
        raise BadInput(
            f"{path}: the first line is longer than {MAX_HEADER_BYTES >> 20} MiB: not a CSV "
            "header (one huge line, or not a text table)",
            "give a CSV with one header line of column names, then one line per row",
        )


SEPARATORS = (",", ";", "\t", "|")
DIALECT_SAMPLE_CHARS = 1 << 16
# a number written with a decimal comma (3,5) or point (3.5, .5, 1e-3 with a point)
DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
# read as missing besides pandas' own markers (NA, N/A, null, ...): `?`, as UCI's files write
# a missing value (` ?` after a comma and a space)
MISSING_MARKERS = ("?", " ?")


@dataclass(frozen=True)
class CsvDialect:
    """How a text table separates its fields and writes its decimals."""

    sep: str = ","
    decimal: str = "."

    def read_csv_options(self) -> dict[str, Any]:
        return {"sep": self.sep, "decimal": self.decimal, "na_values": list(MISSING_MARKERS)}

    def describe(self) -> str:
        shown = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[self.sep]
        comma = ", decimal comma" if self.decimal == "," else ""
        return f"{shown}-separated{comma}"


def open_text(path: Path) -> IO[str]:
    """The file as UTF-8 text (a UTF-8 byte-order mark skipped), gunzipped for `.gz`."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def csv_dialect(path: Path) -> CsvDialect:
    """The dialect of the CSV/TSV at `path`, told from its first lines. `.tsv` is tab-separated.
    For `.csv`, the separator is the one of `,` `;` tab `|` that splits the header into the
    most fields (a tie goes to the comma), as Excel writes `;` where the decimal mark is a
    comma. With a separator other than the comma, numbers that are all written `3,5` (none
    `3.5`) mean a decimal comma. The project's own `read_raw` decides the same way.
    A file that is not UTF-8 text raises UnicodeDecodeError."""
    name = path.name.lower()
    with open_text(path) as fh:
        text = fh.read(DIALECT_SAMPLE_CHARS)
    lines = text.splitlines()
    if len(text) == DIALECT_SAMPLE_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    if not lines:
        return CsvDialect("\t" if ".tsv" in name else ",")
    if ".tsv" in name:
        sep = "\t"
    else:
        fields = {s: len(next(csv.reader([lines[0]], delimiter=s), [])) for s in SEPARATORS}
        sep = max(SEPARATORS, key=lambda s: (fields[s], s == ","))
    if sep == ",":
        return CsvDialect(",")
    commas = points = 0
    for row in csv.reader(lines[1:], delimiter=sep):
        for value in row:
            value = value.strip()
            if DECIMAL_COMMA.fullmatch(value):
                commas += 1
            elif DECIMAL_POINT.fullmatch(value):
                points += 1
    return CsvDialect(sep, "," if commas and not points else ".")


def _read_error(path: Path, exc: Exception) -> MlopsctlError:
    """What a failed read means for the user."""
    if isinstance(exc, ImportError):
        return EnvironmentProblem(
            f"reading {path} needs a Parquet engine: {exc}", "pip install pyarrow"
        )
    # pandas, pyarrow and codecs each raise their own kinds
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BadInput(
        f"cannot read {path}: {reason}",
        "check that the file is complete and in the format its name says",
    )
