"""`/users/me/export` (the user's data as a zip) and `DELETE /users/me` (the account and everything in it).

An export is prepared in two halves: the rows are read by the request that hands out the zip, but the
assistant's workspace lives on a Docker volume, and the API never talks to an engine. So the first ask writes
an export row (202); the reconciler, which holds the hosts' connections, reads the workspace's tar into it
(`runtime.user_data`); a later ask answers the zip with the rows as they are then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide
from litestar.params import QueryParameter

from yourclaw.accounts import web_session
from yourclaw.accounts.dependencies import CurrentUser, provide_current_user
from yourclaw.billing.controller import Stripe
from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.userdata import deletion, export
from yourclaw.userdata import repository as repo
from yourclaw.userdata.errors import ConfirmationRequired, ExportFailed
from yourclaw.userdata.schemas import ExportStatusOut

CONFIRM = "DELETE"
RETRY_AFTER_SECONDS = 5


def _fresh_for(settings: Settings) -> timedelta:
    return timedelta(hours=settings.export_retention_hours)


def _pending(row) -> Response[ExportStatusOut]:
    return Response(
        ExportStatusOut(status=row.status, requested_at=row.requested_at),
        status_code=202,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class UserDataController(Controller):
    path = "/users/me"
    tags = ["users"]
    dependencies = {"current_user": Provide(provide_current_user)}

    @get("/export")
    async def download(self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser) -> Response:
        """200 with the zip once the workspace is read; 202 (Retry-After) while it is, starting an export when
        there is none to hand out; 409 EXPORT_FAILED when the last one could not be made (POST starts anew)."""
        row = await repo.latest_export(db_session, current_user.id, _fresh_for(settings))
        if row is None:
            return _pending(await repo.request_export(db_session, current_user.id))
        if row.status == "PENDING":
            return _pending(row)
        if row.status == "FAILED":
            raise ExportFailed(row.error or "Your export could not be made; ask for a new one")
        now = datetime.now(UTC)
        body = await export.build_zip(db_session, current_user.id, row.workspace_tar, now)
        return Response(
            body,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="yourclaw-data-{now:%Y-%m-%d}.zip"',
                "Cache-Control": "no-store",
            },
        )

    @post("/export", status_code=202)
    async def start(
        self, settings: SettingsDep, db_session: DbSession, current_user: CurrentUser
    ) -> Response[ExportStatusOut]:
        """A new export (the workspace read again), unless one is being prepared."""
        row = await repo.latest_export(db_session, current_user.id, _fresh_for(settings))
        if row is None or row.status != "PENDING":
            row = await repo.request_export(db_session, current_user.id)
        return _pending(row)

    @delete("/", status_code=204)
    async def delete_me(
        self,
        request: Request,
        settings: SettingsDep,
        db_session: DbSession,
        current_user: CurrentUser,
        stripe: Stripe,
        account_revokers: deletion.Revokers,
        confirm: Annotated[str | None, QueryParameter()] = None,
    ) -> Response[None]:
        """Deletes the account for good: `?confirm=DELETE` says the user meant it (the dashboard asks them)."""
        if confirm != CONFIRM:
            raise ConfirmationRequired(f"Deleting your account cannot be undone; confirm with ?confirm={CONFIRM}")
        await deletion.delete_account(db_session, stripe, account_revokers, current_user.id)
        response: Response[None] = Response(None, status_code=204)
        return web_session.with_cookies(response, web_session.cleared_cookies(settings))
