"""scripts/ensure-chromium.sh never stops `make test`: when chromium cannot be installed it says
why in one line and exits 0 (the browser tests then skip). A fake apt-get (and sudo) on a PATH
of their own: the real apt-get never runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "ensure-chromium.sh"
TOOLS = ("id", "mktemp", "rm", "grep", "tail", "cat")

FAKE_SUDO = """#!/bin/sh
while [ "${1#-}" != "$1" ]; do shift; done  # drop -n
exec "$@"
"""


def _run(tmp_path: Path, apt_get: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    calls = tmp_path / "apt-calls"
    for name, text in (("sudo", FAKE_SUDO), ("apt-get", apt_get.replace("CALLS", str(calls)))):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    proc = subprocess.run(
        [shutil.which("bash"), str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    logged = calls.read_text().splitlines() if calls.exists() else []
    return proc, logged


FAILING_APT = """#!/bin/sh
echo "$*" >> CALLS
echo "Reading package lists..."
if [ "$1" = update ]; then echo "E: Failed to fetch http://deb.debian.org/debian" >&2; fi
if [ "$1" = install ]; then echo "E: Unable to locate package chromium" >&2; fi
exit 100
"""
SILENT_APT = """#!/bin/sh
echo "$*" >> CALLS
exit 0
"""


def test_a_failed_install_is_one_warning_and_exit_0(tmp_path):
    proc, calls = _run(tmp_path, FAILING_APT)
    assert proc.returncode == 0, proc.stderr
    assert [c.split()[0] for c in calls] == ["update", "install"]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        "warning: chromium could not be installed (E: Unable to locate package chromium); "
        "the browser tests will be skipped"
    ), proc.stderr
    assert proc.stdout == ""


def test_an_install_without_a_chromium_command_is_a_warning(tmp_path):
    proc, calls = _run(tmp_path, SILENT_APT)
    assert proc.returncode == 0, proc.stderr
    assert len(calls) == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "warning: apt-get installed chromium but no chromium command is on PATH; "
        "the browser tests will be skipped"
    ), proc.stderr
