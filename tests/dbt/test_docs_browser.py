"""`dbt docs` in a real browser: generate, serve on a free port, open in headless
Chromium, check the lineage graph and the marts appear, keep a screenshot."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from dbt_support import DBT_TIMEOUT, MARTS

from carrental.dbt_runner import REPO_ROOT, dbt_command, run_dbt

#: the same names scripts/ensure-chromium.sh accepts (Debian's ``chromium``; Ubuntu and others
#: ship ``chromium-browser``)
CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=20000",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (run `bash scripts/ensure-chromium.sh`)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dbt docs serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"dbt docs serve did not answer on {url}")


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_docs_show_the_lineage_graph_and_marts(built_lake, tmp_path: Path, artifacts_dir) -> None:
    lake, _ = built_lake
    generated = run_dbt(lake, ["docs", "generate"], timeout=DBT_TIMEOUT)
    assert generated.returncode == 0, generated.stdout[-3000:]
    port = _free_port()
    command, env = dbt_command(
        lake, ["docs", "serve", "--port", str(port), "--host", "127.0.0.1", "--no-browser"]
    )
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        _wait_until_up(base, server)
        # g_v=1 opens the full lineage graph over the model page.
        url = f"{base}#!/model/model.carrental.business_kpis?g_v=1"
        dom = _chromium(tmp_path, "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        assert "Lineage Graph" in html
        assert "cytoscape" in html  # the graph's renderer is mounted
        for mart in MARTS:
            assert mart in html, mart
        assert "stg_car_rental__rentals" in html
        shot = Path(artifacts_dir) / "dbt_docs_lineage.png"
        shot.unlink(missing_ok=True)
        taken = _chromium(tmp_path, "--window-size=1400,1000", f"--screenshot={shot}", url)
        assert taken.returncode == 0, taken.stderr[-2000:]
        assert shot.exists() and shot.stat().st_size > 10_000
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
