"""Fixtures for the report tests: a fake lake with three runs, and headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fake_lake

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")


@pytest.fixture(scope="session")
def lake(tmp_path_factory) -> Path:
    return fake_lake.build_fake_lake(tmp_path_factory.mktemp("report-lake") / "lake")


@pytest.fixture(scope="session")
def asl_path(tmp_path_factory) -> Path:
    return fake_lake.write_asl(tmp_path_factory.mktemp("asl") / "car_rental_pipeline.asl.json")


@pytest.fixture(scope="session")
def failed_report(lake, asl_path) -> Path:
    from carrental.report import build_report

    return build_report(lake, fake_lake.FAILED_RUN, asl_path=asl_path)


@pytest.fixture(scope="session")
def success_report(lake, asl_path) -> Path:
    from carrental.report import build_report

    return build_report(lake, fake_lake.SUCCESS_RUN, asl_path=asl_path)


def _find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class Chromium:
    """Headless Debian chromium, offline: every host name resolves to nothing."""

    def __init__(self, binary: str, profile: Path):
        self.binary = binary
        self.profile = profile

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={self.profile}",
            "--virtual-time-budget=5000",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def dump_dom(self, page: Path) -> str:
        proc = self._run("--dump-dom", page.as_uri())
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    def screenshot(self, page: Path, out: Path, width: int = 1400, height: int = 6200) -> Path:
        proc = self._run(f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri())
        assert proc.returncode == 0 and out.is_file(), proc.stderr[-2000:]
        return out


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Chromium:
    binary = _find_chromium()
    if binary is None:
        pytest.skip(
            "chromium is not installed: run `bash scripts/ensure-chromium.sh` "
            "(or apt-get install chromium) to run the browser tests"
        )
    return Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
