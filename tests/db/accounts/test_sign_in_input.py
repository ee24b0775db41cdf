"""Dev sign-in refuses an address the users table cannot hold, instead of issuing a token whose first use
fails at the database."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db


async def test_an_email_over_320_characters_is_refused_with_a_422(client):
    response = await client.post("/api/v1/dev/login", json={"email": "a" * 310 + "@example.com"})
    assert response.status_code == 422
    assert response.json() == {"detail": "An email address is at most 320 characters", "code": "INVALID_EMAIL"}


async def test_an_email_of_320_characters_signs_in_and_works(client):
    email = "a" * 308 + "@example.com"
    assert len(email) == 320
    login = await client.post("/api/v1/dev/login", json={"email": email})
    assert login.status_code == 200, login.text
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == email
