"""`mlopsctl init --data` on a 1,000,000-row x 30-column CSV (numbers with gaps, categories,
a date, booleans, an ID, a constant, a 3-class target): wall time, peak memory and the split
of the time by step (init's own --json timings), with a bare `pandas.read_csv` of the same
file as the baseline in the same run.

Goal (issue 12): <= 15 s end to end, <= 2 GB peak. Prints JSON.
Usage: python benchmarks/init_data.py [--rows N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import bench_env, mlopsctl
from _timing import run_measured


def write_data(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    columns: dict[str, object] = {"order_id": np.arange(rows)}
    columns.update({f"f{i}": np.round(rng.normal(100, 15, rows), 3) for i in range(20)})
    columns.update({f"i{i}": rng.integers(0, 1000, rows) for i in range(2)})
    columns["colour"] = rng.choice(["red", "green", "blue"], rows)
    columns["grade"] = rng.choice(list("abcde"), rows)
    columns["member"] = rng.choice([True, False], rows)
    columns["ordered"] = (
        np.datetime64("2020-01-01") + rng.integers(0, 1500, rows).astype("timedelta64[D]")
    ).astype(str)
    columns["shop"] = "web"
    frame = pd.DataFrame(columns)
    frame.loc[rng.choice(rows, rows // 50, replace=False), "f0"] = np.nan
    frame["label"] = np.select([frame["f1"] > 115, frame["f2"] > 110], ["high", "mid"], "low")
    frame.to_csv(path, index=False)


def timed_init(work: Path, env: dict[str, str], name: str) -> tuple[float, int, dict[str, float]]:
    cmd = [*mlopsctl(), "init", name, "--data", "big.csv", "--target", "label"]
    cmd += ["--no-input", "--no-hooks", "--json"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(proc.stderr.read().decode() if proc.stderr else "init failed")
    return seconds, usage.ru_maxrss * 1024, json.loads(out)["timings"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        env = bench_env(work)
        write_data(work / "big.csv", args.rows)
        read_csv = [sys.executable, "-c", "import pandas; pandas.read_csv('big.csv')"]
        inits, reads = [], []
        for run in range(args.runs):
            inits.append(timed_init(work, env, f"p{run}"))
            shutil.rmtree(work / f"p{run}")
            reads.append(run_measured(read_csv, work, env))
        csv_bytes = (work / "big.csv").stat().st_size
    init_s = statistics.median(s for s, _, _ in inits)
    read_s = statistics.median(s for s, _ in reads)
    print(
        json.dumps(
            {
                "benchmark": "init_data",
                "rows": args.rows,
                "columns": 30,
                "csv_mb": round(csv_bytes / 1e6, 1),
                "runs": args.runs,
                "init_seconds": round(init_s, 2),
                "init_peak_mb": round(max(m for _, m, _ in inits) / 1e6),
                "init_steps_seconds": inits[len(inits) // 2][2],
                "baseline_pandas_read_csv_seconds": round(read_s, 2),
                "baseline_pandas_read_csv_peak_mb": round(max(m for _, m in reads) / 1e6),
                "init_over_read_csv": round(init_s / read_s, 2),
                "goal": {"seconds": 15, "peak_mb": 2000},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
