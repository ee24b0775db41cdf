"""The commands on users' volumes: `yourclaw hosts evacuate NAME` (move assistants to other hosts, volume and
all) and `yourclaw backups list|restore USER`. Each writes what it wants and watches the reconciler do it."""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from yourclaw.cli.common import Database, fail, run, settings_or_exit
from yourclaw.kit.logs import configure_logging
from yourclaw.kit.settings import Settings


def add_host_parsers(hosts) -> None:
    evacuate = hosts.add_parser(
        "evacuate",
        help="move every assistant off a host (volume and all), one at a time; --count N to rebalance",
        description="Move the assistants on NAME to other hosts, one at a time: each one's messages wait in its "
        "queue while it moves and are answered after. The old volume is removed once the assistant is READY on "
        "its new host. Without --count the host is drained first; with it, only N move and the host stays open.",
    )
    evacuate.add_argument("name")
    evacuate.add_argument("--to", metavar="HOST", help="move them to this host (default: wherever there is room)")
    evacuate.add_argument("--count", type=int, help="move only this many (a rebalance; the host is not drained)")
    evacuate.add_argument("--timeout", type=float, default=3600.0, help="seconds to watch (the moves go on after)")
    evacuate.add_argument("--no-wait", action="store_true", help="ask for the moves and return")
    evacuate.set_defaults(func=cmd_hosts_evacuate)


def add_parser(sub) -> None:
    backups = sub.add_parser("backups", help="users' volume backups").add_subparsers(
        dest="backups_command", metavar="ACTION"
    )
    backups.required = True
    listing = backups.add_parser("list", help="a user's backups, newest first")
    listing.add_argument("user", metavar="USER", help="the user's email or id")
    listing.set_defaults(func=cmd_backups_list)
    restore = backups.add_parser(
        "restore",
        help="restore a user's volume from a backup (the newest by default)",
        description="The reconciler stops the user's container, writes the backup into a fresh volume, and brings "
        "the assistant back on it; their messages wait meanwhile. The old volume goes once the new one is whole.",
    )
    restore.add_argument("user", metavar="USER", help="the user's email or id")
    restore.add_argument("--backup", metavar="ID", type=uuid.UUID, help="a backup's id (`backups list`)")
    restore.add_argument("--timeout", type=float, default=600.0, help="seconds to watch")
    restore.set_defaults(func=cmd_backups_restore)


def _with_sessions(work) -> int:
    settings = settings_or_exit()
    configure_logging(settings.log_level)

    async def go(resolved: Settings) -> int:
        from yourclaw.db.engine import make_engine, make_sessionmaker

        engine = make_engine(resolved.database_url or "", pool_size=2)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    with Database(settings) as resolved:
        return run(go(resolved))


def cmd_hosts_evacuate(args: argparse.Namespace) -> None:
    from yourclaw.fleet import evacuation

    async def work(sessions) -> int:
        ask = evacuation.Request(args.name, args.to, args.count)
        try:
            source_id, ids = await evacuation.start(sessions, ask)
        except evacuation.EvacuationRefused as exc:
            fail(str(exc))
        if not ids:
            print(f"host {args.name}: no assistants to move")
            return 0
        where = f" to {args.to}" if args.to else ""
        print(f"host {args.name}: moving {len(ids)} assistant(s){where}, one at a time")
        if args.no_wait:
            return 0
        done = await evacuation.watch(
            sessions, source_id, ids, say=lambda s: print(s, flush=True), timeout=args.timeout
        )
        return 0 if done else 1

    raise SystemExit(_with_sessions(work))


async def _user_id(session, who: str) -> uuid.UUID:
    from sqlalchemy import select

    from yourclaw.db.models import User

    try:
        return uuid.UUID(who)
    except ValueError:
        found = await session.scalar(select(User.id).where(User.email == who.strip().lower()))
    if found is None:
        fail(f"no user {who}")
    return found


def cmd_backups_list(args: argparse.Namespace) -> None:
    from yourclaw.runtime import backups

    async def work(sessions) -> int:
        async with sessions() as session:
            found = await backups.list_backups(session, await _user_id(session, args.user))
        if not found:
            print("no backups")
        for backup in found:
            print(f"{backup.id}  {backup.created_at.isoformat(timespec='seconds')}  {backup.size_bytes:>12} bytes")
        return 0

    raise SystemExit(_with_sessions(work))


def cmd_backups_restore(args: argparse.Namespace) -> None:
    from yourclaw.db.engine import transaction
    from yourclaw.runtime import backups

    async def work(sessions) -> int:
        async with transaction(sessions) as session:
            try:
                restore = await backups.request_restore(session, await _user_id(session, args.user), args.backup)
            except backups.NoBackup as exc:
                fail(str(exc))
        print(f"restoring backup {restore.backup_id}")
        started = time.monotonic()
        while time.monotonic() - started < args.timeout:
            async with sessions() as session:
                state, assistant = await backups.restore_state(session, restore.id)
            if state.status == "FAILED":
                print(f"the restore failed: {state.error}")
                return 1
            if state.status == "DONE" and (assistant is None or assistant.phase == "ready"):
                print(f"restored; the assistant is back ({time.monotonic() - started:.1f} s)")
                return 0
            await asyncio.sleep(1.0)
        print(f"not done within {args.timeout:g} s (the reconciler goes on)")
        return 1

    raise SystemExit(_with_sessions(work))
