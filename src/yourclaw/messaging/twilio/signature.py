"""Twilio webhook signatures (`X-Twilio-Signature`), checked with the twilio SDK's `RequestValidator`.

Twilio signs the URL it was configured with. Behind a load balancer the request we see has another
scheme, host or port (and `X-Forwarded-*` headers anyone can send), so the URL checked is always the
public API_URL plus the path and query string as received, never one rebuilt from the request's headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import structlog
from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.types import Scope
from twilio.request_validator import SIGNATURE_HEADER, RequestValidator, compare

from yourclaw.kit.di import SettingsDep
from yourclaw.kit.errors import UnsupportedMediaType
from yourclaw.kit.settings import Settings
from yourclaw.messaging.errors import InvalidTwilioSignature, TwilioWebhooksNotConfigured

log = structlog.get_logger(__name__)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def public_url(api_url: str, path: str, query: str = "") -> str:
    """The URL Twilio requested: API_URL's scheme, host and port (and any path prefix), then the path
    and query string exactly as they reached us. A fragment never reaches a server, so none is kept."""
    base = urlsplit(api_url)
    prefix = base.path.rstrip("/")
    return urlunsplit((base.scheme, base.netloc, prefix + path, query, ""))


def request_url(settings: Settings, scope: Scope) -> str:
    # raw_path keeps the percent-encoding Twilio signed; `path` is decoded.
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if raw else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return public_url(settings.api_url, path, query)


def is_valid(auth_token: str, url: str, form: Mapping, signature: str) -> bool:
    validator = RequestValidator(auth_token)
    # `validate` signs the URL twice, with and without its port, since Twilio's own choice varies; the
    # URL as API_URL spells it is one of the two, and what Twilio signs for a webhook configured with
    # that URL, so a genuine webhook is usually settled by one signature.
    if "bodySHA256" not in url and compare(validator.compute_signature(url, form), signature):
        return True
    return validator.validate(url, form, signature)


Form = TypeVar("Form", bound=Mapping)


async def signed_form(
    settings: Settings, scope: Scope, content_type: str, signature: str, read_form: Callable[[], Awaitable[Form]]
) -> Form:
    """The webhook's form, once it is known to be a form Twilio signed for our API_URL; nothing unsigned
    gets further. `read_form` reads the body, and is called only once the headers pass."""
    if not settings.twilio_auth_token:
        raise TwilioWebhooksNotConfigured("Twilio webhooks are refused until TWILIO_AUTH_TOKEN is set")
    if content_type != FORM_CONTENT_TYPE:
        raise UnsupportedMediaType(f"Expected a {FORM_CONTENT_TYPE} body")
    if not signature:
        raise InvalidTwilioSignature("Missing X-Twilio-Signature")
    form = await read_form()
    url = request_url(settings, scope)
    if not is_valid(settings.twilio_auth_token, url, form, signature):
        # The URL is worth logging: a wrong API_URL is the usual cause. The token never is.
        log.warning("twilio_signature_rejected", url=url)
        raise InvalidTwilioSignature("Invalid X-Twilio-Signature")
    return form


async def provide_twilio_form(request: Request, settings: SettingsDep) -> FormMultiDict:
    """The form of a Litestar-routed Twilio webhook (the status callbacks), signature checked."""
    content_type, _ = request.content_type
    return await signed_form(
        settings, request.scope, content_type, request.headers.get(SIGNATURE_HEADER, ""), request.form
    )
