"""Sign-in, profile and phone onboarding through the real app on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from tests.harness.rows import sign_in
from yourclaw.db.models import UserPhone

pytestmark = pytest.mark.db


async def test_first_request_creates_the_user_and_profile_is_empty(client):
    headers, user_id = await sign_in(client, "Ann@Example.com")
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(user_id)
    assert body["email"] == "ann@example.com"
    assert body["phone"] is None and body["subscription"] is None and body["assistant"] is None
    assert body["credits"] == {"remaining_cents": 0, "total_cents": 0, "own_key": False}


async def test_same_email_signs_in_as_the_same_user(client):
    _, first = await sign_in(client, "bob@example.com")
    _, second = await sign_in(client, "BOB@example.com")
    assert first == second


async def test_phone_is_stored_unverified_with_code_and_link(client, db):
    headers, user_id = await sign_in(client)
    response = await client.post(
        "/api/v1/users/me/phone", json={"phone": "+1 (415) 555-2671", "timezone": "Europe/Paris"}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phone"] == "+14155552671"
    assert body["verified"] is False
    code = body["verification"]["code"]
    assert len(code) == 6 and code.isdigit()
    assert body["verification"]["message"] == f"link {code}"
    assert body["verification"]["link"] == f"https://wa.me/14155238886?text=link%20{code}"
    row = await db.scalar(select(UserPhone).where(UserPhone.user_id == user_id))
    assert row.phone_e164 == "+14155552671" and row.verified_at is None and row.verification_code == code

    me = (await client.get("/api/v1/users/me", headers=headers)).json()
    assert me["timezone"] == "Europe/Paris"
    assert me["phone"]["verification"]["code"] == code


@pytest.mark.parametrize(
    "phone",
    ["4155552671", "+1 415 555", "+999 1234567", "not a phone", "", "+44 20 7946 09601234"],
)
async def test_invalid_phone_is_a_clear_422(client, phone):
    headers, _ = await sign_in(client)
    response = await client.post("/api/v1/users/me/phone", json={"phone": phone}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_PHONE"
    assert response.json()["detail"]


async def test_number_verified_by_someone_else_is_a_409(client, db):
    headers_a, user_a = await sign_in(client)
    headers_b, _ = await sign_in(client)
    assert (await client.post("/api/v1/users/me/phone", json={"phone": "+14155552671"}, headers=headers_a)).is_success
    await db.execute(update(UserPhone).where(UserPhone.user_id == user_a).values(verified_at=datetime.now(UTC)))
    await db.commit()

    response = await client.post("/api/v1/users/me/phone", json={"phone": "+14155552671"}, headers=headers_b)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This WhatsApp number is already linked to another account",
        "code": "PHONE_TAKEN",
    }


async def test_unverified_claims_do_not_block_each_other(client):
    headers_a, _ = await sign_in(client)
    headers_b, _ = await sign_in(client)
    for headers in (headers_a, headers_b):
        response = await client.post("/api/v1/users/me/phone", json={"phone": "+447946095512"}, headers=headers)
        assert response.status_code == 200, response.text


async def test_resubmitting_a_verified_number_keeps_it_verified(client, db):
    headers, user_id = await sign_in(client)
    await client.post("/api/v1/users/me/phone", json={"phone": "+14155552671"}, headers=headers)
    await db.execute(update(UserPhone).where(UserPhone.user_id == user_id).values(verified_at=datetime.now(UTC)))
    await db.commit()
    again = await client.post("/api/v1/users/me/phone", json={"phone": "+14155552671"}, headers=headers)
    assert again.json()["verified"] is True and again.json()["verification"] is None

    changed = await client.post("/api/v1/users/me/phone", json={"phone": "+14155552672"}, headers=headers)
    assert changed.json()["verified"] is False and changed.json()["phone"] == "+14155552672"


async def test_timezone_is_validated(client):
    headers, _ = await sign_in(client)
    bad = await client.patch("/api/v1/users/me", json={"timezone": "Mars/Olympus"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "INVALID_TIMEZONE"
    good = await client.patch("/api/v1/users/me", json={"timezone": "America/New_York"}, headers=headers)
    assert good.status_code == 200 and good.json()["timezone"] == "America/New_York"


async def test_dev_login_rejects_a_non_email(client):
    response = await client.post("/api/v1/dev/login", json={"email": "nobody"})
    assert response.status_code == 422 and response.json()["code"] == "INVALID_EMAIL"


async def test_phone_endpoint_validation_errors_have_the_format(client):
    headers, _ = await sign_in(client)
    response = await client.post("/api/v1/users/me/phone", json={"number": "+14155552671"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "phone" in response.json()["detail"]
