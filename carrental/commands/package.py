"""`carrental package`: build the artifacts EMR Serverless and the dbt runner need."""

from __future__ import annotations

from pathlib import Path

import typer

from carrental import console
from carrental.errors import InputError

DEFAULT_OUT = "dist/artifacts"


def register(app: typer.Typer) -> None:
    @app.command(
        "package",
        help="""Build the AWS artifacts under a content-hashed folder artifacts/<hash>/.

Builds the EMR entry scripts (jobs/<job>.py), spark_ingest.zip for --py-files, the dbt bundle for the CodeBuild runner (dbt_bundle.zip) and the state machine definition. Zips are deterministic: the same sources always give the same hash, so a deploy is reproducible and an older hash can be redeployed to roll back.

Examples:

  carrental package

  carrental package --out dist/artifacts

  carrental --json package --out dist/artifacts
""",
    )
    def package(
        out: str = typer.Option(
            DEFAULT_OUT, "--out", help="Folder that receives <hash>/ (created)."
        ),
    ) -> None:
        from orchestration.aws.packaging import PackagingError, build_artifacts

        try:
            bundle = build_artifacts(Path(out))
        except PackagingError as exc:
            raise InputError(str(exc), hint="run from a full checkout of the repository") from exc
        manifest = bundle.manifest()
        console.info(f"built {len(manifest['files'])} artifacts in {bundle.out_dir}")
        lines = [f"{bundle.prefix}/{key}" for key in manifest["files"]]
        console.result(
            {"prefix": bundle.prefix, "dir": str(bundle.out_dir), "files": manifest["files"]},
            "\n".join([f"artifacts prefix: {bundle.prefix}", *lines]),
        )
