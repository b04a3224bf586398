"""`mlopsctl build --kind pipeline`: parse, call core.image.pipeline, say what was built."""

from __future__ import annotations

from pathlib import Path


def build_pipeline(
    ref: str | None,
    rev: str | None,
    base: str | None,
    builder: str,
    tag: str | None,
    output: Path | None,
    context_only: Path | None,
    serving_base: Path | None,
    *,
    push: str | None,
    tls_verify: bool,
    as_json: bool,
) -> None:
    from mlopsctl.cli.render import print_json, render_push
    from mlopsctl.console import console
    from mlopsctl.core.image.build import default_cache
    from mlopsctl.core.image.pipeline import build_pipeline_image
    from mlopsctl.core.project import find_project
    from mlopsctl.errors import BadInput

    if ref or rev:
        raise BadInput(
            "--kind pipeline builds the project's environment, not a model",
            "drop the model reference and --rev",
        )
    if builder not in ("auto", "native") or context_only is not None:
        raise BadInput(
            "--kind pipeline is built by the native builder only (no build context)",
            "drop --builder and --context-only",
        )
    project = find_project(Path.cwd())
    image = build_pipeline_image(
        project.root,
        base=base,
        serving_base=serving_base,
        tag=tag,
        output=output,
        cache=default_cache(),
    )
    pushed = None
    if push:
        from mlopsctl.core.image.push import push_image

        # the lock records where it went: `export tekton|kfp` then pins REF@DIGEST
        pushed = push_image(image.output, push, tls_verify=tls_verify, lock=image.lock)
    if as_json:
        print_json(
            {
                "kind": "pipeline",
                "tag": image.tag,
                "digest": image.digest,
                "id": image.image_id,
                "output": str(image.output),
                "lock": str(image.lock),
                "size": image.size,
                "distributions": len(image.pins),
                "pushed": pushed.ref if pushed else None,
            }
        )
        return
    out = console()
    out.print(f"[green]Built[/] the pipeline image {image.tag} (native)", soft_wrap=True)
    out.print(f"  digest {image.digest}", soft_wrap=True)
    out.print(f"  {image.output} ({image.size / 1e6:.1f} MB), {len(image.pins)} distributions")
    out.print(f"  {image.lock}: `mlopsctl export tekton|kfp` pins this digest", soft_wrap=True)
    out.print(f"  load it: podman load -i {image.output}", soft_wrap=True)
    if pushed is not None:
        render_push(pushed, as_json=False)
