"""WhatsApp's "typing…" through Twilio (the real SDK against the Twilio stand-in), on the real app and
PostgreSQL: shown when a message is handed out, renewed while the lease is, never in the message's way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from tests.harness.assistant_protocol import (
    INBOUND,
    Owner,
    Served,
    make_owner,
    only_message,
    poll,
    queue_message,
    serve,
)
from tests.harness.settings import make_settings
from tests.harness.waiting import wait_for
from yourclaw.db.models import InboundMessage
from yourclaw.standins.twilio import TwilioStandin

pytestmark = pytest.mark.db


@pytest.fixture
def twilio() -> Iterator[TwilioStandin]:
    standin = TwilioStandin(account_sid="AC" + "d" * 32)
    standin.start()
    yield standin
    standin.stop()


def twilio_settings(database_url: str, twilio: TwilioStandin, **more: str):
    return make_settings(
        database_url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_API_BASE_URL=twilio.base_url,
        **more,
    )


@pytest.fixture
async def served(database_url, db, twilio) -> AsyncIterator[Served]:
    async with serve(twilio_settings(database_url, twilio)) as served:
        yield served


@pytest.fixture
async def alice(sessions) -> Owner:
    return await make_owner(sessions)


async def message_sid(sessions, message_id) -> str:
    async with sessions() as s:
        return await s.scalar(select(InboundMessage.message_sid).where(InboundMessage.id == message_id))


async def test_a_message_handed_out_shows_typing_against_its_message_sid(served, sessions, twilio, alice):
    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    assert only_message(await poll(served.http, alice))["id"] == str(message_id)
    sid = await message_sid(sessions, message_id)
    await wait_for(lambda: twilio.typing == [sid], message="the typing indicator")

    # A renewal this soon after (TYPING_RENEW_SECONDS is 20) shows nothing more.
    extended = await served.http.post(f"{INBOUND}/{message_id}/extend", headers=alice.headers)
    assert extended.status_code == 204
    await served.state.typing.drain()
    assert twilio.typing == [sid]


async def test_a_renewal_on_another_process_shows_typing_again(served, sessions, twilio, alice):
    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    only_message(await poll(served.http, alice))
    sid = await message_sid(sessions, message_id)
    await wait_for(lambda: len(twilio.typing) == 1, message="the first indicator")
    served.state.typing.finished(message_id)  # as if the poll had landed on another API process
    assert (await served.http.post(f"{INBOUND}/{message_id}/extend", headers=alice.headers)).status_code == 204
    await wait_for(lambda: twilio.typing == [sid, sid], message="the renewed indicator")


async def test_a_failing_indicator_never_stops_the_message(served, sessions, twilio, alice):
    twilio.fail_typing_next(5)
    message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
    assert only_message(await poll(served.http, alice))["id"] == str(message_id)
    await served.state.typing.drain()
    assert twilio.typing == []


async def test_without_twilio_credentials_no_indicator_is_tried(database_url, db, sessions, alice):
    async with serve(make_settings(database_url)) as served:
        assert not served.state.typing.enabled
        message_id = await queue_message(sessions, alice.user_id, "hi", notify=False)
        assert only_message(await poll(served.http, alice))["id"] == str(message_id)


async def test_typing_can_be_turned_off(database_url, db, twilio, sessions, alice):
    async with serve(twilio_settings(database_url, twilio, TYPING_INDICATOR="false")) as served:
        assert not served.state.typing.enabled
        await queue_message(sessions, alice.user_id, "hi", notify=False)
        only_message(await poll(served.http, alice))
        await served.state.typing.drain()
        assert twilio.typing == []
