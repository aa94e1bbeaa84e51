"""Shared fixtures: paths to test data and to the real DNS tools the tests check against."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# The `store` fixture: an empty database of each kind.
pytest_plugins = ["stores"]


def require_tool(name: str) -> str:
    """Path of a Debian tool; skips locally when missing, fails in CI where scripts/test installs it."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/test installs it from Debian packages)"
        if os.environ.get("CI") == "true" or os.environ.get("DNSMILL_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def all_types_zone() -> Path:
    return DATA / "all-types.zone"
