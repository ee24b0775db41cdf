"""Routes for the signed-in user's phone, and the local dev sign-in."""

from __future__ import annotations

import re

from litestar import Controller, post
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.accounts import service
from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.accounts.errors import InvalidEmail, PhoneTaken
from yourclaw.accounts.jwt_verifier import issue_dev_token
from yourclaw.accounts.schemas import DevLoginInput, DevLoginOutput, PhoneInput, PhoneOut
from yourclaw.kit.di import DbSession, SettingsDep

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# What users.email holds (RFC 5321's longest address): a longer one would fail at the database.
MAX_EMAIL = 320


class PhoneController(Controller):
    path = "/users/me"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @post("/phone", status_code=200)
    async def set_phone(
        self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[PhoneInput]
    ) -> PhoneOut:
        await service.count_phone_attempt(db_session, settings, current_user.id)
        try:
            return await service.set_phone(db_session, settings, current_user, data.phone, data.timezone)
        except PhoneTaken:
            # A refusal rolls the request back, and this attempt must count all the same: rationing these
            # answers is what keeps anyone from learning whose numbers are linked.
            await db_session.commit()
            raise


class DevAuthController(Controller):
    """Exists only when no identity provider is configured; its tokens pass the same verification."""

    path = "/dev"
    tags = ["dev"]

    @post("/login", status_code=200)
    async def login(self, settings: SettingsDep, data: JSONBody[DevLoginInput]) -> DevLoginOutput:
        email = data.email.strip().lower()
        if len(email) > MAX_EMAIL:
            raise InvalidEmail(f"An email address is at most {MAX_EMAIL} characters")
        if not _EMAIL.match(email):
            raise InvalidEmail("Enter an email address")
        user_id = service.dev_user_id(email)
        token = issue_dev_token(
            settings.dev_jwt_secret or "",
            sub=str(user_id),
            email=email,
            issuer=settings.dev_jwt_issuer,
            ttl_seconds=settings.dev_token_ttl_seconds,
        )
        return DevLoginOutput(
            access_token=token, token_type="bearer", user_id=user_id, expires_in=settings.dev_token_ttl_seconds
        )
