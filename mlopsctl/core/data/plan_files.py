"""What a DataPlan (data/infer.py) writes into a project: conf/data/default.yaml, with one
comment per decision the user can act on, and the hints the inferred schema checks."""

from __future__ import annotations

from typing import Any

from mlopsctl.core.data.infer import DATE_PARTS, FEATURE_KINDS, TEST_SIZE, DataPlan
from mlopsctl.core.data.schema import SchemaHints


def schema_hints(plan: DataPlan) -> SchemaHints:
    """What the plan knows that the schema should check: classes, IDs, date formats."""
    return SchemaHints(
        classes={plan.target: list(plan.classes)} if plan.task != "regression" else {},
        unique=plan.ids,
        date_formats={c: plan.date_formats.get(c) for c in plan.features["datetime"]},
    )


def render_data_config(plan: DataPlan, raw: str, schema: str) -> str:
    """conf/data/default.yaml for the plan: the data's paths, the split, and every column's
    decision as a comment the user can act on."""
    import yaml

    def dump(value: Any) -> str:
        return (
            yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...")
        )

    stratified = plan.task != "regression"
    lines = [
        f"# The dataset and how it is split: made by `mlopsctl` from {plan.source.name}.",
        "# Every column's decision is a comment below: move a column between the lists, or",
        "# delete it, and `mlopsctl train` uses the change (then `mlopsctl data schema "
        f"{raw} --force` if the data changed).",
        f"raw: {raw}",
        *(
            [f"# {raw} is {plan.read_as}: told from its first lines (mlopsctl and read_raw alike)"]
            if plan.read_as
            else []
        ),
        "# the raw data's pandera schema (`mlopsctl data schema`); the `validate` stage checks it",
        f"schema: {schema}",
        "# statistics of the training data, saved by `prepare`: the reference for drift monitoring",
        "reference_profile: data/reference/profile.json",
        "prepared_dir: data/prepared",
        f"# task: {plan.task_reason}",
        f"task: {plan.task}",
        f"target: {dump(plan.target)}",
    ]
    if plan.missing_target:
        lines.append(
            f"# {plan.missing_target} of {plan.rows} rows have no {plan.target!r}: `prepare` "
            "leaves them out of training and evaluation"
        )
    if plan.task == "binary":
        lines.append(
            "# the class f1, precision and recall are about (`1`/`true`/`yes`, else the rarer one)"
        )
    else:
        lines.append("# positive_class: only for binary tasks")
    lines.append(f"positive_class: {dump(plan.positive_class)}")
    if plan.classes:
        lines.append(f"# classes: {dump(plan.classes)}")
    lines += [
        f"test_size: {TEST_SIZE}",
        "split_seed: ${seed}",
        "# stratified: the test split keeps each class's share"
        if stratified
        else "# not stratified: a regression target has no classes",
        f"stratify: {'true' if stratified else 'false'}",
        "features:",
    ]
    for kind in FEATURE_KINDS:
        chosen = [d for d in plan.decisions if d.kind == kind]
        if kind == "datetime":
            lines.append(
                "  # dates: each becomes " + ", ".join(DATE_PARTS) + " (src/<package>/dates.py)"
            )
        lines.append(f"  {kind}:" + ("" if chosen else " []"))
        for d in chosen:
            lines.append(f"    - {dump(d.column)}  # {d.reason}")
    lines.append("# how each date column is written (strptime; null: ISO 8601 or stored as dates)")
    if plan.features["datetime"]:
        lines.append("date_formats:")
        for column in plan.features["datetime"]:
            lines.append(f"  {dump(column)}: {dump(plan.date_formats.get(column))}")
    else:
        lines.append("date_formats: {}")
    lines.append("# ID columns: left out of the model; the schema checks each value is unique")
    lines.append(f"id_columns: {dump(plan.ids)}")
    left_out = [d for d in plan.decisions if d.kind not in (*FEATURE_KINDS, "target")]
    lines.append("# columns left out (add one to a list above to use it):")
    for d in left_out:
        lines.append(f"#   {d.column}: {d.reason}")
    if not left_out:
        lines.append("#   none")
    return "\n".join(lines) + "\n"
