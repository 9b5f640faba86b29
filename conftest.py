"""Test-wide fixtures. ``shared`` is the workplace data folder beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent


def shared_dir() -> Path:
    return Path(os.environ.get("TINCT_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "data").is_dir():
        pytest.fail(f"shared data folder not found at {path}; set TINCT_SHARED")
    return path
