"""`mlopsctl data add` of a 1 GiB file into a fresh DVC cache, as a ratio to `md5sum` of the
same file in the same run (DVC hashes with md5: that is the floor), and a no-op re-add.

Goals (issue 4): add throughput >= 0.8x md5sum's; no-op re-add < 1 s. Also shows plain
`dvc add` (which copies the data twice with the default cache) and `data add` with the
opt-in `cache.type hardlink` (no copy at all) for comparison. Set BENCH_TMP to measure on
another filesystem (one with reflinks, e.g. XFS or btrfs, makes the copy free).
Prints JSON. Usage: python benchmarks/data_add.py [--mib 1024] [--runs 3]
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
from pathlib import Path

from _project import bench_env, minimal_project, mlopsctl
from _timing import wall


def fresh(project: Path, env: dict[str, str]) -> None:
    """Forget the file: no .dvc pointer, no cache, no hash state."""
    for path in ("big.bin.dvc", ".gitignore"):
        (project / path).unlink(missing_ok=True)
    for folder in (".dvc/cache", ".dvc/tmp"):
        shutil.rmtree(project / folder, ignore_errors=True)
    subprocess.run(["git", "reset", "-q"], cwd=project, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        env = bench_env(work)
        project = minimal_project(work / "proj", env)
        with open(project / "big.bin", "wb") as fh:
            for _ in range(args.mib):
                fh.write(os.urandom(1024 * 1024))
        os.sync()
        md5sum, add, dvc_add, readd, hardlink = [], [], [], [], []
        for _ in range(args.runs):
            md5sum.append(wall(["md5sum", "big.bin"], project, env))
            fresh(project, env)
            os.sync()
            add.append(wall([*mlopsctl(), "data", "add", "big.bin"], project, env))
            readd.append(wall([*mlopsctl(), "data", "add", "big.bin"], project, env))
            fresh(project, env)
            os.sync()
            dvc_add.append(
                wall([sys.executable, "-m", "dvc", "add", "-q", "big.bin"], project, env)
            )
            fresh(project, env)
            os.sync()
            dvc_config = [sys.executable, "-m", "dvc", "config", "cache.type"]
            subprocess.run([*dvc_config, "hardlink"], cwd=project, env=env, check=True)
            hardlink.append(wall([*mlopsctl(), "data", "add", "big.bin"], project, env))
            subprocess.run([*dvc_config, "--unset"], cwd=project, env=env, check=True)
            fresh(project, env)
            os.sync()
    med = {k: statistics.median(v) for k, v in
           {"md5sum": md5sum, "mlopsctl_data_add": add, "dvc_add": dvc_add,
            "mlopsctl_data_add_noop": readd,
            "mlopsctl_data_add_cache_type_hardlink": hardlink}.items()}  # fmt: skip
    mib_s = {k: round(args.mib / v, 1) for k, v in med.items() if k != "mlopsctl_data_add_noop"}
    print(
        json.dumps(
            {
                "benchmark": "data_add",
                "file_mib": args.mib,
                "runs": args.runs,
                "median_seconds": {k: round(v, 3) for k, v in med.items()},
                "throughput_mib_per_s": mib_s,
                "ratio_to_md5sum_throughput": {
                    "mlopsctl_data_add": round(med["md5sum"] / med["mlopsctl_data_add"], 3),
                    "dvc_add": round(med["md5sum"] / med["dvc_add"], 3),
                    "mlopsctl_data_add_cache_type_hardlink": round(
                        med["md5sum"] / med["mlopsctl_data_add_cache_type_hardlink"], 3
                    ),
                },
                "goal": {"mlopsctl_data_add": ">= 0.8", "mlopsctl_data_add_noop": "< 1 s"},
                "bytes": size,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
