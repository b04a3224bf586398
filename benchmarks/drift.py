"""`monitor drift` figures (issue 7). Prints JSON.

1. The check itself, in-process, on 100,000 rows x (20 numeric + 5 categorical) against
   the reference's saved profile (the default: the reference data is not read again), vs a
   straightforward per-column scipy implementation on both datasets in the same run
   (`ks_2samp` for numeric columns, `chi2_contingency` for categorical ones). Goal <= 0.6 s.
2. `mlopsctl monitor drift` end to end (a new process: start-up, reading the CSV, checking)
   on 1,000,000 rows x 25 columns: wall time and peak memory, with the default --sample
   (500,000 rows compared; the file is still read in full, in pieces) and with --sample 0
   (every row). The data is not drifted, so the command exits 0. Goal <= 5 s.

Usage: python benchmarks/drift.py [--rows N] [--big-rows N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_data(rows: int, seed: int, shifted: bool) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(20):
        shift = 0.3 if shifted and i < 5 else 0.0
        columns[f"f{i}"] = np.round(rng.normal(100 + 15 * shift, 15, rows), 4)
    for i in range(5):
        p = [0.4, 0.3, 0.2, 0.1] if not (shifted and i == 0) else [0.25, 0.25, 0.25, 0.25]
        columns[f"c{i}"] = rng.choice(["red", "green", "blue", "grey"], rows, p=p)
    return pd.DataFrame(columns)


def scipy_baseline(reference: object, current: object) -> list[float]:
    import numpy as np
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    p_values = []
    for column in reference.columns:  # type: ignore[attr-defined]
        ref, cur = reference[column], current[column]  # type: ignore[index]
        if pd.api.types.is_numeric_dtype(ref):
            p_values.append(float(ks_2samp(ref.to_numpy(), cur.to_numpy()).pvalue))
        else:
            table = pd.crosstab(
                np.r_[np.zeros(len(ref)), np.ones(len(cur))], np.r_[ref.to_numpy(), cur.to_numpy()]
            )
            p_values.append(float(chi2_contingency(table.to_numpy())[1]))
    return p_values


def timed(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from mlopsctl.core.data.profile import profile_frame
    from mlopsctl.core.monitor.drift import DriftSettings, compare

    reference = make_data(args.rows, 1, shifted=False)
    current = make_data(args.rows, 2, shifted=True)
    start = time.perf_counter()
    profile = profile_frame(reference, "reference")  # done once, by the `prepare` stage
    profile_seconds = time.perf_counter() - start
    result = compare(profile, current, DriftSettings())
    check = timed(lambda: compare(profile, current, DriftSettings()), args.runs)
    baseline = timed(lambda: scipy_baseline(reference, current), max(1, args.runs // 2))

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        big = Path(tmp) / "current.csv"
        make_data(args.big_rows, 3, shifted=False).to_csv(big, index=False)  # type: ignore[attr-defined]
        ref_path = Path(tmp) / "profile.json"
        ref_path.write_text(json.dumps(profile))
        cmd = [sys.executable, "-m", "mlopsctl", "monitor", "drift", "--current", str(big)]
        cmd += ["--reference", str(ref_path), "--json"]
        end_to_end = {}
        for label, extra in (("default_sample", []), ("sample_0_all_rows", ["--sample", "0"])):
            seconds, peak = measured(cmd + extra, Path(tmp), env)
            end_to_end[label] = {"seconds": round(seconds, 3), "peak_rss_mb": round(peak / 2**20)}
        csv_mb = round(big.stat().st_size / 2**20)

    print(
        json.dumps(
            {
                "benchmark": "monitor_drift",
                "check_100k_x_25": {
                    "rows": args.rows,
                    "columns": "20 numeric + 5 categorical",
                    "mlopsctl_seconds": round(check, 4),
                    "scipy_ks_2samp_chi2_contingency_seconds": round(baseline, 4),
                    "ratio_to_scipy": round(check / baseline, 4),
                    "goal_seconds": 0.6,
                    "reference_profile_seconds_once": round(profile_seconds, 3),
                    "drifted_columns": result.drifted_columns,
                },
                "monitor_drift_cli_1m_x_25": {
                    "rows": args.big_rows,
                    "csv_mb": csv_mb,
                    **end_to_end,
                    "goal_seconds": 5.0,
                },
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


# a child's peak RSS includes its parent's at fork time (Linux keeps the high-water mark
# across exec), and this process holds the data: measure from a small wrapper process
_WRAPPER = """
import json, os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss * 1024,
                  os.waitstatus_to_exitcode(status)]))
"""


def measured(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds, peak, code = json.loads(out.stdout)
    if code != 0:
        raise RuntimeError(f"{cmd} exited {code}")
    return seconds, peak


if __name__ == "__main__":
    main()
