"""Build the artifacts EMR Serverless and the dbt runner need, under a content-hashed prefix.

Layout under ``artifacts/<sha256[:16]>/`` (the ``ArtifactsPrefix`` of the stack and the ASL)::

    jobs/vehicle_location_performance.py        EMR entry point (spark-submit script)
    jobs/user_transaction_analysis.py           EMR entry point
    spark_ingest.zip                            the library, passed with --py-files
    dbt_bundle.zip                              CodeBuild source: buildspec.yml at the root,
                                                dbt_project.yml, dbt_project/, profiles.example.yml,
                                                requirements-athena.txt
    statemachine/car_rental_pipeline.asl.json   the state machine definition
    manifest.json                               key -> sha256 of every file above

Zips are deterministic (sorted entries, fixed timestamps and modes), so the same sources give
the same hash: a deploy is reproducible, and an older prefix can be redeployed to roll back.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_ingest.layout import SPARK_JOBS

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_RELPATH = "orchestration/statemachine/car_rental_pipeline.asl.json"
BUILDSPEC_RELPATH = "orchestration/codebuild/buildspec.yml"
REQUIREMENTS_RELPATH = "orchestration/codebuild/requirements-athena.txt"
ARTIFACTS_ROOT = "artifacts"
HASH_LENGTH = 16

JOB_SCRIPT_KEY = "jobs/{job}.py"
PY_FILES_KEY = "spark_ingest.zip"
DBT_BUNDLE_KEY = "dbt_bundle.zip"
ASL_KEY = "statemachine/car_rental_pipeline.asl.json"
MANIFEST_KEY = "manifest.json"

#: The command that writes requirements-athena.txt from uv.lock (only what dbt-athena needs).
REQUIREMENTS_EXPORT = (
    "uv export --frozen --no-dev --extra athena --no-hashes --no-emit-project "
    "--no-annotate --no-header --prune pyspark --prune plotly --prune sqlframe "
    "--prune dbt-duckdb --prune duckdb --prune typer --prune jsonpath-ng"
)

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", "target", "dbt_packages", "logs", ".venv"}
_DBT_ROOT_FILES = ("dbt_project.yml", "profiles.example.yml", "packages.yml", "package-lock.yml")


class PackagingError(Exception):
    """A source the artifacts need is missing."""


@dataclass
class Bundle:
    """The built artifacts: ``files`` maps a key relative to ``prefix`` to a local file."""

    out_dir: Path
    digest: str
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{ARTIFACTS_ROOT}/{self.digest}"

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}"

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.out_dir / MANIFEST_KEY).read_text(encoding="utf-8"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _walk(root: Path) -> Iterable[Path]:
    """Files under ``root`` in sorted order, skipping caches, build output and hidden files."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(part in _SKIP_DIRS or part.startswith(".") for part in parts):
            continue
        if path.is_file() and path.suffix != ".pyc":
            yield path


def deterministic_zip(entries: Iterable[tuple[str, Path]], target: Path) -> Path:
    """Write ``(arcname, file)`` entries sorted by name with fixed timestamps and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in sorted(entries, key=lambda item: item[0]):
            info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            archive.writestr(info, path.read_bytes())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(buffer.getvalue())
    return target


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise PackagingError(f"{what} not found: {path}")
    return path


def build_artifacts(
    out_dir: str | Path | None = None,
    *,
    repo_root: str | Path = REPO_ROOT,
    asl_path: str | Path | None = None,
) -> Bundle:
    """Build every artifact into ``out_dir/<digest>/`` and return the :class:`Bundle`."""
    root = Path(repo_root)
    library = _require(root / "spark_ingest", "the spark_ingest package")
    staging = Path(tempfile.mkdtemp(prefix="carrental-package-"))
    try:
        files: dict[str, Path] = {}
        for job in SPARK_JOBS:
            script = _require(library / "jobs" / f"{job}.py", f"the entry script of {job}")
            files[JOB_SCRIPT_KEY.format(job=job)] = shutil.copyfile(
                script, _mkparent(staging / JOB_SCRIPT_KEY.format(job=job))
            )
        files[PY_FILES_KEY] = deterministic_zip(
            ((f"spark_ingest/{p.relative_to(library).as_posix()}", p) for p in _walk(library)),
            staging / PY_FILES_KEY,
        )
        files[DBT_BUNDLE_KEY] = deterministic_zip(_dbt_entries(root), staging / DBT_BUNDLE_KEY)
        asl = _require(Path(asl_path) if asl_path else root / ASL_RELPATH, "the ASL definition")
        json.loads(asl.read_text(encoding="utf-8"))  # fail here, not in CloudFormation
        files[ASL_KEY] = shutil.copyfile(asl, _mkparent(staging / ASL_KEY))

        hashes = {key: _sha256(path) for key, path in sorted(files.items())}
        digest = hashlib.sha256(
            "".join(f"{key}\0{value}\n" for key, value in hashes.items()).encode()
        ).hexdigest()[:HASH_LENGTH]
        manifest = {"digest": digest, "prefix": f"{ARTIFACTS_ROOT}/{digest}", "files": hashes}
        (staging / MANIFEST_KEY).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

        base = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="carrental-artifacts-"))
        final = base / digest
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    bundle = Bundle(out_dir=final, digest=digest)
    bundle.files = {key: final / key for key in [*sorted(hashes), MANIFEST_KEY]}
    return bundle


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _dbt_entries(root: Path) -> list[tuple[str, Path]]:
    _require(root / "dbt_project.yml", "dbt_project.yml")
    project = _require(root / "dbt_project", "the dbt_project/ folder")
    entries = [(name, root / name) for name in _DBT_ROOT_FILES if (root / name).exists()]
    entries += [(f"dbt_project/{p.relative_to(project).as_posix()}", p) for p in _walk(project)]
    entries.append(("buildspec.yml", _require(root / BUILDSPEC_RELPATH, "the CodeBuild buildspec")))
    entries.append(
        (
            "requirements-athena.txt",
            _require(root / REQUIREMENTS_RELPATH, "the locked dbt-athena requirements"),
        )
    )
    return entries


def upload_artifacts(bundle: Bundle, bucket: str, s3_client: Any) -> list[str]:
    """Upload every file of ``bundle`` to ``s3://bucket/<prefix>/``; returns the keys.

    Keys are content-hashed, so uploading the same bundle twice writes the same objects.
    """
    keys: list[str] = []
    for relative, path in bundle.files.items():
        key = bundle.key(relative)
        s3_client.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=_content_type(relative),
            Metadata={"sha256": _sha256(path)},
        )
        keys.append(key)
    return keys


def _content_type(name: str) -> str:
    if name.endswith(".json"):
        return "application/json"
    if name.endswith(".zip"):
        return "application/zip"
    if name.endswith(".py"):
        return "text/x-python"
    return "application/octet-stream"
