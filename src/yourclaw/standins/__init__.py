"""Local stand-ins for every outside service, for `yourclaw dev` and the tests: Twilio, Stripe and
Anthropic (local HTTP servers the real SDKs talk to), Docker hosts and OpenClaw (the stand-in runtime
and assistant), and a WhatsApp user (`yourclaw say`, the pages' simulator).

The domains never import this package and have no stand-in branch: `start` runs the stand-ins a process
needs, as the MOCK_* settings ask, and hands back settings that point at them, so the product's own code
talks to them exactly as it talks to the real services.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import structlog

from yourclaw.billing.controller import WEBHOOK_PATH as STRIPE_WEBHOOK_PATH
from yourclaw.kit.settings import Settings
from yourclaw.standins.anthropic import AnthropicStandin
from yourclaw.standins.brave import BraveStandin
from yourclaw.standins.google import GoogleStandin
from yourclaw.standins.stripe import DEV_API_KEY, DEV_PRICE_ID, StripeStandin
from yourclaw.standins.transcription import TranscriptionStandin
from yourclaw.standins.twilio import DEV_ACCOUNT_SID, TwilioStandin

log = structlog.get_logger(__name__)

# What each kind of process calls: the API process reads Stripe back and proxies the LLM; the worker sends
# through Twilio (and the Twilio stand-in posts its status callbacks to the API).
API_SERVICES = ("stripe", "anthropic", "google", "brave", "transcription")
WORKER_SERVICES = ("twilio",)

# The Anthropic stand-in accepts any key; this one says where it came from in its logs.
ANTHROPIC_KEY = "sk-ant-standin-local-development-only"
TWILIO_TEMPLATE_SID = "HX" + "0" * 32


def wants_anthropic(settings: Settings) -> bool:
    """`yourclaw dev` with no shared key: the stand-in model answers. Production never uses it."""
    return settings.is_development and not settings.anthropic_api_key


def wants_brave(settings: Settings) -> bool:
    """`yourclaw dev` with no search key: the assistant searches the stand-in's made-up results."""
    return settings.is_development and not settings.brave_search_api_key


def wants_transcription(settings: Settings) -> bool:
    """`yourclaw dev` with no transcription key: voice notes are "heard" by the stand-in."""
    return settings.is_development and not settings.openai_api_key


def wants_stripe(settings: Settings) -> bool:
    return settings.mock_stripe and not settings.stripe_api_base_url


def wants_google(settings: Settings) -> bool:
    return settings.mock_google and not settings.google_client_id


def wants_twilio(settings: Settings) -> bool:
    return settings.mock_twilio and not settings.twilio_api_base_url


@dataclass
class Standins:
    """The stand-ins one process runs, and the settings that point at them."""

    settings: Settings
    twilio: TwilioStandin | None = None
    stripe: StripeStandin | None = None
    anthropic: AnthropicStandin | None = None
    brave: BraveStandin | None = None
    transcription: TranscriptionStandin | None = None
    google: GoogleStandin | None = None
    _running: list = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings, services: Iterable[str]) -> Standins:
        """Start those of `services` the settings ask for; none at all in production."""
        wanted = set(services)
        running = cls(settings)
        try:
            if "stripe" in wanted and wants_stripe(settings):
                running._start_stripe()
            if "anthropic" in wanted and wants_anthropic(settings):
                running._start_anthropic()
            if "brave" in wanted and wants_brave(settings):
                running._start_brave()
            if "transcription" in wanted and wants_transcription(settings):
                running._start_transcription()
            if "google" in wanted and wants_google(settings):
                running._start_google()
            if "twilio" in wanted and wants_twilio(settings):
                running._start_twilio()
        except BaseException:
            running.stop()
            raise
        return running

    def _point_at(self, **values: object) -> None:
        self.settings = msgspec.structs.replace(self.settings, **values)

    def _start_stripe(self) -> None:
        settings = self.settings
        self.stripe = StripeStandin(
            api_key=settings.stripe_secret_key or DEV_API_KEY,
            webhook_secret=settings.stripe_webhook_secret or "whsec_" + secrets.token_urlsafe(24),
            price_id=settings.stripe_price_id or DEV_PRICE_ID,
            webhook_url=settings.api_url.rstrip("/") + STRIPE_WEBHOOK_PATH,
            state_file=settings.state_dir / "stripe-fake.json",
        )
        url = self.stripe.start()
        self._running.append(self.stripe)
        log.info("mock_stripe_started", url=url)
        self._point_at(
            stripe_api_base_url=url,
            stripe_secret_key=self.stripe.api_key,
            stripe_webhook_secret=self.stripe.webhook_secret,
            stripe_price_id=self.stripe.price_id,
        )

    def _start_anthropic(self) -> None:
        self.anthropic = AnthropicStandin()
        url = self.anthropic.start()
        self._running.append(self.anthropic)
        log.info("llm_standin_started", url=url, note="ANTHROPIC_API_KEY is not set")
        self._point_at(anthropic_base_url=url, anthropic_api_key=ANTHROPIC_KEY)

    def _start_brave(self) -> None:
        self.brave = BraveStandin()
        url = self.brave.start()
        self._running.append(self.brave)
        log.info("search_standin_started", url=url, note="BRAVE_SEARCH_API_KEY is not set")
        self._point_at(brave_search_base_url=url, brave_search_api_key=self.brave.api_key)

    def _start_transcription(self) -> None:
        self.transcription = TranscriptionStandin()
        url = self.transcription.start()
        self._running.append(self.transcription)
        log.info("transcription_standin_started", url=url, note="OPENAI_API_KEY is not set")
        self._point_at(transcription_base_url=url, openai_api_key=self.transcription.api_key)

    def _start_google(self) -> None:
        self.google = GoogleStandin()
        url = self.google.start()
        self._running.append(self.google)
        log.info("mock_google_started", url=url)
        self._point_at(
            google_client_id=self.google.client_id,
            google_client_secret=self.google.client_secret,
            google_auth_base_url=url,
            google_token_base_url=url,
            google_api_base_url=url,
        )

    def _start_twilio(self) -> None:
        settings = self.settings
        # Answering like Twilio, and posting signed status callbacks to our API as Twilio would.
        self.twilio = TwilioStandin(
            account_sid=settings.twilio_account_sid or DEV_ACCOUNT_SID,
            auth_token=settings.twilio_auth_token or "dev-token",
            status_callbacks=("sent", "delivered"),
        )
        url = self.twilio.start()
        self._running.append(self.twilio)
        log.info("mock_twilio_started", url=url)
        self._point_at(
            twilio_api_base_url=url,
            twilio_account_sid=self.twilio.account_sid,
            twilio_auth_token=self.twilio.auth_token,
            twilio_template_content_sid=settings.twilio_template_content_sid or TWILIO_TEMPLATE_SID,
        )

    def stop(self) -> None:
        while self._running:
            self._running.pop().stop()


def api_handlers(settings: Settings) -> list:
    """The routes the stand-ins add under /api/v1: the pages' WhatsApp simulator, in development with the
    Twilio stand-in."""
    if not settings.whatsapp_simulator:
        return []
    from yourclaw.standins.whatsapp_simulator import SimulatorController

    return [SimulatorController]
