"""The long-running commands: `dev` (everything in one process), `serve`, `worker` and `reconcile`."""

from __future__ import annotations

import argparse
import asyncio
import os

from yourclaw.cli.common import (
    Database,
    log,
    migrate,
    refuse_dev_modes_in_production,
    run,
    settings_or_exit,
)
from yourclaw.kit.logs import configure_logging
from yourclaw.kit.settings import Settings, dotenv_values_at


def _reconciler_job(settings: Settings):
    """The reconciler as a background job of this process: its own database pool, stopped with the rest."""

    async def reconciler(stop: asyncio.Event) -> None:
        from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
        from yourclaw.kit.crypto import SecretBox
        from yourclaw.runtime.reconciler import Reconciler
        from yourclaw.standins.runtime import ensure_standin_host, host_factory

        engine = make_engine(settings.database_url or "", pool_size=5)
        sessions = make_sessionmaker(engine)
        try:
            if settings.mock_containers:
                async with transaction(sessions) as session:
                    await ensure_standin_host(session)
            await Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings)).run(stop)
        finally:
            await engine.dispose()

    return reconciler


def _messaging_job(settings: Settings):
    """The router, the sender, the billing grace sweep, the sweep of credit reservations left by a process
    that died and the retention sweep, as background jobs of this process (`yourclaw worker`, `yourclaw dev`)."""

    async def messaging(stop: asyncio.Event) -> None:
        from yourclaw.billing.grace import run_grace_sweeper
        from yourclaw.db.engine import make_engine, make_sessionmaker
        from yourclaw.kit.crypto import SecretBox
        from yourclaw.llm.reservation_sweep import run_reservation_sweeper
        from yourclaw.messaging.gauges import run_gauge_sampler
        from yourclaw.messaging.inbound.router import run_router
        from yourclaw.messaging.outbound.sender import run_sender
        from yourclaw.protocol.retention import run_retention_sweeper
        from yourclaw.standins import WORKER_SERVICES, Standins

        # The sender talks to Twilio: under MOCK_TWILIO, to the stand-in this process runs.
        standins = Standins.start(settings, WORKER_SERVICES)
        engine = make_engine(settings.database_url or "", pool_size=5)
        sessions = make_sessionmaker(engine)
        secrets = SecretBox(settings.fernet_keys)
        try:
            await asyncio.gather(
                run_router(settings, sessions, secrets, stop),
                run_sender(standins.settings, sessions, secrets, stop),
                run_grace_sweeper(settings, sessions, stop),
                run_reservation_sweeper(engine, stop),
                run_retention_sweeper(settings, sessions, stop),
                run_gauge_sampler(settings, sessions, stop),
            )
        finally:
            await engine.dispose()
            standins.stop()

    return messaging


async def _serve_http(settings: Settings, host: str, port: int, *, announce: str | None = None, background=()) -> None:
    from yourclaw.server.app import create_app
    from yourclaw.server.process import run_until_signalled

    await run_until_signalled(create_app(settings), host, port, announce=announce, background=list(background))


def cmd_serve(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    refuse_dev_modes_in_production(settings)
    with Database(settings) as resolved:
        if args.migrate:
            migrate(resolved)
        run(_serve_http(resolved, args.host, args.port))


def _dev_environment(port: int) -> list[str]:
    """Development defaults: generated secrets, local URLs, mock modes where credentials are absent.
    Returns what it turned on, to be announced once."""
    from pathlib import Path

    from yourclaw.cli import dev_secrets

    os.environ["YOURCLAW_ENV"] = "development"
    # `.env` counts as set for the defaults below (a QUIET_HOURS or a Twilio SID there is kept).
    for name, value in dotenv_values_at().items():
        os.environ.setdefault(name, value)
    state_dir = Path(os.environ.get("YOURCLAW_STATE_DIR") or ".yourclaw")
    notes = [
        f"generated {name} (kept in {state_dir}/dev-secrets.json)"
        for name in dev_secrets.apply_to_environment(state_dir)
    ]
    base = f"http://127.0.0.1:{port}"
    for name in ("API_URL", "APP_URL"):
        os.environ.setdefault(name, base)
    mocks = {
        "MOCK_TWILIO": "TWILIO_ACCOUNT_SID",
        "MOCK_STRIPE": "STRIPE_SECRET_KEY",
        "MOCK_GOOGLE": "GOOGLE_CLIENT_ID",
    }
    for mock, credential in mocks.items():
        if mock not in os.environ and not os.environ.get(credential):
            os.environ[mock] = "true"
            notes.append(f"{mock}=true ({credential} is not set)")
    if "MOCK_CONTAINERS" not in os.environ:
        os.environ["MOCK_CONTAINERS"] = "true"
        notes.append(
            "MOCK_CONTAINERS=true: stand-in runtime, in-process stand-in assistants (set MOCK_CONTAINERS=false to use "
            "the Docker hosts added with `yourclaw hosts add`)"
        )
    if "QUIET_HOURS" not in os.environ:
        # Trying the product at night should still show the assistant writing first.
        os.environ["QUIET_HOURS"] = "off"
        notes.append("QUIET_HOURS=off: proactive messages go at any hour (production holds them 22:00-08:00)")
    if "STANDIN_LLM" not in os.environ:
        # The stand-in assistants answer through the metering LLM proxy, so replies cost credits as real
        # ones do (with no ANTHROPIC_API_KEY, the proxy's upstream is a local stand-in model).
        os.environ["STANDIN_LLM"] = "1"
    if not os.environ.get("DATABASE_URL"):
        notes.append(f"embedded PostgreSQL in {state_dir}/pg (DATABASE_URL is not set)")
    if not os.environ.get("SUPABASE_URL"):
        notes.append(
            'dev sign-in: any email on the sign-in page, or POST /api/v1/dev/login {"email": ...} '
            "(SUPABASE_URL is not set)"
        )
    return notes


def cmd_dev(args: argparse.Namespace) -> None:
    notes = _dev_environment(args.port)
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    for note in notes:
        log.info("dev_mode", note=note)
    with Database(settings) as resolved:
        migrate(resolved)
        url = f"http://{args.host}:{args.port}"
        announce = f"\nYourClaw is running: open {url}  (API health: {url}/api/v1/health; Ctrl-C stops it)\n"
        background = [_reconciler_job(resolved), _messaging_job(resolved)]
        run(_serve_http(resolved, args.host, args.port, announce=announce, background=background))


def _run_background_job(make_job) -> None:
    """A daemon command: one background job of this process until SIGINT/SIGTERM, with /metrics on
    METRICS_HOST:METRICS_PORT when the port is set."""
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    refuse_dev_modes_in_production(settings)

    async def until_signalled(resolved: Settings) -> None:
        import signal

        from yourclaw.server.process import SETTLE_SECONDS, freeze_startup_heap

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.call_later(SETTLE_SECONDS, freeze_startup_heap)
        await make_job(resolved)(stop)

    async def with_metrics(resolved: Settings) -> None:
        from yourclaw.observability.exposition import MetricsEndpoint
        from yourclaw.server.process import run_until_signalled

        endpoint = MetricsEndpoint(resolved.metrics_token)
        await run_until_signalled(
            endpoint, resolved.metrics_host, resolved.metrics_port, background=[make_job(resolved)]
        )

    with Database(settings) as resolved:
        run(with_metrics(resolved) if resolved.metrics_port else until_signalled(resolved))


def cmd_reconcile(args: argparse.Namespace) -> None:
    _run_background_job(_reconciler_job)


def cmd_worker(args: argparse.Namespace) -> None:
    _run_background_job(_messaging_job)
