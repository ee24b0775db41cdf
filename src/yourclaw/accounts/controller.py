"""Routes for the signed-in user's profile and phone, and the local dev sign-in."""

from __future__ import annotations

import re

from litestar import Controller, get, patch, post
from litestar.di import Provide
from litestar.params import JSONBody

from yourclaw.accounts import repository as repo
from yourclaw.accounts import service
from yourclaw.accounts.jwt_verifier import issue_dev_token
from yourclaw.accounts.schemas import (
    DevLoginInput,
    DevLoginOutput,
    PhoneInput,
    PhoneOut,
    ProfileOut,
    ProfileUpdate,
)
from yourclaw.kit.errors import Unprocessable
from yourclaw.server.dependencies import AppStateDep, CurrentUser, DbSession, provide_current_user

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DEV_TOKEN_TTL = 7 * 24 * 3600


class UsersController(Controller):
    path = "/users/me"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/")
    async def me(self, app_state: AppStateDep, db_session: DbSession, current_user: CurrentUser) -> ProfileOut:
        return await service.profile(db_session, app_state.settings, current_user)

    @patch("/")
    async def update_me(
        self, app_state: AppStateDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[ProfileUpdate]
    ) -> ProfileOut:
        await repo.set_timezone(db_session, current_user.id, service.validate_timezone(data.timezone))
        await db_session.refresh(current_user)
        return await service.profile(db_session, app_state.settings, current_user)

    @post("/phone", status_code=200)
    async def set_phone(
        self, app_state: AppStateDep, db_session: DbSession, current_user: CurrentUser, data: JSONBody[PhoneInput]
    ) -> PhoneOut:
        return await service.set_phone(db_session, app_state.settings, current_user, data.phone, data.timezone)


class DevAuthController(Controller):
    """Exists only when no identity provider is configured; its tokens pass the same verification."""

    path = "/dev"
    tags = ["dev"]

    @post("/login", status_code=200)
    async def login(self, app_state: AppStateDep, data: JSONBody[DevLoginInput]) -> DevLoginOutput:
        email = data.email.strip().lower()
        if not _EMAIL.match(email):
            raise Unprocessable("Enter an email address", code="INVALID_EMAIL")
        settings = app_state.settings
        user_id = service.dev_user_id(email)
        token = issue_dev_token(
            settings.dev_jwt_secret or "",
            sub=str(user_id),
            email=email,
            issuer=settings.dev_jwt_issuer,
            ttl_seconds=DEV_TOKEN_TTL,
        )
        return DevLoginOutput(access_token=token, token_type="bearer", user_id=user_id, expires_in=DEV_TOKEN_TTL)
