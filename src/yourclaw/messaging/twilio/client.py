"""The twilio SDK client: Twilio itself in production, or the address in TWILIO_API_BASE_URL (the local
stand-in in tests and `yourclaw dev`). Either way the same SDK code builds and parses every request."""

from __future__ import annotations

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from yourclaw.kit.settings import Settings

TWILIO_API = "https://api.twilio.com"
# The typing indicator lives on Twilio's messaging host (`/v2/Indicators/Typing.json`).
TWILIO_MESSAGING_API = "https://messaging.twilio.com"
TWILIO_HOSTS = (TWILIO_API, TWILIO_MESSAGING_API)
# A send that has not answered by then is treated as "may have gone": see the sender's reconciliation.
REQUEST_TIMEOUT = 20.0


class RedirectingHttpClient(TwilioHttpClient):
    """Sends what the SDK addresses to Twilio's hosts to `base_url` instead (their paths do not overlap), and
    nothing anywhere else."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args, **kwargs) -> Response:
        for host in TWILIO_HOSTS:
            if url == host or url.startswith(host + "/"):
                return super().request(method, self.base_url + url[len(host) :], *args, **kwargs)
        raise TwilioException(f"refusing a request outside {', '.join(TWILIO_HOSTS)}")


class TwilioNotConfigured(RuntimeError):
    pass


def make_twilio_client(
    settings: Settings, *, account_sid: str | None = None, timeout: float = REQUEST_TIMEOUT
) -> Client:
    account = account_sid or settings.twilio_account_sid
    if not account or not settings.twilio_auth_token:
        raise TwilioNotConfigured("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to send WhatsApp messages")
    if settings.twilio_api_base_url:
        http = RedirectingHttpClient(settings.twilio_api_base_url, timeout)
    else:
        http = TwilioHttpClient(timeout=timeout)
    # An explicit environment: TWILIO_EDGE / TWILIO_REGION in ours must not rewrite the host behind our back.
    return Client(account, settings.twilio_auth_token, http_client=http, environment={"TWILIO_EDGE": ""})
