"""`mlopsctl registry list` on a repository with 1,000 registry tags, against `gto show`.

Goal (issue 5): <= 0.5 s, reported as a ratio to `gto show` on the same repository in the
same run (gto users report 6-12 s at 1,500 tags: iterative/gto#156). The repository has 10
models, each with 40 registered versions and 60 stage moves between staging and production,
written by `git fast-import` as annotated tags one second apart (as GTO requires). Both
tools' answers are compared. Prints JSON.
Usage: python benchmarks/registry_list.py [--runs N] [--tags N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import median_wall

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = 10
START = 1_700_000_000
# a message about as long as a real registration's, so both tools read realistic tags
MESSAGE = "Register\n\n" + json.dumps({"lineage": "x" * 600}) + "\n"


def fast_import_stream(tags_per_model: int) -> tuple[str, dict[str, dict[str, object]]]:
    """Commits and annotated tags for `git fast-import`, and the state they should give."""
    versions_per_model = tags_per_model * 2 // 5
    moves = tags_per_model - versions_per_model
    out: list[str] = []
    expected: dict[str, dict[str, object]] = {}
    second = 0

    def data(text: str) -> str:
        return f"data {len(text.encode())}\n{text}\n"

    def tag(name: str, mark: int) -> None:
        nonlocal second
        second += 1
        out.append(
            f"tag {name}\nfrom :{mark}\ntagger bench <bench@example.invalid> "
            f"{START + second} +0000\n" + data(MESSAGE)
        )

    mark = 0
    for m in range(MODELS):
        name = f"model-{m}"
        marks = []
        for v in range(versions_per_model):
            mark += 1
            out.append(
                f"commit refs/heads/main\nmark :{mark}\n"
                f"committer bench <bench@example.invalid> {START} +0000\n" + data(f"{name} {v}")
            )
            if mark > 1:
                out.append(f"from :{mark - 1}\n")
            marks.append(mark)
            tag(f"{name}@v0.{v}.0", mark)
        holders = {}
        for n in range(moves):
            stage = "staging" if n % 2 == 0 else "production"
            v = min(n // 2 + 1, versions_per_model - 1)
            tag(f"{name}#{stage}#{n + 1}", marks[v])
            holders[stage] = f"v0.{v}.0"
        expected[name] = {"latest": f"v0.{versions_per_model - 1}.0", "stages": holders}
    return "".join(out), expected


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tags", type=int, default=1000, help="total tags (10 models)")
    args = parser.parse_args()
    gto = shutil.which("gto") or str(Path(sys.executable).with_name("gto"))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), NO_COLOR="1")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        stream, expected = fast_import_stream(args.tags // MODELS)
        subprocess.run(
            ["git", "fast-import", "--quiet"], cwd=repo, input=stream, text=True, check=True
        )
        subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)
        count = len(
            subprocess.run(
                ["git", "tag"], cwd=repo, capture_output=True, text=True, check=True
            ).stdout.split()
        )

        ours_cmd = [sys.executable, "-m", "mlopsctl", "registry", "list", "--json"]
        theirs_cmd = [gto, "show", "--json"]
        ours = json.loads(
            subprocess.run(
                ours_cmd, cwd=repo, env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        theirs = json.loads(
            subprocess.run(theirs_cmd, cwd=repo, capture_output=True, text=True, check=True).stdout
        )
        agree = (
            all(
                m["latest"] == theirs[m["name"]]["version"] == expected[m["name"]]["latest"]
                and {k: v for k, v in m["stages"].items() if v}
                == {k: v for k, v in theirs[m["name"]]["stage"].items() if v}
                == expected[m["name"]]["stages"]
                for m in ours["models"]
            )
            and len(ours["models"]) == MODELS
        )

        ours_s = median_wall(ours_cmd, args.runs, cwd=repo, env=env)
        theirs_s = median_wall(theirs_cmd, max(1, min(args.runs, 3)), cwd=repo)
        startup_s = median_wall(
            [sys.executable, "-m", "mlopsctl", "--version"], args.runs, cwd=repo, env=env
        )
    print(
        json.dumps(
            {
                "benchmark": "registry_list",
                "tags": count,
                "models": MODELS,
                "runs": args.runs,
                "mlopsctl_registry_list_seconds_median": round(ours_s, 3),
                "baseline_gto_show_seconds_median": round(theirs_s, 3),
                "ratio_mlopsctl_to_gto_show": round(ours_s / theirs_s, 4),
                "mlopsctl_startup_seconds_median": round(startup_s, 3),
                "answers_agree": agree,
                "goal": {"mlopsctl_registry_list_seconds_median": "<= 0.5"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
