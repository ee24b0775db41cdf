"""The web search proxy: OpenClaw's Brave provider points its base URL here
(`plugins.entries.brave.config.webSearch.baseUrl`, with the assistant token as its API key, which it sends as
`X-Subscription-Token`). Each query is checked against the user's daily cap and credits, forwarded to Brave
with the shared `BRAVE_SEARCH_API_KEY`, and charged `SEARCH_PRICE_MILLICENTS` once Brave answered."""

from __future__ import annotations

import httpx
import structlog
from litestar import Controller, Request, Response, get
from litestar.di import Provide

from yourclaw.kit.di import HttpClient, Sessions, SettingsDep
from yourclaw.kit.settings import Settings
from yourclaw.protocol.auth import AssistantOwner, provide_assistant
from yourclaw.senses import metering
from yourclaw.senses.errors import InvalidQuery, SearchNotConfigured, UpstreamFailed

log = structlog.get_logger(__name__)

PREFIX = "/search/brave"
# Brave's own limits on a query.
MAX_QUERY_CHARS = 400
MAX_QUERY_WORDS = 50
# Query parameters Brave's web and LLM-context endpoints take; anything else is not forwarded.
FORWARDED = frozenset(
    {
        "q",
        "count",
        "offset",
        "country",
        "search_lang",
        "ui_lang",
        "freshness",
        "safesearch",
        "spellcheck",
        "result_filter",
        "extra_snippets",
        "units",
        "text_decorations",
        "maximum_number_of_tokens",
        "maximum_number_of_urls",
        "maximum_number_of_snippets",
        "context_threshold_mode",
    }
)
UPSTREAM_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_ANSWER_BYTES = 4 * 1024 * 1024


def search_base_url(api_url: str) -> str:
    """What a container's Brave provider is given as its base URL."""
    return api_url.rstrip("/") + PREFIX


def _params(request: Request) -> list[tuple[str, str]]:
    params = [(k, v) for k, v in request.query_params.items() if k in FORWARDED]
    query = request.query_params.get("q", "").strip()
    if not query:
        raise InvalidQuery("A search needs a query (q)")
    if len(query) > MAX_QUERY_CHARS or len(query.split()) > MAX_QUERY_WORDS:
        raise InvalidQuery(f"A search query may have at most {MAX_QUERY_CHARS} characters and {MAX_QUERY_WORDS} words")
    return params


def _cap_message(settings: Settings) -> str:
    return (
        f"The daily limit of {settings.search_queries_per_day} web searches is reached; "
        "searching works again tomorrow (UTC)"
    )


async def _forward(http: httpx.AsyncClient, settings: Settings, path: str, params: list) -> tuple[int, bytes]:
    """Brave's status and answer, read up to a bound."""
    assert settings.brave_search_api_key is not None
    url = settings.brave_search_base_url.rstrip("/") + path
    headers = {"Accept": "application/json", "X-Subscription-Token": settings.brave_search_api_key}
    async with http.stream("GET", url, params=params, headers=headers, timeout=UPSTREAM_TIMEOUT) as response:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise UpstreamFailed("The search answer was too large")
        return response.status_code, bytes(body)


class SearchController(Controller):
    path = PREFIX
    tags = ["senses"]
    dependencies = {"assistant": Provide(provide_assistant)}

    @get(["/res/v1/web/search", "/res/v1/llm/context"], status_code=200)
    async def search(
        self, request: Request, settings: SettingsDep, sessions: Sessions, http: HttpClient, assistant: AssistantOwner
    ) -> Response[bytes]:
        if not settings.brave_search_api_key:
            raise SearchNotConfigured("Web search is not available on this service yet")
        params = _params(request)
        user_id = assistant.user_id
        price = settings.search_price_millicents
        admitted = await metering.admit(
            sessions,
            user_id,
            "search",
            hold_millicents=price,
            units=1,
            daily_cap=settings.search_queries_per_day,
            cap_message=_cap_message(settings),
        )
        try:
            status, body = await _forward(http, settings, request.url.path.removeprefix(PREFIX), params)
        except (httpx.HTTPError, UpstreamFailed) as exc:
            await metering.give_back(sessions, user_id, "search", admitted)
            log.warning("search_upstream_failed", error=type(exc).__name__)
            raise UpstreamFailed("Web search did not answer; try again in a moment") from None
        if status != 200:
            await metering.give_back(sessions, user_id, "search", admitted)
            log.warning("search_upstream_refused", status=status)
            raise UpstreamFailed("Web search could not answer this query; try again in a moment")
        await metering.settle(sessions, user_id, "search", admitted, cost_millicents=price)
        return Response(body, media_type="application/json")
