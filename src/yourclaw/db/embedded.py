"""A local PostgreSQL in a data directory, for `yourclaw dev` and the tests when DATABASE_URL is unset."""

from __future__ import annotations

import warnings
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


class EmbeddedPostgres:
    """Starts (or joins) the server owned by `data_dir`; `stop()` lets it go when the last user leaves."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on servers; it is irrelevant here.
            warnings.simplefilter("ignore")
            import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        # pgserver listens on a unix socket in the data dir; asyncpg takes it as `host`.
        url = f"postgresql://postgres@/postgres?host={self.data_dir}"
        log.info("embedded_postgres_started", data_dir=str(self.data_dir))
        return url

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
