"""Reliability tests: make the repo root importable and register the summary plugin.

``make reliability`` loads :mod:`tests.reliability_summary` with ``-p``; a plain ``make test``
gets the same summary because this conftest registers the plugin when it is not loaded yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PLUGIN = "tests.reliability_summary"


def pytest_configure(config):
    if not config.pluginmanager.has_plugin(PLUGIN):
        from tests import reliability_summary

        if not config.pluginmanager.is_registered(reliability_summary):
            config.pluginmanager.register(reliability_summary, PLUGIN)
