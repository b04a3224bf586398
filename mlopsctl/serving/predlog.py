"""Opt-in prediction log: one JSON line per predicted row (time, model, features,
prediction), in files rotated by size so the disk it takes is bounded.

Logging never fails a prediction: what cannot be written (a full disk, a folder that went
away or became read-only) is dropped whole, never as a torn line, counted (`dropped`, in
/metrics as mlopsctl_prediction_log_dropped_total) and said once on stderr; writing
resumes by itself when the disk can take it again."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        self.dropped = 0  # rows that could not be logged
        self._failing = False
        self._fd: int | None = None
        self._size = 0
        self._reopen()

    def _reopen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def write(self, features: list[str], rows: list[list[Any]], predictions: list[Any]) -> bool:
        """Log the rows; False (and the rows counted as dropped) when they could not be."""
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
        data = "".join(lines).encode()
        try:
            if self._fd is None:
                self._reopen()
            if self._size and self._size + len(data) > self.max_bytes:
                self._rotate()
            self._append(data)
        except OSError as exc:
            self.dropped += len(rows)
            if not self._failing:
                self._failing = True
                print(
                    f"mlopsctl-serving: cannot write the prediction log {self.path}: "
                    f"{exc.strerror or exc}; dropping rows (counted in /metrics) until it can",
                    file=sys.stderr,
                    flush=True,
                )
            return False
        if self._failing:
            self._failing = False
            print(f"mlopsctl-serving: logging predictions again to {self.path}", file=sys.stderr)
        return True

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        written = 0
        try:
            while written < len(data):
                n = os.write(self._fd, data[written:])
                if n == 0:
                    raise OSError("no byte written")
                written += n
        except OSError:
            if written:  # a torn line: cut it off again (shrinking needs no space)
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._size)
            raise
        self._size += written

    def _rotate(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.path.exists():
            if self.backups:
                for n in range(self.backups - 1, 0, -1):
                    older = self.path.with_name(f"{self.path.name}.{n}")
                    if older.exists():
                        os.replace(older, self.path.with_name(f"{self.path.name}.{n + 1}"))
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
            else:
                self.path.unlink(missing_ok=True)
        self._reopen()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
