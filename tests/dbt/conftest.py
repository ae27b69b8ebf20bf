"""Fixtures for the dbt tests: one crawled and dbt-built fixture lake per session."""

from __future__ import annotations

import pytest
from dbt_support import DBT_TIMEOUT
from lake_fixtures import build_lake

from carrental.catalog import crawl
from carrental.dbt_runner import run_dbt


@pytest.fixture(scope="session")
def built_lake(tmp_path_factory: pytest.TempPathFactory):
    """A fixture lake, crawled and built with `dbt build` (run id `run-1`)."""
    lake = build_lake(tmp_path_factory.mktemp("dbt") / "lake")
    crawled = crawl(lake)
    assert crawled["Crawler"]["LastCrawl"]["Status"] == "SUCCEEDED", crawled
    result = run_dbt(lake, ["build"], run_id="run-1", timeout=DBT_TIMEOUT)
    return lake, result
