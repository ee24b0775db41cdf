"""The assistant protocol beyond the poll (docs/assistant-protocol.md): lease renewal and acks, outbound
messages by idempotency key, media uploads, and the public signed media URL Twilio and the assistant
fetch. Everything but the media URL acts for the user the assistant token names, and only for them."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from yourclaw.kit.di import DbSession, SettingsDep
from yourclaw.protocol import media_repository as media_repo
from yourclaw.protocol import media_urls
from yourclaw.protocol import repository as queue
from yourclaw.protocol.auth import AssistantOwner, provide_assistant
from yourclaw.protocol.errors import (
    EmptyMedia,
    EmptyMessage,
    IdempotencyKeyRequired,
    IdempotencyKeyTooLong,
    InvalidContentType,
    LeaseNotHeld,
    MediaNotFound,
    MediaQuotaExceeded,
    MediaTooLarge,
    MediaUrlExpired,
    MediaUrlInvalid,
    MessageNotFound,
    MessageNotLeased,
    TextTooLong,
    UnknownMedia,
)
from yourclaw.protocol.outbound import store as store_outbound
from yourclaw.protocol.poll_controller import INSTANCE_ID_PATTERN
from yourclaw.protocol.typing import TypingDep

MAX_TEXT_CHARS = 20_000
MAX_IDEMPOTENCY_KEY = 200
# type/subtype with optional parameters, as in `image/jpeg` or `text/plain; charset=utf-8`.
_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;\s*[^\x00-\x1f;]+)*$")


class OutboundIn(msgspec.Struct):
    kind: Literal["reply", "proactive"]
    text: str
    media_id: uuid.UUID | None = None
    # The message this answers: a reply is granted only for one handed out recently (`protocol.outbound`).
    # Never a reason to refuse: kept when it names one of the user's messages, ignored otherwise.
    in_reply_to: str | None = None


class OutboundAccepted(msgspec.Struct):
    id: int
    # What it goes out as: "proactive" for a "reply" that answers no message recently handed out.
    kind: str


class MediaStored(msgspec.Struct):
    media_id: uuid.UUID


def _idempotency_key(raw: str | None) -> str:
    key = (raw or "").strip()
    if not key:
        raise IdempotencyKeyRequired("Send an Idempotency-Key header (for a reply: message id + part index)")
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise IdempotencyKeyTooLong(f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters")
    return key


def _content_type(raw: str | None) -> str:
    value = (raw or "").strip()
    if not value or len(value) > 100 or not _CONTENT_TYPE.match(value):
        raise InvalidContentType("Send the media's type as Content-Type (e.g. image/jpeg)")
    return value


class ProtocolController(Controller):
    path = "/runtime"
    tags = ["runtime"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @post("/inbound/{message_id:uuid}/extend", status_code=204)
    async def extend(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        typing: TypingDep,
        assistant: AssistantOwner,
        message_id: FromPath[uuid.UUID],
        instance_id: Annotated[
            str | None, HeaderParameter(name="X-Instance-Id", pattern=INSTANCE_ID_PATTERN, required=False)
        ] = None,
    ) -> None:
        outcome, message_sid = await queue.extend(
            db_session,
            message_id,
            assistant.user_id,
            assistant.assistant_id,
            instance_id=instance_id,
            lease_seconds=settings.inbound_lease_seconds,
        )
        if outcome == "missing":
            raise MessageNotFound("No such message")
        if outcome == "not_held":
            raise LeaseNotHeld("This instance does not hold the message's lease")
        if message_sid is not None:
            typing.renewed(message_id, message_sid)

    @post("/inbound/{message_id:uuid}/ack", status_code=204)
    async def ack(
        self, db_session: DbSession, typing: TypingDep, assistant: AssistantOwner, message_id: FromPath[uuid.UUID]
    ) -> None:
        typing.finished(message_id)
        outcome = await queue.ack(db_session, message_id, assistant.user_id)
        if outcome == "missing":
            raise MessageNotFound("No such message")
        if outcome == "not_leased":
            raise MessageNotLeased("The message has not been handed out")

    @post("/outbound", status_code=202)
    async def outbound(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        assistant: AssistantOwner,
        data: JSONBody[OutboundIn],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)] = None,
    ) -> OutboundAccepted:
        key = _idempotency_key(idempotency_key)
        user_id = assistant.user_id
        if len(data.text) > MAX_TEXT_CHARS:
            raise TextTooLong(f"The text is longer than {MAX_TEXT_CHARS} characters")
        if not data.text.strip() and data.media_id is None:
            raise EmptyMessage("A message needs text or media")
        if data.media_id is not None and not await media_repo.owns_media(db_session, user_id, data.media_id):
            raise UnknownMedia("No such media: upload it first with POST /runtime/media")
        stored = await store_outbound(
            db_session,
            user_id,
            idempotency_key=key,
            kind=data.kind,
            text=data.text,
            media_id=data.media_id,
            in_reply_to=data.in_reply_to,
            reply_window=timedelta(seconds=settings.reply_window_seconds),
        )
        return OutboundAccepted(id=stored.id, kind=stored.kind)

    @post("/media", status_code=201, request_max_body_size=None)
    async def upload_media(
        self, settings: SettingsDep, db_session: DbSession, assistant: AssistantOwner, request: Request
    ) -> MediaStored:
        content_type = _content_type(request.headers.get("content-type"))
        cap = settings.media_max_bytes
        too_large = MediaTooLarge(f"Media is limited to {cap} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise too_large
        # Read before the first query: no database connection is held while the bytes arrive.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise too_large
            chunks.append(chunk)
        if size == 0:
            raise EmptyMedia("The request body (the media's bytes) is empty")
        quota = settings.media_quota_bytes
        media_id = await media_repo.store_upload(
            db_session, assistant.user_id, content_type=content_type, data=b"".join(chunks), quota=quota
        )
        if media_id is None:
            raise MediaQuotaExceeded(
                f"Stored media is limited to {quota} bytes per user and this upload would pass it; "
                f"uploads expire {media_repo.MEDIA_RETENTION.days} days after they are made"
            )
        return MediaStored(media_id=media_id)


class MediaController(Controller):
    """Public: the signature in the URL is the permission (Twilio and the assistant fetch without our
    credentials)."""

    path = "/media"
    tags = ["media"]

    @get("/{media_id:uuid}", status_code=200)
    async def serve(
        self,
        settings: SettingsDep,
        db_session: DbSession,
        media_id: FromPath[uuid.UUID],
        expires: Annotated[str | None, QueryParameter(required=False)] = None,
        sig: Annotated[str | None, QueryParameter(required=False)] = None,
    ) -> Response[bytes]:
        # Parsed here, not by the framework: a mangled link is a 403 like any other bad link.
        expires_at = int(expires) if expires and expires.isdigit() and len(expires) < 12 else None
        check = media_urls.verify(settings, media_id, expires_at, sig)
        if check == "expired":
            raise MediaUrlExpired("This media link has expired")
        if check != "valid":
            raise MediaUrlInvalid("This media link is not valid")
        found = await media_repo.load_media(db_session, media_id)
        if found is None:
            raise MediaNotFound("This media is gone")
        content_type, data = found
        return Response(
            data,
            media_type=content_type,
            headers={
                "Cache-Control": "private, max-age=300",
                # Whatever the assistant uploaded is never run as a page on our origin.
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "Content-Disposition": "attachment",
            },
        )
