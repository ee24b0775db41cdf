"""With the database gone, the API says so clearly (503 with a code), never a bare 500."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.harness.ports import free_port
from tests.harness.settings import make_settings
from yourclaw.server.app import create_app

pytestmark = pytest.mark.db


@pytest.fixture
async def client_without_db():
    # A port nobody listens on: connection refused, as when the server is down.
    settings = make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


async def test_health_is_503_when_the_database_is_down(client_without_db):
    response = await client_without_db.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "DATABASE_UNAVAILABLE" and body["database"] == "down"


async def test_requests_needing_the_database_are_503(client_without_db):
    login = await client_without_db.post("/api/v1/dev/login", json={"email": "a@example.com"})
    token = login.json()["access_token"]
    response = await client_without_db.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503
    assert response.json()["code"] == "DATABASE_UNAVAILABLE"
