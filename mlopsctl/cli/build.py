"""`mlopsctl build`: parse, call core.image.build, say what was built."""

from __future__ import annotations

from pathlib import Path

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json, render_push


def build(
    ref: str = typer.Argument(None, help=options.MODEL_REF_HELP),
    rev: str = typer.Option(None, "--rev", help="Build the model of this git revision."),
    base: str = typer.Option(
        None,
        "--base",
        help="Base image: an OCI layout folder, an oci-archive or docker-archive tar, a root "
        "filesystem tar (mmdebstrap), or an image name podman or docker has.",
        envvar="MLOPSCTL_BASE_IMAGE",
    ),
    builder: str = typer.Option(
        "auto",
        "--builder",
        help="native (no tools needed, reproducible digest), podman, buildah, or docker (the "
        "docker client and the daemon DOCKER_HOST names). auto means native.",
    ),
    tag: str = typer.Option(
        None, "--tag", "-t", help="Image name (default: localhost/NAME:VERSION)."
    ),
    output: Path = typer.Option(
        None,
        "--output",
        "-o",
        help="The image tar (default: dist/image.tar); lock and SBOM beside it.",
    ),
    context_only: Path = typer.Option(
        None, "--context-only", help="Only write the build context to this new folder."
    ),
    kind: str = typer.Option(
        "serving",
        "--kind",
        help="serving: the image that serves the model; pipeline: the image an exported "
        "pipeline's steps run on (the project's whole environment; native builder).",
    ),
    serving_base: Path = typer.Option(
        None,
        "--serving-base",
        help="--kind pipeline: a base tar to put in the image for the serving images the "
        "pipeline builds (their MLOPSCTL_BASE_IMAGE).",
    ),
    push: str = typer.Option(
        None, "--push", metavar="REGISTRY/REPO[:TAG]", help="Push the built image there."
    ),
    tls_verify: str = typer.Option("true", "--tls-verify", metavar="BOOL", help=options.TLS_HELP),
    as_json: options.Json = False,
) -> None:
    """Build a container image that serves the model (reproducible: one digest per input).

    --kind pipeline builds the image the exported pipelines run in."""

    from mlopsctl.console import console

    if push:
        from mlopsctl.core.image.push import parse_image_ref

        parse_image_ref(push, "latest")  # a bad REF is refused before a long build
    if kind == "pipeline":
        from mlopsctl.cli.build_pipeline import build_pipeline

        build_pipeline(
            ref,
            rev,
            base,
            builder,
            tag,
            output,
            context_only,
            serving_base,
            push=push,
            tls_verify=options.tls_flag(tls_verify),
            as_json=as_json,
        )
        return
    if kind != "serving":
        from mlopsctl.errors import BadInput

        raise BadInput(f"unknown --kind {kind!r}", "use --kind serving or --kind pipeline")
    from mlopsctl.core.image.build import build_image
    from mlopsctl.core.model.source import resolve_model

    if push and context_only is not None:
        raise BadInput("--push needs an image, --context-only builds none", "drop one of them")
    source = resolve_model(ref, rev, Path.cwd())
    result = build_image(
        source, base=base, builder=builder, tag=tag, output=output, context_only=context_only
    )
    pushed = None
    if push and result.output is not None:
        from mlopsctl.core.image.push import push_image

        pushed = push_image(
            result.output, push, tls_verify=options.tls_flag(tls_verify), lock=result.lock
        )
    if as_json:
        print_json(
            {
                "tag": result.tag,
                "digest": result.digest,
                "id": result.image_id,
                "builder": result.builder,
                "output": str(result.output) if result.output else None,
                "lock": str(result.lock) if result.lock else None,
                "sbom": str(result.sbom) if result.sbom else None,
                "context": str(result.context) if context_only else None,
                "size": result.size,
                "labels": result.labels,
                "pushed": pushed.ref if pushed else None,
            }
        )
        return
    out = console()
    if context_only is not None:
        out.print(f"[green]Wrote[/] the build context to {context_only}", soft_wrap=True)
        out.print(f"  podman build --isolation chroot -t {result.tag} {context_only}")
        return
    out.print(f"[green]Built[/] {result.tag} ({result.builder})", soft_wrap=True)
    if result.digest is not None:
        out.print(f"  digest {result.digest}", soft_wrap=True)
    if result.image_id is not None:
        out.print(f"  id {result.image_id}", soft_wrap=True)
    if result.output is not None:
        out.print(f"  {result.output} ({result.size / 1e6:.1f} MB)", soft_wrap=True)
        loader = "docker" if result.builder == "docker" else "podman"
        out.print(f"  load it: {loader} load -i {result.output}", soft_wrap=True)
    if result.lock is not None:
        out.print(f"  {result.lock}, {result.sbom}", soft_wrap=True)
    if pushed is not None:
        render_push(pushed, as_json=False)
