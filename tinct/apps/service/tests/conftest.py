"""Fixtures of the service tests: an app on a temporary data dir, through FastAPI's TestClient."""

from __future__ import annotations

import pytest


@pytest.fixture
def make_client(tmp_path):
    from fastapi.testclient import TestClient

    from tinct.apps.service import Settings, create_app

    clients = []

    def make(**kw):
        kw.setdefault("executor", "thread")
        kw.setdefault("workers", 2)
        settings = Settings(data_dir=tmp_path / "data", **kw)
        client = TestClient(create_app(settings), base_url="http://127.0.0.1:8000")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()
