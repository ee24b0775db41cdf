"""The overdraft phase: a caller holding an assistant token tries to spend more than its credit.

(a) `--burst` concurrent maximum-size calls (~200k words each, max_tokens 64k, the dearest model) against
    1 millicent of credit: none may be forwarded (a forwarded call answers 200) and nothing may be charged.
(b) rounds of `--burst` concurrent calls of random sizes, models and max_tokens (seeded) against a small
    allowance: the sum charged must never pass it, whatever got through.
"""

from __future__ import annotations

import asyncio
import json
import random

import aiohttp
from _common.database import sql
from _common.report import say, verdict

ALLOWANCE = 20_000  # millicents: 20 cents
MODELS = ("claude-opus-5", "claude-sonnet-5", "claude-haiku-4-5")


async def _post(http: aiohttp.ClientSession, url: str, token: str, body: dict) -> int:
    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json", "x-api-key": token}
    async with http.post(url, data=json.dumps(body), headers=headers) as response:
        await response.read()
        return response.status


async def _balance(dsn: str, user_id: str) -> tuple[int, int, int, int, int]:
    """(total, used, reserved, open calls, ledger rows) of one user."""
    ((row,), (ledger,)) = await sql(
        dsn,
        "SELECT total_millicents, used_millicents, reserved_millicents, open_reservations "
        f"FROM user_credits WHERE user_id = '{user_id}'",
        f"SELECT count(*) AS n FROM credit_ledger WHERE user_id = '{user_id}' AND reason = 'LLM_USAGE'",
    )
    return row[0], row[1], row[2], row[3], ledger["n"]


async def _settled(dsn: str, user_id: str) -> tuple[int, int, int, int, int]:
    for _ in range(100):
        state = await _balance(dsn, user_id)
        if state[2] == 0 and state[3] == 0:
            return state
        await asyncio.sleep(0.05)
    return state


async def run_overdraft(dsn: str, api_url: str, poor: tuple[str, str], funded: tuple[str, str], burst: int) -> bool:
    url = api_url + "/llm/anthropic/v1/messages"
    huge = {
        "model": "claude-opus-5",
        "max_tokens": 64_000,
        "stream": True,
        "messages": [{"role": "user", "content": "word " * 200_000}],
    }
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
        user_id, token = poor
        statuses = await asyncio.gather(*(_post(http, url, token, huge) for _ in range(burst)))
        total, used, _, _, rows = await _settled(dsn, user_id)
        forwarded = sum(1 for s in statuses if s == 200)
        ok_a = forwarded == 0 and used == 0 and rows == 0
        say(f"\noverdraft (a): {burst} concurrent max-size calls against {total} millicent of credit")
        say(
            f"  forwarded {forwarded}, refused {statuses.count(402)} (402), charged {used} millicents "
            f"in {rows} ledger rows; overdraft {max(0, used - total)}: {verdict(ok_a)}"
        )

        user_id, token = funded
        rng = random.Random(20261207)
        tally: dict[int, int] = {}
        for _ in range(5):
            bodies = [
                {
                    "model": rng.choice(MODELS),
                    "max_tokens": rng.randint(1, 64_000),
                    "stream": rng.random() < 0.5,
                    "messages": [{"role": "user", "content": "x" * rng.randint(0, 200_000)}],
                }
                for _ in range(burst)
            ]
            for status in await asyncio.gather(*(_post(http, url, token, b) for b in bodies)):
                tally[status] = tally.get(status, 0) + 1
        total, used, reserved, open_now, rows = await _settled(dsn, user_id)
        ok_b = used <= total and reserved == 0 and open_now == 0 and tally.get(200, 0) > 0
        say(f"overdraft (b): 5 rounds of {burst} concurrent calls of random sizes against {total} millicents")
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(tally.items()))
        say(
            f"  answers {answers}; charged {used} millicents in {rows} ledger rows "
            f"(≤ allowance {total}); left held {reserved}, open {open_now}: {verdict(ok_b)}"
        )
    return ok_a and ok_b
