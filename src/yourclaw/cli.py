"""The `yourclaw` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

import msgspec
import structlog

from yourclaw.log_config import configure_logging
from yourclaw.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("yourclaw")

DESCRIPTION = """\
YourClaw control plane: a personal OpenClaw assistant on WhatsApp for everyone who signs up.

Start here:
  yourclaw dev              the whole product locally (API, background work, dashboard) on embedded defaults
  yourclaw say TEXT         be a WhatsApp user of the local product (a signed webhook), print the replies
  yourclaw serve            the API for production (needs DATABASE_URL, SUPABASE_URL, ENCRYPTION_KEY, ...)
  yourclaw worker           routes inbound WhatsApp messages and sends the outbox (several may run)
  yourclaw reconcile        the reconciler alone (several may run: one acts, the others stand by)
  yourclaw certs init       the CA and client certificate for the Docker hosts' mutual TLS
  yourclaw hosts add NAME   register a Docker host (then: hosts list, hosts drain NAME)
  yourclaw db upgrade       apply the database migrations
  yourclaw keys rotate      re-encrypt stored secrets with the first ENCRYPTION_KEY

Settings come from the environment and a .env file; .env.example lists every variable.
"""


def _fail(message: str, code: int = 2) -> None:
    print(f"yourclaw: {message}", file=sys.stderr)
    raise SystemExit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(f"configuration error: {exc}")
        raise  # unreachable


class Database:
    """Resolves DATABASE_URL, starting the embedded PostgreSQL when it is unset."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedded = None

    def __enter__(self) -> Settings:
        if self.settings.database_url:
            return self.settings
        from yourclaw.db.embedded import EmbeddedPostgres

        self._embedded = EmbeddedPostgres(self.settings.state_dir / "pg")
        url = self._embedded.start()
        return msgspec.structs.replace(self.settings, database_url=url)

    def __exit__(self, *exc: object) -> None:
        if self._embedded is not None:
            self._embedded.stop()


def _migrate(settings: Settings) -> None:
    from yourclaw.db import migrations

    migrations.upgrade(settings.database_url or "")
    log.info("database_migrated")


def _refuse_dev_modes_in_production(settings: Settings) -> None:
    modes = settings.dev_modes()
    if modes and not settings.is_development:
        _fail(
            "refusing to start: "
            + ", ".join(modes)
            + " would be on in production; configure the real services, or set YOURCLAW_ENV=development"
        )


def _reconciler_job(settings: Settings):
    """The reconciler as a background job of this process: its own database pool, stopped with the rest."""

    async def reconciler(stop: asyncio.Event) -> None:
        from yourclaw.crypto import SecretBox
        from yourclaw.db.engine import make_engine, make_sessionmaker, transaction
        from yourclaw.runtime.hosts import ensure_simulated_host, host_factory
        from yourclaw.runtime.reconciler import Reconciler

        engine = make_engine(settings.database_url or "", pool_size=5)
        sessions = make_sessionmaker(engine)
        try:
            if settings.mock_containers:
                async with transaction(sessions) as session:
                    await ensure_simulated_host(session)
            await Reconciler(settings, sessions, SecretBox(settings.fernet_keys), host_factory(settings)).run(stop)
        finally:
            await engine.dispose()

    return reconciler


def _messaging_job(settings: Settings):
    """The router, the sender and the billing grace sweep as background jobs of this process
    (`yourclaw worker`, `yourclaw dev`)."""

    async def messaging(stop: asyncio.Event) -> None:
        from yourclaw.billing.grace import run_grace_sweeper
        from yourclaw.crypto import SecretBox
        from yourclaw.db.engine import make_engine, make_sessionmaker
        from yourclaw.messaging.router_worker import run_router
        from yourclaw.messaging.sender import run_sender

        engine = make_engine(settings.database_url or "", pool_size=5)
        sessions = make_sessionmaker(engine)
        secrets = SecretBox(settings.fernet_keys)
        try:
            await asyncio.gather(
                run_router(settings, sessions, secrets, stop),
                run_sender(settings, sessions, secrets, stop),
                run_grace_sweeper(settings, sessions, stop),
            )
        finally:
            await engine.dispose()

    return messaging


async def _serve_http(settings: Settings, host: str, port: int, *, announce: str | None = None, background=()) -> None:
    from yourclaw.app import create_app
    from yourclaw.process import run_until_signalled

    await run_until_signalled(create_app(settings), host, port, announce=announce, background=list(background))


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
    _refuse_dev_modes_in_production(settings)
    with Database(settings) as resolved:
        if args.migrate:
            _migrate(resolved)
        _run(_serve_http(resolved, args.host, args.port))


def _run(main):
    from yourclaw.process import run

    return run(main)


def _dev_environment(port: int) -> list[str]:
    """Development defaults: generated secrets, local URLs, mock modes where credentials are absent.
    Returns what it turned on, to be announced once."""
    from pathlib import Path

    from yourclaw import dev_secrets

    os.environ["YOURCLAW_ENV"] = "development"
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
    }
    for mock, credential in mocks.items():
        if mock not in os.environ and not os.environ.get(credential):
            os.environ[mock] = "true"
            notes.append(f"{mock}=true ({credential} is not set)")
    if "MOCK_CONTAINERS" not in os.environ:
        os.environ["MOCK_CONTAINERS"] = "true"
        notes.append(
            "MOCK_CONTAINERS=true: simulated runtime, in-process assistants (set MOCK_CONTAINERS=false to use "
            "the Docker hosts added with `yourclaw hosts add`)"
        )
    if "STANDIN_LLM" not in os.environ:
        # The simulated assistants answer through the metering LLM proxy, so replies cost credits as real
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
    settings = _settings()
    configure_logging(settings.log_level)
    for note in notes:
        log.info("dev_mode", note=note)
    with Database(settings) as resolved:
        _migrate(resolved)
        url = f"http://{args.host}:{args.port}"
        announce = f"\nYourClaw is running: open {url}  (API health: {url}/api/v1/health; Ctrl-C stops it)\n"
        background = [_reconciler_job(resolved), _messaging_job(resolved)]
        _run(_serve_http(resolved, args.host, args.port, announce=announce, background=background))


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)
    with Database(settings) as resolved:
        _migrate(resolved)
    print("database is at the latest migration")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    settings = _settings()
    configure_logging(settings.log_level)

    async def run(resolved: Settings) -> dict[str, int]:
        from yourclaw.crypto import SecretBox
        from yourclaw.db.engine import make_engine, make_sessionmaker
        from yourclaw.key_rotation import rotate_all

        engine = make_engine(resolved.database_url or "")
        try:
            return await rotate_all(make_sessionmaker(engine), SecretBox(resolved.fernet_keys))
        finally:
            await engine.dispose()

    with Database(settings) as resolved:
        counts = asyncio.run(run(resolved))
    total = sum(counts.values())
    detail = ", ".join(f"{table}: {n}" for table, n in counts.items())
    print(f"re-encrypted {total} secret rows with the first ENCRYPTION_KEY ({detail})")


def _run_background_job(make_job) -> None:
    """A daemon command: one background job of this process until SIGINT/SIGTERM."""
    settings = _settings()
    configure_logging(settings.log_level)
    _refuse_dev_modes_in_production(settings)

    async def run(resolved: Settings) -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await make_job(resolved)(stop)

    with Database(settings) as resolved:
        _run(run(resolved))


def cmd_reconcile(args: argparse.Namespace) -> None:
    _run_background_job(_reconciler_job)


def cmd_worker(args: argparse.Namespace) -> None:
    _run_background_job(_messaging_job)


def cmd_certs_init(args: argparse.Namespace) -> None:
    from yourclaw.runtime.certs import init_ca

    settings = _settings()
    paths = init_ca(settings.tls_dir, force=args.force)
    print(f"CA and control-plane client certificate in {paths.dir} (private keys 0600)")
    print(f"  CA certificate: {paths.ca_cert}\n  client certificate: {paths.client_cert}")


def cmd_certs_host(args: argparse.Namespace) -> None:
    from yourclaw.runtime.certs import dockerd_instructions, init_ca, make_host_cert

    settings = _settings()
    init_ca(settings.tls_dir)
    try:
        paths = make_host_cert(settings.tls_dir, args.name, ips=args.ip or [], dns=args.dns or [])
    except ValueError as exc:
        _fail(str(exc))
    print(dockerd_instructions(paths))


def _run_db(settings: Settings, work):
    async def run(resolved: Settings):
        from yourclaw.db.engine import make_engine, make_sessionmaker, transaction

        engine = make_engine(resolved.database_url or "", pool_size=2)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                return await work(session, resolved)
        finally:
            await engine.dispose()

    with Database(settings) as resolved:
        return asyncio.run(run(resolved))


def cmd_hosts_add(args: argparse.Namespace) -> None:
    from yourclaw.errors import YourClawError
    from yourclaw.runtime import hosts

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        info = hosts.check_engine(settings, args.docker_url)

        async def add(session, _):
            return await hosts.add_host(
                session,
                name=args.name,
                docker_url=args.docker_url,
                max_containers=args.max_containers,
                info=info,
                runtime_api_url=args.runtime_api_url,
            )

        _run_db(settings, add)
    except YourClawError as exc:
        _fail(exc.detail)
    print(
        f"added host {args.name}: Docker {info.version} (API {info.api_version}), "
        f"up to {args.max_containers} assistants"
    )


def cmd_hosts_list(args: argparse.Namespace) -> None:
    from yourclaw.runtime import hosts

    settings = _settings()
    configure_logging(settings.log_level)
    rows = _run_db(settings, lambda session, _: hosts.list_hosts(session))
    if not rows:
        print("no hosts yet: add one with `yourclaw hosts add NAME --docker-url tcp://IP:2376`")
        return
    print(f"{'NAME':<20} {'ASSISTANTS':>10} {'STATE':<12} {'LAST CONTACT':<25} URL")
    for host, count in rows:
        state = "draining" if host.draining else ("reachable" if host.reachable else "UNREACHABLE")
        contact = host.last_contact_at.isoformat(timespec="seconds") if host.last_contact_at else "never"
        print(f"{host.name:<20} {f'{count}/{host.max_containers}':>10} {state:<12} {contact:<25} {host.docker_url}")


def cmd_hosts_drain(args: argparse.Namespace, draining: bool = True) -> None:
    from yourclaw.errors import YourClawError
    from yourclaw.runtime import hosts

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        _run_db(settings, lambda session, _: hosts.set_draining(session, args.name, draining))
    except YourClawError as exc:
        _fail(exc.detail)
    print(f"host {args.name}: {'no new assistants will be placed here' if draining else 'accepting assistants again'}")


def cmd_say(args: argparse.Namespace) -> None:
    from pathlib import Path

    import httpx

    from yourclaw import dev_secrets
    from yourclaw.dev_chat import say
    from yourclaw.errors import YourClawError

    # The same secrets and addresses as the `yourclaw dev` it talks to.
    state_dir = Path(os.environ.get("YOURCLAW_STATE_DIR") or ".yourclaw")
    dev_secrets.apply_to_environment(state_dir)
    os.environ.setdefault("YOURCLAW_ENV", "development")
    os.environ.setdefault("API_URL", f"http://127.0.0.1:{args.port}")
    settings = _settings()
    configure_logging("WARNING")
    try:
        with Database(settings) as resolved:
            replies = asyncio.run(say(resolved, args.phone, " ".join(args.text), wait=args.wait))
    except YourClawError as exc:
        _fail(exc.detail)
    except httpx.HTTPError as exc:
        _fail(f"could not reach yourclaw dev at {settings.api_url} ({type(exc).__name__}): is it running?")
    for reply in replies:
        print(f"< {reply}")
    if not replies:
        print(f"(no reply within {args.wait:g} s)")


def cmd_keys_generate(args: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="yourclaw", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    dev = add("dev", cmd_dev, "run the whole product locally on embedded defaults")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)

    say = add("say", cmd_say, "send a WhatsApp message to the local `yourclaw dev` as a user would, print the replies")
    say.add_argument("--phone", default="+14155552671", help="the sender's number (E.164)")
    say.add_argument("--port", type=int, default=8000, help="the port `yourclaw dev` listens on")
    say.add_argument("--wait", type=float, default=30.0, help="seconds to wait for replies")
    say.add_argument("text", nargs="+")

    serve = add("serve", cmd_serve, "serve the API (production settings unless YOURCLAW_ENV=development)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations before serving")

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", metavar="ACTION")
    db.required = True
    up = db.add_parser("upgrade", help="apply every migration up to the latest")
    up.set_defaults(func=cmd_db_upgrade)

    add("worker", cmd_worker, "route inbound WhatsApp messages and send the outbox (run several: they share work)")
    add("reconcile", cmd_reconcile, "run the reconciler: converge containers toward the assistants' desired state")

    certs = sub.add_parser("certs", help="TLS for the Docker hosts").add_subparsers(
        dest="certs_command", metavar="ACTION"
    )
    certs.required = True
    init = certs.add_parser("init", help="make the CA and the control plane's client certificate")
    init.add_argument("--force", action="store_true", help="replace existing ones")
    init.set_defaults(func=cmd_certs_init)
    host_cert = certs.add_parser("host", help="make a server certificate for one host's dockerd")
    host_cert.add_argument("name")
    host_cert.add_argument("--ip", action="append", help="an address the control plane uses (repeatable)")
    host_cert.add_argument("--dns", action="append", help="a DNS name the control plane uses (repeatable)")
    host_cert.set_defaults(func=cmd_certs_host)

    hosts = sub.add_parser("hosts", help="Docker hosts").add_subparsers(dest="hosts_command", metavar="ACTION")
    hosts.required = True
    host_add = hosts.add_parser("add", help="register a host after checking its engine over mutual TLS")
    host_add.add_argument("name")
    host_add.add_argument("--docker-url", required=True, help="tcp://IP:2376")
    host_add.add_argument("--max-containers", type=int, default=20)
    host_add.add_argument("--runtime-api-url", help="what this host's containers call (default RUNTIME_API_URL)")
    host_add.set_defaults(func=cmd_hosts_add)
    hosts.add_parser("list", help="capacity, assistants, reachability, last contact").set_defaults(func=cmd_hosts_list)
    drain = hosts.add_parser("drain", help="stop placing new assistants on a host")
    drain.add_argument("name")
    drain.set_defaults(func=cmd_hosts_drain)
    undrain = hosts.add_parser("undrain", help="place assistants on a host again")
    undrain.add_argument("name")
    undrain.set_defaults(func=lambda a: cmd_hosts_drain(a, draining=False))

    keys = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="keys_command", metavar="ACTION")
    keys.required = True
    keys.add_parser("rotate", help="re-encrypt stored secrets with the first ENCRYPTION_KEY").set_defaults(
        func=cmd_keys_rotate
    )
    keys.add_parser("generate", help="print a new Fernet key for ENCRYPTION_KEY").set_defaults(func=cmd_keys_generate)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        raise SystemExit(0)
    args.func(args)


if __name__ == "__main__":
    main()
