"""Opt-in prediction log: one JSON line per predicted row (time, model, features,
prediction), in files rotated by size so the disk it takes is bounded."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 4


class PredictionLog:
    """`directory/predictions-<pid>.jsonl`, rotated to `.1` ... `.<backups>` past
    `max_bytes`: at most (backups + 1) * max_bytes on disk per process."""

    def __init__(
        self,
        directory: Path,
        *,
        model: str,
        version: str,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"predictions-{os.getpid()}.jsonl"
        self.model = model
        self.version = version
        self.max_bytes = max(1024, max_bytes)
        self.backups = max(0, backups)
        self._fh: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = self._fh.tell()

    def write(self, features: list[str], rows: list[list[Any]], predictions: list[Any]) -> None:
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = []
        for row, prediction in zip(rows, predictions, strict=True):
            record = {
                "ts": ts,
                "model": self.model,
                "version": self.version,
                "features": dict(zip(features, row, strict=True)),
                "prediction": prediction,
            }
            lines.append(json.dumps(record, separators=(",", ":")) + "\n")
        text = "".join(lines)
        if self._size and self._size + len(text) > self.max_bytes:
            self._rotate()
        self._fh.write(text)
        self._fh.flush()
        self._size += len(text)

    def _rotate(self) -> None:
        self._fh.close()
        if self.backups:
            for n in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._size = 0

    def close(self) -> None:
        self._fh.close()
