"""The app as a whole on a real PostgreSQL: health, request ids, one error format for every failure, the
OpenAPI schema, CORS."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db


async def test_health_reports_database(client):
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "version": "0.1.0"}


async def test_request_id_is_echoed_or_made(client):
    given = await client.get("/api/v1/health", headers={"X-Request-ID": "req-42"})
    assert given.headers["x-request-id"] == "req-42"
    made = await client.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces" and len(made.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/api/v1/users/me", {}, 401, "NOT_AUTHENTICATED"),
        ("get", "/api/v1/users/me", {"headers": {"Authorization": "Basic abc"}}, 401, "NOT_AUTHENTICATED"),
        ("get", "/api/v1/users/me", {"headers": {"Authorization": "Bearer nope"}}, 401, "INVALID_TOKEN"),
        ("get", "/api/v1/nothing-here", {}, 404, "NOT_FOUND"),
        ("delete", "/api/v1/health", {}, 405, "METHOD_NOT_ALLOWED"),
        ("post", "/api/v1/dev/login", {"content": b"{not json"}, 400, "MALFORMED_JSON"),
        ("post", "/api/v1/dev/login", {"json": {"mail": "a@b.co"}}, 422, "VALIDATION_ERROR"),
        ("post", "/api/v1/dev/login", {"json": {"email": 5}}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_every_failure_has_detail_and_code(client, method, path, kwargs, status, code):
    response = await getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]


async def test_openapi_schema_is_served(client):
    response = await client.get("/api/v1/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/users/me/phone" in response.json()["paths"]


async def test_cors_allows_the_app_origin_only(client):
    allowed = await client.options(
        "/api/v1/users/me",
        headers={"Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "GET"},
    )
    assert allowed.headers.get("access-control-allow-origin") == "http://127.0.0.1:3000"
    other = await client.options(
        "/api/v1/users/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"
