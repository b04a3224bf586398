"""`mlopsctl data validate` of 1,000,000 rows x 30 columns (a ~220 MB CSV) against its
inferred schema: wall time and peak memory, with the CSV's size and a bare
`pandas.read_csv` of the same file as the baselines in the same run.

Goal (issue 4): <= 3 s. Prints JSON. Usage: python benchmarks/data_validate.py [--rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _project import bench_env, minimal_project, mlopsctl
from _timing import run_measured


def write_data(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    columns: dict[str, object] = {
        f"f{i}": np.round(rng.normal(100, 15, rows), 4) for i in range(24)
    }
    columns.update({f"i{i}": rng.integers(0, 1000, rows) for i in range(4)})
    columns["colour"] = rng.choice(["red", "green", "blue"], rows)
    columns["grade"] = rng.choice(list("abcde"), rows)
    pd.DataFrame(columns).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        env = bench_env(Path(tmp))
        project = minimal_project(Path(tmp) / "proj", env)
        data = project / "data/big.csv"
        data.parent.mkdir()
        write_data(data, args.rows)
        run_measured([*mlopsctl(), "data", "schema", "data/big.csv"], project, env)
        validate = [*mlopsctl(), "data", "validate", "data/big.csv"]
        read_csv = [sys.executable, "-c", "import pandas; pandas.read_csv('data/big.csv')"]
        runs = {"mlopsctl_data_validate": [], "pandas_read_csv": []}
        for _ in range(args.runs):
            runs["mlopsctl_data_validate"].append(run_measured(validate, project, env))
            runs["pandas_read_csv"].append(run_measured(read_csv, project, env))
        csv_bytes = data.stat().st_size
    seconds = {k: statistics.median(s for s, _ in v) for k, v in runs.items()}
    peak = {k: max(m for _, m in v) for k, v in runs.items()}
    print(
        json.dumps(
            {
                "benchmark": "data_validate",
                "rows": args.rows,
                "columns": 30,
                "runs": args.runs,
                "csv_mib": round(csv_bytes / 2**20, 1),
                "median_seconds": {k: round(v, 3) for k, v in seconds.items()},
                "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in peak.items()},
                "peak_rss_to_csv_size": {k: round(v / csv_bytes, 2) for k, v in peak.items()},
                "ratio_validate_to_read_csv": round(
                    seconds["mlopsctl_data_validate"] / seconds["pandas_read_csv"], 3
                ),
                "goal": {"mlopsctl_data_validate": "<= 3 s"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
