"""Fixtures for the orchestration tests."""

from __future__ import annotations

import pytest
from asl_fakes import Fakes

from orchestration.executor.bindings import LOCAL_SUBSTITUTIONS
from orchestration.executor.definition import load_definition


@pytest.fixture
def definition() -> dict:
    return load_definition(LOCAL_SUBSTITUTIONS)


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()
