"""The sender on PostgreSQL, through the real twilio SDK, against the local Twilio stand-in: parts and
their order, retries that never send twice, the 24-hour window and templates, STOP, quiet hours and the
daily cap, several senders at once, and a sender killed in the middle of a batch."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from structlog.testing import capture_logs

from tests.harness.live_server import LiveServer
from tests.harness.outbound_sender import TEMPLATE_SID, sender_settings, senders
from tests.harness.ports import free_port
from tests.harness.settings import PROJECT_ROOT, make_settings
from tests.harness.waiting import wait_for
from yourclaw.db import channels
from yourclaw.db.models import Media, Message, Outbox, UsageDaily, User, UserPhone
from yourclaw.kit.settings import Settings
from yourclaw.messaging.outbound.outbox import enqueue_whatsapp
from yourclaw.messaging.outbound.sender import Tuning
from yourclaw.messaging.outbound.splitting import split_message
from yourclaw.protocol import media_urls
from yourclaw.standins import WORKER_SERVICES, Standins
from yourclaw.standins.twilio import TwilioStandin

pytestmark = pytest.mark.db

_numbers = itertools.count(1000)


def new_phone() -> str:
    return f"+1555{os.getpid() % 1000:03d}{next(_numbers):04d}"


@pytest.fixture
def standin():
    standin = TwilioStandin(account_sid="AC" + "a" * 32)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def settings(database_url, standin) -> Settings:
    return sender_settings(database_url, standin)


async def make_user(
    sessions: async_sessionmaker,
    *,
    wrote_ago: timedelta | None = timedelta(minutes=5),
    timezone: str | None = None,
    opted_out: bool = False,
    verified: bool = True,
) -> tuple[uuid.UUID, str]:
    phone = new_phone()
    now = datetime.now(UTC)
    async with sessions() as s:
        user = User(id=uuid.uuid4(), email=f"{uuid.uuid4().hex[:8]}@example.com", timezone=timezone)
        s.add(user)
        await s.flush()
        s.add(
            UserPhone(
                user_id=user.id,
                phone_e164=phone,
                verified_at=now if verified else None,
                verification_code=None if verified else "123456",
                code_expires_at=None if verified else now + timedelta(minutes=30),
                last_inbound_at=now - wrote_ago if wrote_ago is not None else None,
                opted_out_at=now if opted_out else None,
            )
        )
        await s.commit()
    return user.id, phone


async def enqueue(sessions, user_id, text: str, kind: str = "reply", **kwargs) -> int:
    async with sessions() as s:
        outbox_id = await enqueue_whatsapp(s, user_id, text, kind, **kwargs)
        await s.commit()
    return outbox_id


async def user_writes(sessions, user_id: uuid.UUID) -> None:
    """What the webhook does when the user writes: the window opens and the sender is woken."""
    async with sessions() as s:
        await s.execute(update(UserPhone).where(UserPhone.user_id == user_id).values(last_inbound_at=func.now()))
        await s.execute(select(func.pg_notify(channels.OUTBOX, str(user_id))))
        await s.commit()


async def row(sessions, outbox_id: int) -> Outbox:
    async with sessions() as s:
        return await s.get(Outbox, outbox_id)


async def status_is(sessions, outbox_id: int, *statuses: str) -> bool:
    return (await row(sessions, outbox_id)).status in statuses


async def outbound(sessions, user_id) -> list[Message]:
    async with sessions() as s:
        query = select(Message).where(Message.user_id == user_id, Message.direction == "OUTBOUND")
        return list((await s.scalars(query.order_by(Message.created_at))).all())


async def usage(sessions, user_id) -> tuple[int, int]:
    async with sessions() as s:
        counts = (
            await s.execute(
                select(UsageDaily.outbound_count, UsageDaily.proactive_count).where(UsageDaily.user_id == user_id)
            )
        ).first()
    return tuple(counts) if counts else (0, 0)


def long_text(label: str, paragraphs: int = 5) -> str:
    filler = "Words and more words, with emoji 🎉. " * 25
    return "\n\n".join(f"{label} paragraph {i}. {filler}" for i in range(paragraphs))


def bodies(standin: TwilioStandin, phone: str) -> list[str]:
    return [m.body for m in standin.messages_to(phone)]


# --- parts, records, retries ----------------------------------------------------------------------


async def test_a_long_reply_goes_in_parts_in_order_and_everything_is_recorded(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions)
    text = long_text("Reply")
    parts = [p.strip() for p in split_message(text)]
    assert len(parts) >= 3
    outbox_id = await enqueue(sessions, user_id, text, "reply")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the reply to be sent")

    sent = standin.messages_to(phone)
    assert [m.body for m in sent] == parts
    assert all(m.from_ == settings.twilio_whatsapp_number for m in sent)
    assert all(m.status_callback == "http://127.0.0.1:8000/api/v1/webhooks/twilio/status" for m in sent)
    done = await row(sessions, outbox_id)
    assert done.parts_sent == len(parts) and done.twilio_sids == [m.sid for m in sent]
    assert done.sent_at is not None and done.last_error is None
    logged = await outbound(sessions, user_id)
    assert [(m.body, m.twilio_sid, m.kind) for m in logged] == [(m.body, m.sid, "reply") for m in sent]
    assert await usage(sessions, user_id) == (len(parts), 0)


async def test_failures_are_retried_and_no_part_is_ever_sent_twice(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions)
    text = long_text("Retried", paragraphs=6)
    parts = [p.strip() for p in split_message(text)]
    # Part 1: two 500s. Part 2: Twilio accepts it but the answer is lost (a 500 after the fact). Then 429.
    standin.fail_next(2, status=500, after=1)
    standin.lose_next_response(1)
    standin.fail_next(1, status=429)
    outbox_id = await enqueue(sessions, user_id, text, "reply", dedupe_key="retried")
    assert await enqueue(sessions, user_id, text, "reply", dedupe_key="retried") is None

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the reply to be sent")

    assert bodies(standin, phone) == parts, "each part exactly once, in order"
    assert standin.attempts == len(parts) + 3  # the lost answer's message was not sent again
    done = await row(sessions, outbox_id)
    assert done.twilio_sids == [m.sid for m in standin.messages_to(phone)]
    assert len(await outbound(sessions, user_id)) == len(parts)


async def test_a_permanent_refusal_fails_that_message_only_and_leaks_no_secret(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions)
    standin.fail_next(1, status=400, code=21610, message="Attempt to send to unsubscribed recipient")
    errors_before = REGISTRY.get_sample_value("yourclaw_twilio_send_errors_total", {"code": "21610"}) or 0
    refused = await enqueue(sessions, user_id, "first", "reply")
    following = await enqueue(sessions, user_id, "second", "reply")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, following, "SENT"), message="the next message")

    failed = await row(sessions, refused)
    assert failed.status == "FAILED" and "21610" in failed.last_error
    assert settings.twilio_auth_token not in failed.last_error
    assert bodies(standin, phone) == ["second"]
    assert REGISTRY.get_sample_value("yourclaw_twilio_send_errors_total", {"code": "21610"}) == errors_before + 1


async def test_twilio_down_for_good_gives_up_after_the_attempts(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions)
    standin.fail_next(3, status=503)
    outbox_id = await enqueue(sessions, user_id, "never", "reply")

    async with senders(settings, tuning=Tuning(retry_base=0.02, retry_cap=0.05, max_attempts=3)):
        await wait_for(lambda: status_is(sessions, outbox_id, "FAILED"), message="giving up")

    failed = await row(sessions, outbox_id)
    assert "gave up after 3 attempts" in failed.last_error and failed.attempts == 2
    assert standin.messages_to(phone) == []


# --- the 24-hour window -----------------------------------------------------------------------------


async def test_a_proactive_message_inside_the_window_goes_free_form(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions, wrote_ago=timedelta(hours=23))
    outbox_id = await enqueue(sessions, user_id, "Reminder: call mum", "proactive")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the reminder")

    (sent,) = standin.messages_to(phone)
    assert sent.body == "Reminder: call mum" and sent.content_sid is None
    assert await usage(sessions, user_id) == (1, 1)


async def test_outside_the_window_the_template_goes_and_the_text_follows_the_users_next_message(
    settings, standin, sessions, db
):
    user_id, phone = await make_user(sessions, wrote_ago=timedelta(hours=30))
    text = long_text("Held", paragraphs=3)
    outbox_id = await enqueue(sessions, user_id, text, "proactive")
    later = await enqueue(sessions, user_id, "a notice behind it", "system")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "HELD"), message="the template")
        (template,) = standin.messages_to(phone)
        assert template.content_sid == TEMPLATE_SID
        assert template.content_variables == {"1": "You have a message waiting"}
        assert (await row(sessions, outbox_id)).held_since is not None
        # Order: the notice behind it waits too, and nothing else goes while nobody writes.
        await asyncio.sleep(1.0)  # two scan intervals: proves the absence of a send, no synchronisation
        assert len(standin.messages_to(phone)) == 1 and await status_is(sessions, later, "PENDING")

        await user_writes(sessions, user_id)
        await wait_for(lambda: status_is(sessions, later, "SENT"), message="the text after the user wrote")

    sent = standin.messages_to(phone)
    assert [m.body for m in sent[1:]] == [p.strip() for p in split_message(text)] + ["a notice behind it"]
    logged = await outbound(sessions, user_id)
    assert logged[0].twilio_sid == template.sid and logged[0].kind == "proactive"
    assert await usage(sessions, user_id) == (len(sent), 1)


async def test_twilio_refusing_the_window_63016_takes_the_template_path(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions, wrote_ago=timedelta(hours=2))
    standin.refuse_window_next(1)
    outbox_id = await enqueue(sessions, user_id, "Your report is ready", "system")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "HELD"), message="the template after 63016")
        assert [m.content_sid for m in standin.messages_to(phone)] == [TEMPLATE_SID]
        await user_writes(sessions, user_id)
        await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the text")

    assert bodies(standin, phone)[1:] == ["Your report is ready"]


async def test_a_template_whose_answer_was_lost_is_not_sent_again(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions, wrote_ago=None)
    standin.lose_next_response(1)
    outbox_id = await enqueue(sessions, user_id, "Good morning", "system")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, outbox_id, "HELD"), message="the template")
        await user_writes(sessions, user_id)
        await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the text")

    assert [m.content_sid for m in standin.messages_to(phone)] == [TEMPLATE_SID, None]


# --- STOP, quiet hours, the cap ---------------------------------------------------------------------


async def test_stop_silences_proactive_messages_and_templates_but_not_replies(settings, standin, sessions, db):
    inside, inside_phone = await make_user(sessions, opted_out=True)
    proactive = await enqueue(sessions, inside, "unsolicited", "proactive")
    reply = await enqueue(sessions, inside, "the answer to your question", "reply")
    outside, outside_phone = await make_user(sessions, opted_out=True, wrote_ago=timedelta(days=2))
    notice = await enqueue(sessions, outside, "your assistant is ready", "system")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, reply, "SENT"), message="the reply")
        await wait_for(lambda: status_is(sessions, notice, "HELD"), message="the notice to wait, with no template")

    assert (await row(sessions, proactive)).status == "CANCELED"
    assert bodies(standin, inside_phone) == ["the answer to your question"]
    assert standin.messages_to(outside_phone) == []


def _quiet_now(zone: str) -> tuple[str, datetime]:
    """Quiet hours around the present moment in `zone`, and when they end (UTC)."""
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    end = end.replace(second=0, microsecond=0)
    return f"{start:%H:%M}-{end:%H:%M}", end.astimezone(UTC)


async def test_quiet_hours_hold_proactive_messages_in_the_users_timezone_without_blocking_replies(
    database_url, standin, sessions, db
):
    quiet, ends = _quiet_now("Asia/Kathmandu")  # UTC+05:45: a timezone no server clock uses by accident
    settings = sender_settings(database_url, standin, QUIET_HOURS=quiet)
    user_id, phone = await make_user(sessions, timezone="Asia/Kathmandu")
    elsewhere, elsewhere_phone = await make_user(sessions, timezone="America/Los_Angeles")
    night = await enqueue(sessions, user_id, "proactive at night", "proactive")
    reply = await enqueue(sessions, user_id, "a reply goes at any hour", "reply")
    awake = await enqueue(sessions, elsewhere, "daytime over there", "proactive")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, reply, "SENT"), message="the reply")
        await wait_for(lambda: status_is(sessions, awake, "SENT"), message="the other timezone's message")
    held = await row(sessions, night)
    assert held.status == "PENDING" and abs(held.not_before - ends) < timedelta(seconds=1)
    assert "quiet hours" in held.last_error
    assert bodies(standin, phone) == ["a reply goes at any hour"]
    assert bodies(standin, elsewhere_phone) == ["daytime over there"]

    # Morning: the held message goes (held, not dropped).
    async with sessions() as s:
        await s.execute(update(Outbox).where(Outbox.id == night).values(not_before=func.now()))
        await s.commit()
    async with senders(sender_settings(database_url, standin, QUIET_HOURS="off")):
        await wait_for(lambda: status_is(sessions, night, "SENT"), message="the morning send")
    assert bodies(standin, phone)[-1] == "proactive at night"


async def test_the_daily_cap_defers_proactive_messages_to_the_next_day(database_url, standin, sessions, db):
    settings = sender_settings(database_url, standin, PROACTIVE_DAILY_CAP="2")
    user_id, phone = await make_user(sessions)
    ids = [await enqueue(sessions, user_id, f"proactive {i}", "proactive") for i in range(3)]
    reply = await enqueue(sessions, user_id, "a reply is not capped", "reply")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, reply, "SENT"), message="the reply")
    assert bodies(standin, phone) == ["proactive 0", "proactive 1", "a reply is not capped"]
    deferred = await row(sessions, ids[2])
    async with sessions() as s:
        tomorrow = await s.scalar(select(func.cast(func.current_date() + 1, Outbox.not_before.type)))
    assert deferred.status == "PENDING" and deferred.not_before == tomorrow
    assert await usage(sessions, user_id) == (3, 2)


# --- recipients, media ----------------------------------------------------------------------------


async def test_numbers_without_an_account_get_their_reply_and_unverified_users_wait(settings, standin, sessions, db):
    stranger = new_phone()
    async with sessions() as s:
        to_stranger = await enqueue_whatsapp(s, None, "Sign up at ...", "system", to_phone=stranger, dedupe_key="k")
        await s.commit()
    pending_user, pending_phone = await make_user(sessions, verified=False)
    waiting = await enqueue(sessions, pending_user, "your assistant is ready", "system")

    async with senders(settings):
        await wait_for(lambda: status_is(sessions, to_stranger, "SENT"), message="the stranger's reply")
        await asyncio.sleep(1.0)  # two scan intervals: proves the absence of a send
        assert await status_is(sessions, waiting, "PENDING") and standin.messages_to(pending_phone) == []
        async with sessions() as s:
            await s.execute(
                update(UserPhone)
                .where(UserPhone.user_id == pending_user)
                .values(verified_at=func.now(), last_inbound_at=func.now())
            )
            await s.execute(select(func.pg_notify(channels.OUTBOX, str(pending_user))))
            await s.commit()
        await wait_for(lambda: status_is(sessions, waiting, "SENT"), message="the message after verification")

    assert bodies(standin, stranger) == ["Sign up at ..."]
    assert bodies(standin, pending_phone) == ["your assistant is ready"]


async def test_media_goes_as_our_signed_url(settings, standin, sessions, db):
    user_id, phone = await make_user(sessions)
    async with sessions() as s:
        media = Media(
            user_id=user_id,
            source="outbound",
            content_type="image/png",
            size=4,
            data=b"\x89PNG",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
        s.add(media)
        await s.flush()
        s.add(Outbox(user_id=user_id, kind="reply", body="the chart you asked for", media_id=media.id))
        await s.commit()

    async with senders(settings):
        await wait_for(lambda: standin.messages_to(phone), message="the media message")

    (sent,) = standin.messages_to(phone)
    (url,) = sent.media_urls
    parts = urlsplit(url)
    assert url.startswith(f"{settings.api_url}/api/v1/media/{media.id}?")
    query = parse_qs(parts.query)
    check = media_urls.verify(settings, media.id, int(query["expires"][0]), query["sig"][0])
    assert check == "valid"


# --- several senders, killed senders --------------------------------------------------------------


async def test_order_per_user_holds_with_three_senders(settings, standin, sessions, db):
    users = [await make_user(sessions) for _ in range(3)]
    expected: dict[str, list[str]] = {}
    ids = []
    for i in range(10):
        for n, (user_id, phone) in enumerate(users):
            text = f"user {n} message {i}" if i % 3 else long_text(f"user {n} message {i}", paragraphs=3)
            ids.append(await enqueue(sessions, user_id, text, "reply"))
            expected.setdefault(phone, []).extend(p.strip() for p in split_message(text))
    standin.fail_next(3, status=500, after=5)
    standin.lose_next_response(2, after=4)
    standin.latency = 0.01  # each send takes a moment: two sends to one number at once would be seen

    # One recipient at a time per sender, so the three users are spread over the three senders.
    with capture_logs() as logs:
        async with senders(settings, count=3, tuning=Tuning(concurrency=1, retry_base=0.05, retry_cap=0.3)):

            async def all_sent() -> bool:
                async with sessions() as s:
                    left = await s.scalar(select(func.count()).where(Outbox.id.in_(ids), Outbox.status != "SENT"))
                return left == 0

            await wait_for(all_sent, timeout=60, message="all 30 messages")

    for phone, parts in expected.items():
        assert bodies(standin, phone) == parts
    assert len(standin.messages) == sum(len(p) for p in expected.values())
    assert standin.max_concurrent_per_recipient == 1, "two sends to one number overlapped"
    sent_by = {entry["sender"] for entry in logs if entry["event"] in ("outbox_part_sent", "outbox_part_recovered")}
    assert len(sent_by) >= 2, "the work was not shared"


SENDER_PROCESS = """
import asyncio, os
from yourclaw.kit.crypto import SecretBox
from yourclaw.db.engine import make_engine, make_sessionmaker
from yourclaw.messaging.outbound.sender import Tuning, run_sender
from yourclaw.kit.settings import load_settings

settings = load_settings(dict(os.environ))

async def main():
    engine = make_engine(settings.database_url, pool_size=3)
    stop = asyncio.Event()
    await run_sender(settings, make_sessionmaker(engine), SecretBox(settings.fernet_keys), stop,
                     tuning=Tuning(retry_base=0.05, retry_cap=0.3))

asyncio.run(main())
"""


def _environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    for name in settings.__struct_fields__:
        value = getattr(settings, name)
        if value is not None:
            env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _start_sender_process(settings: Settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SENDER_PROCESS],
        cwd=PROJECT_ROOT,
        env=_environment(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_a_sender_killed_mid_batch_loses_and_duplicates_nothing(settings, standin, sessions, db):
    users = [await make_user(sessions) for _ in range(2)]
    expected: dict[str, list[str]] = {}
    ids = []
    for i in range(4):
        for user_id, phone in users:
            text = long_text(f"{phone} batch {i}", paragraphs=3)
            ids.append(await enqueue(sessions, user_id, text, "proactive"))
            expected.setdefault(phone, []).extend(p.strip() for p in split_message(text))
    # Twilio accepts the 6th message but its answer never reaches the first sender: killed meanwhile.
    standin.hold_next(1, after=5)

    first = _start_sender_process(settings)
    try:
        await wait_for(lambda: standin.held == 1, timeout=30, message="a send in flight")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    standin.release_held()  # its answer goes to a dead socket
    assert first.returncode == -signal.SIGKILL

    second = _start_sender_process(settings)
    try:

        async def all_sent() -> bool:
            async with sessions() as s:
                left = await s.scalar(select(func.count()).where(Outbox.id.in_(ids), Outbox.status != "SENT"))
            return left == 0

        await wait_for(all_sent, timeout=60, message="the second sender to finish the batch")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(10)
        except subprocess.TimeoutExpired:
            second.kill()

    for phone, parts in expected.items():
        assert bodies(standin, phone) == parts, "nothing lost, nothing twice, in order"
    async with sessions() as s:
        sids = list((await s.scalars(select(func.unnest(Outbox.twilio_sids)).where(Outbox.id.in_(ids)))).all())
        logged = await s.scalar(select(func.count()).select_from(Message).where(Message.direction == "OUTBOUND"))
    assert sorted(sids) == sorted(m.sid for m in standin.messages)
    assert logged == len(standin.messages)


# --- with the rest of the product -----------------------------------------------------------------


@pytest.mark.parametrize("before_answer", [False, True], ids=["after-answer", "before-answer"])
async def test_status_callbacks_reach_the_webhook_and_update_delivery(database_url, sessions, db, before_answer):
    """Also when Twilio posts them before the sender has read the sid from its answer: kept, then applied."""
    port = free_port()
    standin = TwilioStandin(
        account_sid="AC" + "b" * 32, status_callbacks=("sent", "delivered"), statuses_before_answer=before_answer
    )
    standin.start()
    try:
        settings = sender_settings(database_url, standin, API_URL=f"http://127.0.0.1:{port}")
        user_id, _ = await make_user(sessions)
        await enqueue(sessions, user_id, "tracked", "reply")
        async with LiveServer(settings, port=port), senders(settings):

            async def delivered() -> bool:
                logged = await outbound(sessions, user_id)
                return bool(logged) and logged[0].delivery_status == "delivered"

            await wait_for(delivered, message="the delivered status")
    finally:
        standin.stop()


async def test_mock_twilio_points_the_sender_at_a_stand_in_in_process(database_url, sessions, db):
    settings = make_settings(database_url, MOCK_TWILIO="true", TWILIO_AUTH_TOKEN="dev-token", QUIET_HOURS="off")
    user_id, _ = await make_user(sessions, wrote_ago=None)
    outbox_id = await enqueue(sessions, user_id, "hello from dev", "system")

    standins = Standins.start(settings, WORKER_SERVICES)
    try:
        assert standins.twilio is not None and standins.settings.twilio_api_base_url == standins.twilio.base_url
        async with senders(standins.settings):
            # No template configured in dev: a placeholder one goes, as it would in production.
            await wait_for(lambda: status_is(sessions, outbox_id, "HELD"), message="the dev template")
            await user_writes(sessions, user_id)
            await wait_for(lambda: status_is(sessions, outbox_id, "SENT"), message="the dev send")
    finally:
        standins.stop()
    assert (await row(sessions, outbox_id)).twilio_sids[0].startswith("SM")
    assert standins.twilio.messages[-1].body == "hello from dev"
