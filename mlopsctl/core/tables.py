"""Reading a dataset (CSV or Parquet) into pandas, with errors that name the file and why."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl.errors import BadInput, EnvironmentProblem

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
    try:
        if name.endswith(PARQUET_SUFFIXES):
            frame = pd.read_parquet(path)
        else:
            sep = "\t" if ".tsv" in name else ","
            frame = pd.read_csv(path, sep=sep)
    except ImportError as exc:
        raise EnvironmentProblem(
            f"reading {path} needs a Parquet engine: {exc}", "pip install pyarrow"
        ) from exc
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # pandas, pyarrow and codecs each raise their own kinds
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(
            f"cannot read {path}: {reason}",
            "check that the file is complete and in the format its name says",
        ) from exc
    if not isinstance(frame, pd.DataFrame):  # pragma: no cover - read_* return frames
        raise BadInput(f"{path} did not read as a table", "give a CSV or Parquet file")
    return frame
