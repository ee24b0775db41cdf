"""`/metrics`: the exposition format, behind METRICS_TOKEN (a bearer token) when it is set.

A bare ASGI handler: the API mounts it at `/metrics` before its own routing, and the worker and the
reconciler serve it alone on METRICS_HOST:METRICS_PORT.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

PATH = "/metrics"


def _authorized(scope, token: str | None) -> bool:
    if not token:
        return True
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return False


class MetricsEndpoint:
    def __init__(self, token: str | None) -> None:
        self.token = token

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            # Served alone (worker, reconciler): nothing to start or stop.
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] != PATH:
            await _answer(send, 404, b'{"detail":"Not found","code":"NOT_FOUND"}', b"application/json")
        elif scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b'{"detail":"Use GET","code":"METHOD_NOT_ALLOWED"}', b"application/json")
        elif not _authorized(scope, self.token):
            body = b'{"detail":"A bearer token (METRICS_TOKEN) is required","code":"METRICS_TOKEN_REQUIRED"}'
            await _answer(send, 401, body, b"application/json", [(b"www-authenticate", b'Bearer realm="metrics"')])
        else:
            await _answer(send, 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST.encode())


async def _answer(send, status: int, body: bytes, content_type: bytes, extra=()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
