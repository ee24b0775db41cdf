"""Part 1: the webhook's durable ack. 1a a closed loop of signed webhooks, 1b the bare asyncpg ceiling in the
same run on the same server (and, as a diagnostic, the same with a NOTIFY), 1c an open loop at a fixed rate;
then the table with the targets, and what the load generator, `serve` and PostgreSQL cost per request."""

from __future__ import annotations

from _common.cpu import CpuMeter
from _common.database import sql
from _common.report import ms, say, table, verdict
from _common.stats import pct

from _webhook.ceiling import SCRATCH, ceiling
from _webhook.load_generator import closed_loop, open_loop
from _webhook.signed_requests import Webhooks
from _webhook.stack import Stack

GENERATOR = "benchmark (generator)"  # this process in the CPU table
TARGET_RATIO = 0.50  # ack throughput / bare INSERT+COMMIT rate
TARGET_P99_MS = 25.0  # at the fixed rate


async def part1(stack: Stack, args, hooks: Webhooks, cpu: CpuMeter) -> dict:
    host, port = "127.0.0.1", stack.port
    say(f"\n== Part 1: signed webhooks against `yourclaw serve` ({args.concurrency} connections, {args.seconds:g} s)")
    # Warm-up: the pool's connections, statement caches, first-call paths.
    warm = await closed_loop(host, port, hooks.batch(200), hooks, args.concurrency, args.warmup)
    say(f"warm-up: {warm.ok} webhooks in {warm.elapsed:.1f} s ({dict(warm.statuses)})")

    await sql(stack.dsn, "CHECKPOINT")
    estimate = max(2000, int(warm.ok / max(warm.elapsed, 0.1) * args.seconds * 1.5))
    requests = hooks.batch(estimate)
    with cpu.phase(f"1a webhooks c={args.concurrency}"):
        a = await closed_loop(host, port, requests, hooks, args.concurrency, args.seconds)
    cpu_a = cpu.last()
    del requests

    await sql(
        stack.dsn,
        f"DROP TABLE IF EXISTS {SCRATCH}",
        f"CREATE TABLE {SCRATCH} (LIKE inbound_messages INCLUDING ALL)",
        "CHECKPOINT",
    )
    with cpu.phase(f"1b asyncpg INSERT+COMMIT c={args.concurrency}"):
        b_done, b_elapsed, b_lat = await ceiling(stack.dsn, args.concurrency, args.seconds)
    cpu_b = cpu.last()
    b_notify = None
    if args.notify_ceiling:
        await sql(stack.dsn, "CHECKPOINT")
        with cpu.phase("1b' same + NOTIFY"):
            b_notify = await ceiling(stack.dsn, args.concurrency, args.notify_seconds, notify=True)

    await sql(stack.dsn, "CHECKPOINT")
    requests = hooks.batch(int(args.rate * args.seconds))
    with cpu.phase(f"1c webhooks {args.rate:g}/s"):
        c = await open_loop(host, port, requests, args.rate, args.seconds)
    cpu_c = cpu.last()
    del requests

    a_rate = a.ok / a.elapsed
    b_rate = b_done / b_elapsed
    ratio = a_rate / b_rate if b_rate else float("nan")
    p99_c = pct(c.latencies, 0.99)
    say("")
    rows = [
        (
            f"1a ack throughput, closed loop c={args.concurrency}",
            f"{a_rate:.0f} webhooks/s ({a.ok} in {a.elapsed:.1f} s)",
            f"≥ {TARGET_RATIO:.0%} of 1b = {TARGET_RATIO * b_rate:.0f}/s",
            verdict(ratio >= TARGET_RATIO),
        ),
        (
            "   ack latency p50 / p99 / max",
            f"{ms(pct(a.latencies, 0.5))} / {ms(pct(a.latencies, 0.99))} / "
            f"{ms(max(a.latencies, default=float('nan')))}",
            "",
            "",
        ),
        (
            f"1b ceiling: asyncpg BEGIN+INSERT+COMMIT c={args.concurrency}",
            f"{b_rate:.0f} commits/s (p50 {ms(pct(b_lat, 0.5))}, p99 {ms(pct(b_lat, 0.99))})",
            "",
            "",
        ),
        ("   1a / 1b", f"{ratio:.0%}", f"≥ {TARGET_RATIO:.0%}", verdict(ratio >= TARGET_RATIO)),
    ]
    if b_notify is not None:
        n_done, n_elapsed, n_lat = b_notify
        rows.append(
            (
                "   1b' same + pg_notify in each transaction",
                f"{n_done / n_elapsed:.0f} commits/s = {n_done / n_elapsed / b_rate:.0%} of 1b "
                f"(p50 {ms(pct(n_lat, 0.5))}, p99 {ms(pct(n_lat, 0.99))})",
                "(diagnostic)",
                "",
            )
        )
    rows += [
        (
            f"1c ack latency at {args.rate:g} req/s, open loop",
            f"p50 {ms(pct(c.latencies, 0.5))}, p99 {ms(p99_c)}, max {ms(max(c.latencies, default=float('nan')))}",
            f"p99 ≤ {TARGET_P99_MS:g} ms",
            verdict(p99_c * 1000 <= TARGET_P99_MS),
        ),
        (
            "   achieved rate / connections used",
            f"{c.ok / c.elapsed:.0f} req/s ({c.ok} ok) / {c.max_conns}",
            "",
            "",
        ),
        (
            "   generator send lag p50 / p99 / max",
            f"{ms(pct(c.lags, 0.5))} / {ms(pct(c.lags, 0.99))} / {ms(max(c.lags, default=float('nan')))}",
            "(counted in it)",
            "",
        ),
        ("   generator's longest GC pause", ms(cpu_c.longest_gc), "(counted in it)", ""),
    ]
    table(rows, ("Part 1", "measured", "target", ""))
    bad = {k: v for r in (a, c) for k, v in r.statuses.items() if k != 200}
    errors = a.errors + c.errors
    say(
        f"non-200 answers: {bad or 'none'}; transport errors: {dict(errors) or 'none'}; in 1c, {c.reconnects} "
        "requests were sent again on a new connection after the server had closed an idle keep-alive one"
    )
    gen_a = cpu_a.groups[GENERATOR]
    gen_c = cpu_c.groups[GENERATOR]
    say(
        f"load generator cost (one asyncio process, raw HTTP/1.1 keep-alive, signing included): "
        f"1a {gen_a / cpu_a.wall:.2f} cores = {gen_a / max(a.ok, 1) * 1e6:.0f} µs/request; "
        f"1c {gen_c / cpu_c.wall:.2f} cores = {gen_c / max(c.ok, 1) * 1e6:.0f} µs/request; "
        f"1b client {cpu_b.groups[GENERATOR] / cpu_b.wall:.2f} cores."
    )
    serve_a = cpu_a.groups.get("serve", 0.0)
    pg_a = cpu_a.groups.get("postgres", 0.0)
    say(
        f"per webhook in 1a: serve {serve_a / max(a.ok, 1) * 1e6:.0f} µs CPU, PostgreSQL "
        f"{pg_a / max(a.ok, 1) * 1e6:.0f} µs CPU; per commit in 1b: PostgreSQL "
        f"{cpu_b.groups.get('postgres', 0.0) / max(b_done, 1) * 1e6:.0f} µs CPU."
    )
    return {"a": a, "b_rate": b_rate, "c": c}
