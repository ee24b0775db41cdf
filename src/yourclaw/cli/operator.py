"""The operator's one-shot commands: migrations, keys, certificates, Docker hosts, and `say` (a local
WhatsApp user)."""

from __future__ import annotations

import argparse
import asyncio
import os

from yourclaw.cli.common import Database, fail, migrate, run_db, settings_or_exit
from yourclaw.kit.logs import configure_logging
from yourclaw.kit.settings import Settings


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level)
    with Database(settings) as resolved:
        migrate(resolved)
    print("database is at the latest migration")


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    configure_logging(settings.log_level)

    async def run(resolved: Settings) -> dict[str, int]:
        from yourclaw.cli.keys import rotate_all
        from yourclaw.db.engine import make_engine, make_sessionmaker
        from yourclaw.kit.crypto import SecretBox

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


def cmd_certs_init(args: argparse.Namespace) -> None:
    from yourclaw.runtime.certs import init_ca

    settings = settings_or_exit()
    paths = init_ca(settings.tls_dir, force=args.force)
    print(f"CA and control-plane client certificate in {paths.dir} (private keys 0600)")
    print(f"  CA certificate: {paths.ca_cert}\n  client certificate: {paths.client_cert}")


def cmd_certs_host(args: argparse.Namespace) -> None:
    from yourclaw.runtime.certs import dockerd_instructions, init_ca, make_host_cert

    settings = settings_or_exit()
    init_ca(settings.tls_dir)
    try:
        paths = make_host_cert(settings.tls_dir, args.name, ips=args.ip or [], dns=args.dns or [])
    except ValueError as exc:
        fail(str(exc))
    print(dockerd_instructions(paths))


def cmd_hosts_add(args: argparse.Namespace) -> None:
    from yourclaw.kit.errors import YourClawError
    from yourclaw.runtime import hosts

    settings = settings_or_exit()
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

        run_db(settings, add)
    except YourClawError as exc:
        fail(exc.detail)
    print(
        f"added host {args.name}: Docker {info.version} (API {info.api_version}), "
        f"up to {args.max_containers} assistants"
    )


def cmd_hosts_list(args: argparse.Namespace) -> None:
    from yourclaw.runtime import hosts

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    rows = run_db(settings, lambda session, _: hosts.list_hosts(session))
    if not rows:
        print("no hosts yet: add one with `yourclaw hosts add NAME --docker-url tcp://IP:2376`")
        return
    print(f"{'NAME':<20} {'ASSISTANTS':>10} {'STATE':<12} {'LAST CONTACT':<25} URL")
    for host, count in rows:
        state = "draining" if host.draining else ("reachable" if host.reachable else "UNREACHABLE")
        contact = host.last_contact_at.isoformat(timespec="seconds") if host.last_contact_at else "never"
        print(f"{host.name:<20} {f'{count}/{host.max_containers}':>10} {state:<12} {contact:<25} {host.docker_url}")


def cmd_hosts_drain(args: argparse.Namespace, draining: bool = True) -> None:
    from yourclaw.kit.errors import YourClawError
    from yourclaw.runtime import hosts

    settings = settings_or_exit()
    configure_logging(settings.log_level)
    try:
        run_db(settings, lambda session, _: hosts.set_draining(session, args.name, draining))
    except YourClawError as exc:
        fail(exc.detail)
    print(f"host {args.name}: {'no new assistants will be placed here' if draining else 'accepting assistants again'}")


def cmd_say(args: argparse.Namespace) -> None:
    from pathlib import Path

    import httpx

    from yourclaw.cli import dev_secrets
    from yourclaw.kit.errors import YourClawError
    from yourclaw.standins.whatsapp_user import say

    # The same secrets and addresses as the `yourclaw dev` it talks to.
    state_dir = Path(os.environ.get("YOURCLAW_STATE_DIR") or ".yourclaw")
    dev_secrets.apply_to_environment(state_dir)
    os.environ.setdefault("YOURCLAW_ENV", "development")
    os.environ.setdefault("API_URL", f"http://127.0.0.1:{args.port}")
    settings = settings_or_exit()
    configure_logging("WARNING")
    try:
        with Database(settings) as resolved:
            replies = asyncio.run(say(resolved, args.phone, " ".join(args.text), wait=args.wait, replies=args.replies))
    except YourClawError as exc:
        fail(exc.detail)
    except httpx.HTTPError as exc:
        fail(f"could not reach yourclaw dev at {settings.api_url} ({type(exc).__name__}): is it running?")
    for reply in replies:
        print(f"< {reply}")
    if not replies:
        print(f"(no reply within {args.wait:g} s)")


def cmd_keys_generate(args: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
