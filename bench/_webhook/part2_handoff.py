"""Part 2: the hand-off to polling assistants. `yourclaw worker` and the stand-in assistants start, messages
go to the busy one in turn, and each one's way is timed: webhook answered -> in the assistant's hands (split
by the rows' own timestamps), reply POST answered -> the send at Twilio, and the round trip."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from collections import Counter

from _common.cpu import CpuMeter
from _common.database import sql
from _common.report import ms, say, table, verdict
from _common.stats import pct

from _webhook.ceiling import SCRATCH
from _webhook.load_generator import Conn
from _webhook.seeding import Seeded
from _webhook.signed_requests import Webhooks
from _webhook.stack import LEASE_SECONDS, STANDIN, Stack
from _webhook.timed_standins import BUSY_STANDIN, Events, read_lines

TARGET_HANDOFF_MS = 20.0  # (a) p50
TARGET_SEND_MS = 20.0  # (b) p50


async def part2(stack: Stack, args, seeded: Seeded, hooks: Webhooks, cpu: CpuMeter) -> None:
    say(f"\n== Part 2: hand-off to polling stand-in assistants ({len(seeded.idle)} idle, 1 busy) and replies to Twilio")
    # Part 1's messages would keep the router busy: they were only about the ack.
    await sql(
        stack.dsn,
        "DELETE FROM inbound_messages",
        f"DROP TABLE IF EXISTS {SCRATCH}",
    )
    await sql(stack.dsn, "VACUUM ANALYZE", "CHECKPOINT")

    loop = asyncio.get_running_loop()
    events = Events(loop)
    stack.standin.on_send = events.bump

    worker_log = stack.workdir / "worker.log"
    worker = stack.procs.start("worker", [sys.executable, "-m", "yourclaw", "worker"], stack.env, log=worker_log)
    standin_log = stack.workdir / "standins.log"
    for i, path in enumerate(seeded.idle):
        env = dict(stack.env, OPENCLAW_CONFIG_PATH=str(path), STANDIN_HEALTH_PORT="0", HOME=str(path.parent))
        stack.procs.start(f"standin-{i}", [sys.executable, str(STANDIN)], env, log=standin_log)
    busy_user, busy_phone, busy_config = seeded.busy
    instance = "bench-busy-" + secrets.token_hex(4)
    busy = stack.procs.start(
        "standin-busy",
        [sys.executable, "-c", BUSY_STANDIN, str(STANDIN), str(busy_config), instance, str(args.poll_wait)],
        dict(stack.env, HOME=str(busy_config.parent)),
        log=standin_log,
        stdout=subprocess.PIPE,
    )
    read_lines(busy.stdout, events.on_line)

    # Ready when every assistant has polled and the worker's two LISTEN connections are up.
    deadline = time.monotonic() + 90
    wanted = len(seeded.idle) + 1
    while True:
        (polled,), (listening,) = await sql(
            stack.dsn,
            "SELECT count(*) AS n FROM assistants WHERE last_poll_at IS NOT NULL",
            "SELECT count(DISTINCT query) AS n FROM pg_stat_activity "
            "WHERE query IN ('LISTEN \"yourclaw_inbound\"', 'LISTEN \"yourclaw_outbox\"', "
            "'LISTEN yourclaw_inbound', 'LISTEN yourclaw_outbox')",
        )
        if polled["n"] >= wanted and listening["n"] >= 2:
            break
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}); see {worker_log}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"not ready after 90 s: {polled['n']}/{wanted} assistants polled, {listening['n']}/2 worker LISTENs"
            )
        await asyncio.sleep(0.25)
    say(f"{wanted} stand-in assistants polling, worker listening")

    conn = await Conn.open("127.0.0.1", stack.port)
    results: list[dict] = []

    async def one(text: str) -> dict:
        nonlocal conn
        raw = hooks.build(busy_phone, text)
        sent = time.time()
        try:
            status = await conn.request(raw)
        except (OSError, asyncio.IncompleteReadError):
            conn.close()
            conn = await Conn.open("127.0.0.1", stack.port)
            raise
        answered = time.time()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")
        mid, handed = await events.until(lambda: events.handed.get(text), 10, f"'{text}' handed to the assistant")
        r_status, replied = await events.until(lambda: events.replied.get(mid), 10, "the reply POST")
        body = f"echo: {text}"
        at_twilio = await events.until(lambda: stack.standin.sent_at(body), 10, "the reply at Twilio")
        await events.until(lambda: events.acked.get(mid), 10, "the ack")
        return {
            "id": mid,
            "sent": sent,
            "answered": answered,
            "handed": handed,
            "replied": replied,
            "reply_status": r_status,
            "twilio": at_twilio,
        }

    for i in range(args.warmup_messages):
        await one(f"warm-up {i} {hooks.run}")
        await asyncio.sleep(args.gap)
    with cpu.phase(f"2 {args.messages} messages in turn"):
        for i in range(args.messages):
            results.append(await one(f"bench {i} {hooks.run}"))
            await asyncio.sleep(args.gap)
    conn.close()

    # Where (a) goes, from the rows: routed_at is now() in the router's transaction (when it began), and
    # lease_until - the lease is clock_timestamp() at the hand-out UPDATE in the poll's transaction.
    ids = [r["id"] for r in results]
    rows = await sql(
        stack.dsn,
        "SELECT id::text AS id, extract(epoch FROM received_at) AS received, extract(epoch FROM routed_at) AS routed, "
        f"extract(epoch FROM lease_until - interval '{LEASE_SECONDS} seconds') AS leased, "
        "status, deliveries FROM inbound_messages WHERE id::text = ANY('{%s}'::text[])" % ",".join(ids),
    )
    by_id = {r["id"]: r for r in rows[0]}

    handoff = [r["handed"] - r["answered"] for r in results]
    send = [r["twilio"] - r["replied"] for r in results]
    round_trip = [r["twilio"] - r["answered"] for r in results]
    turn = [r["replied"] - r["handed"] for r in results]
    ack = [r["answered"] - r["sent"] for r in results]
    to_router = [float(by_id[r["id"]]["routed"]) - r["answered"] for r in results if r["id"] in by_id]
    router_to_lease = [
        float(by_id[r["id"]]["leased"]) - float(by_id[r["id"]]["routed"]) for r in results if r["id"] in by_id
    ]
    lease_to_hand = [r["handed"] - float(by_id[r["id"]]["leased"]) for r in results if r["id"] in by_id]

    def row(label: str, values: list[float], target: str = "", ok: bool | None = None) -> tuple[str, ...]:
        return (
            label,
            ms(pct(values, 0.5)),
            ms(pct(values, 0.95)),
            ms(max(values, default=float("nan"))),
            target,
            "" if ok is None else verdict(ok),
        )

    p50_a, p50_b = pct(handoff, 0.5), pct(send, 0.5)
    say("")
    table(
        [
            row(
                "(a) webhook answered -> in the assistant's hands",
                handoff,
                f"p50 ≤ {TARGET_HANDOFF_MS:g} ms",
                p50_a * 1000 <= TARGET_HANDOFF_MS,
            ),
            row("    of which: webhook answered -> router's transaction began", to_router),
            row("    of which: router's transaction began -> poll's hand-out UPDATE", router_to_lease),
            row("    of which: hand-out UPDATE -> poll answer read by the assistant", lease_to_hand),
            row(
                "(b) reply POST answered 202 -> send at Twilio",
                send,
                f"p50 ≤ {TARGET_SEND_MS:g} ms",
                p50_b * 1000 <= TARGET_SEND_MS,
            ),
            row("round trip: webhook answered -> reply at Twilio", round_trip),
            row("for reference: webhook POST -> 200", ack),
            row("for reference: the stand-in's turn (handed -> reply 202)", turn),
        ],
        (f"Part 2 ({len(results)} messages)", "p50", "p95", "max", "target", ""),
    )
    statuses = Counter(r["status"] for r in rows[0])
    deliveries = Counter(r["deliveries"] for r in rows[0])
    reply_statuses = Counter(r["reply_status"] for r in results)
    to_busy = [m for m in stack.standin.received if m[1] == f"whatsapp:{busy_phone}"]
    say(
        f"checks: inbound statuses {dict(statuses)}, deliveries {dict(deliveries)}, "
        f"reply POSTs {dict(reply_statuses)}, "
        f"{len(to_busy)} sends to the busy user at Twilio (warm-up included), at most "
        f"{stack.standin.max_concurrent_per_recipient} at once per recipient"
    )
