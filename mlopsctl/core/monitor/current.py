"""Reading the data to check for drift: files, folders and the prediction service's log, in
pieces, keeping a uniform random sample of bounded size."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SAMPLE = 500_000
CHUNK_ROWS = 100_000

Progress = Callable[[int], None]


def ignore_progress(rows: int) -> None:
    return None


def is_prediction_log(path: Path) -> bool:
    """The prediction service's log files: predictions-<pid>.jsonl and its rotations .1, .2..."""
    name = path.name.lower()
    return name.endswith(".jsonl") or ".jsonl." in name


def current_files(path: Path) -> list[Path]:
    from mlopsctl.core.data.tables import is_table

    if not path.exists():
        raise BadInput(f"{path}: no such file or folder", "check the --current path")
    if path.is_file():
        return [path]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not p.name.startswith(".") and (is_table(p) or is_prediction_log(p))
    )
    if not found:
        raise BadInput(
            f"{path} holds no data files",
            "give a folder of CSV/Parquet files or the prediction log folder (*.jsonl)",
        )
    return found


def _log_chunks(path: Path, rows: int) -> Iterable[pd.DataFrame]:
    """The feature values of a prediction log (one JSON record a line); plain JSON lines
    without `features` are read as rows too."""
    import json

    import pandas as pd

    batch: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                if not line.endswith("\n"):  # the service may be writing the last line now
                    break
                raise BadInput(
                    f"{path}, line {number}: not a JSON record ({exc})",
                    "give the prediction log written by `mlopsctl serve --prediction-log`",
                ) from exc
            features = record.get("features", record) if isinstance(record, dict) else None
            if not isinstance(features, dict):
                raise BadInput(
                    f"{path}, line {number}: a record without features",
                    "give the prediction log written by `mlopsctl serve --prediction-log`",
                )
            batch.append(features)
            if len(batch) >= rows:
                yield pd.DataFrame.from_records(batch)
                batch = []
    if batch:
        yield pd.DataFrame.from_records(batch)


def read_current(
    path: Path,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    on_progress: Progress = ignore_progress,
) -> tuple[pd.DataFrame, int]:
    """(rows, rows read): every row, or a uniform sample of `sample` rows when there are more.
    Files are read in pieces and only the sample is kept, so memory stays bounded."""
    import numpy as np
    import pandas as pd

    from mlopsctl.core.data.tables import iter_table

    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    for file in current_files(path):
        chunks = _log_chunks(file, CHUNK_ROWS) if is_prediction_log(file) else None
        for chunk in chunks if chunks is not None else iter_table(file, CHUNK_ROWS):
            total += len(chunk)
            chunk = chunk.reset_index(drop=True)
            kept = chunk if kept is None else pd.concat([kept, chunk], ignore_index=True)
            if sample > 0:
                keys = np.concatenate([keys, rng.random(len(chunk))])
                if len(kept) > sample:
                    keep = np.sort(np.argpartition(keys, sample - 1)[:sample])
                    kept, keys = kept.iloc[keep].reset_index(drop=True), keys[keep]
            on_progress(total)
    if kept is None or kept.empty:
        raise BadInput(f"{path} has no rows", "give data with a header and at least one row")
    return kept, total
