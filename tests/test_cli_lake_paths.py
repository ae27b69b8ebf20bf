"""`--lake-dir` reaches every command as typed: a URI is refused by name, never turned into a
local folder ``s3:/bucket/lake`` (Typer's ``Path`` type collapses the ``//`` of ``s3://``).

No Spark, no dbt: the refusal comes before anything starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from carrental import cli, console
from carrental.errors import UsageError


def _main(monkeypatch, capsys, *argv: str) -> tuple[int, str]:
    monkeypatch.setattr(console, "MODE", console.OutputMode())
    monkeypatch.setattr(console.err, "_width", 10_000)  # one line per message, unwrapped
    monkeypatch.setattr(sys, "argv", ["carrental", *argv])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out + captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--lake-dir", "s3://b/lake", "--transactions", "50"],
        ["crawl", "--lake-dir", "s3://b/lake"],
        ["status", "--lake-dir", "s3://b/lake"],
        ["spark", "validate_inputs", "--lake-dir", "s3://b/lake"],
        ["dbt", "--lake-dir", "s3://b/lake", "--", "build"],
        ["generate", "--lake-dir", "gs://b/lake", "-n", "5", "--append-day", "2024-04-01"],
    ],
    ids=["generate", "crawl", "status", "spark", "dbt", "generate-append-gs"],
)
def test_a_uri_lake_is_refused_naming_the_option(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    code, output = _main(monkeypatch, capsys, *argv)
    uri = argv[argv.index("--lake-dir") + 1]
    assert code == 2, output
    flat = " ".join(output.split())  # rich wraps long lines
    assert f"--lake-dir must be a local folder, not the URI {uri}" in flat
    assert "s3:/b/lake" not in flat.replace("s3://b/lake", "")  # never the mangled form
    assert list(tmp_path.iterdir()) == []  # no ./s3:/b/lake created


def test_local_folder_keeps_local_paths_and_refuses_uris():
    from carrental.paths import local_folder

    assert local_folder("lake") == Path("lake")
    assert local_folder("/tmp/a:b//c") == Path("/tmp/a:b/c")  # a colon in a local name is fine
    assert local_folder("s3:") == Path("s3:")
    with pytest.raises(UsageError, match="--raw must be a local folder, not the URI s3a://x/y"):
        local_folder("s3a://x/y", option="--raw")
    with pytest.raises(UsageError) as info:
        local_folder("file://x", hint="do this")
    assert info.value.hint == "do this" and info.value.exit_code == 2
