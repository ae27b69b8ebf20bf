"""`python -m carrental.java` (make check-java) checks the java Spark's launcher will run:
``$JAVA_HOME/bin/java`` whenever JAVA_HOME is set (pyspark/bin/spark-class), else the java on
PATH. Fake ``java`` scripts print a version; no JVM starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from carrental import java as java_check
from spark_ingest.submit import java_executable


def _fake_java(folder: Path, major: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "java"
    script.write_text(
        f"#!/bin/sh\necho 'openjdk version \"{major}.0.2\" 2024-01-16' >&2\n", encoding="utf-8"
    )
    script.chmod(0o755)
    return script


def _check(monkeypatch, capsys, path: Path, java_home: str | None) -> tuple[int, str]:
    monkeypatch.setenv("PATH", str(path))
    if java_home is None:
        monkeypatch.delenv("JAVA_HOME", raising=False)
    else:
        monkeypatch.setenv("JAVA_HOME", java_home)
    code = java_check.main()
    return code, " ".join(capsys.readouterr().err.split())


def test_stale_java_home_fails_although_java_17_is_on_path(tmp_path, monkeypatch, capsys):
    _fake_java(tmp_path / "bin", 17)
    code, err = _check(monkeypatch, capsys, tmp_path / "bin", "/nonexistent")
    assert code == 4, err
    assert "JAVA_HOME is /nonexistent, but /nonexistent/bin/java does not exist" in err
    assert "hint: install a Java 17 or 21 runtime" in err
    assert "unset JAVA_HOME" in err
    assert java_executable({"JAVA_HOME": "/nonexistent", "PATH": str(tmp_path / "bin")}) is None


def test_java_home_with_java_11_fails_naming_java_home(tmp_path, monkeypatch, capsys):
    _fake_java(tmp_path / "bin", 17)
    home = tmp_path / "jdk11"
    _fake_java(home / "bin", 11)
    code, err = _check(monkeypatch, capsys, tmp_path / "bin", str(home))
    assert code == 4, err
    assert f"Java 11 found at {home}/bin/java (JAVA_HOME is {home})" in err
    assert "hint: install a Java 17 or 21 runtime" in err


def test_java_home_with_java_21_wins_over_an_old_java_on_path(tmp_path, monkeypatch, capsys):
    _fake_java(tmp_path / "bin", 11)
    home = tmp_path / "jdk21"
    _fake_java(home / "bin", 21)
    assert _check(monkeypatch, capsys, tmp_path / "bin", str(home)) == (0, "")
    assert java_check.ensure_java() == 21


@pytest.mark.parametrize("java_home", [None, ""])  # empty counts as unset, as in spark-class
def test_without_java_home_the_java_on_path_is_used(tmp_path, monkeypatch, capsys, java_home):
    _fake_java(tmp_path / "bin", 17)
    assert _check(monkeypatch, capsys, tmp_path / "bin", java_home) == (0, "")
    code, err = _check(monkeypatch, capsys, tmp_path / "empty", java_home)
    assert code == 4 and "Java was not found" in err, err
