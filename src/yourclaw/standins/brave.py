"""A local stand-in for Brave's Search API (`GET /res/v1/web/search`, `GET /res/v1/llm/context`, the key in
`X-Subscription-Token`), for `yourclaw dev` and the tests: it answers every query with results a test can
set or, by default, one made from the query, and records the queries it was asked."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlsplit

from yourclaw.standins.local_server import LocalServer, QuietHandler

WEB_SEARCH = "/res/v1/web/search"
LLM_CONTEXT = "/res/v1/llm/context"


@dataclass(frozen=True)
class Result:
    title: str
    url: str
    description: str


@dataclass
class BraveStandin:
    api_key: str = field(default_factory=lambda: "brave-standin-" + secrets.token_hex(8))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: list[str] = []
        self._results: dict[str, list[Result]] = {}
        self._failures = 0
        self._local = LocalServer("Brave stand-in")

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        return self._local.start(_handler(self), port, host)

    def stop(self) -> None:
        self._local.stop()

    @property
    def base_url(self) -> str:
        return self._local.base_url

    @property
    def queries(self) -> list[str]:
        with self._lock:
            return list(self._queries)

    def answer(self, query: str, results: list[Result]) -> None:
        """What a query (exactly this text) finds."""
        with self._lock:
            self._results[query] = results

    def fail_next(self, count: int = 1) -> None:
        with self._lock:
            self._failures += count

    def _search(self, query: str) -> tuple[int, list[Result]]:
        with self._lock:
            if self._failures:
                self._failures -= 1
                return 500, []
            self._queries.append(query)
            found = self._results.get(query)
        if found is None:
            found = [
                Result(
                    title=f"Stand-in result for {query}",
                    url=f"https://search.standin.invalid/?q={quote(query)}",
                    description=f"What the local Brave stand-in found for {query}.",
                )
            ]
        return 200, found


class _Handler(QuietHandler):
    standin: BraveStandin

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path not in (WEB_SEARCH, LLM_CONTEXT):
            self._send(404, {"type": "ErrorResponse", "error": {"status": 404, "detail": "Not found"}})
            return
        if self.headers.get("X-Subscription-Token") != self.standin.api_key:
            self._send(401, {"type": "ErrorResponse", "error": {"status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID"}})
            return
        query = (parse_qs(parts.query).get("q") or [""])[0]
        if not query:
            self._send(422, {"type": "ErrorResponse", "error": {"status": 422, "detail": "q is required"}})
            return
        status, results = self.standin._search(query)
        if status != 200:
            self._send(status, {"type": "ErrorResponse", "error": {"status": status}})
            return
        if parts.path == LLM_CONTEXT:
            grounding = [{"url": r.url, "title": r.title, "snippets": [r.description]} for r in results]
            self._send(200, {"grounding": {"generic": grounding}, "sources": {}})
            return
        web = [{"title": r.title, "url": r.url, "description": r.description} for r in results]
        self._send(200, {"type": "search", "query": {"original": query}, "web": {"type": "search", "results": web}})


def _handler(standin: BraveStandin) -> type[QuietHandler]:
    return type("BraveStandinHandler", (_Handler,), {"standin": standin})
