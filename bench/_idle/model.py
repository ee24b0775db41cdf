"""The model behind the proxy for the idle-cost bench: it answers as a quiet assistant would (NO_REPLY to a
heartbeat with nothing to report), reports usage estimated from each request's own size, and tells what each
call was for from what OpenClaw put in it.

Usage is what Anthropic would bill for the request as sent: about 4 bytes a token over its tools, system
prompt and messages (Anthropic's rule of thumb), the part up to the last `cache_control` breakpoint as a cache
write (the calls of an idle day are an hour or more apart: the 5-minute cache has always expired), the rest
as plain input; output from the answer's length. A real model would also think on the 5-series (effort
high), so the output figures are a floor."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from tests.harness.journey_support import TimedAnthropicStandin, split_body

from yourclaw.llm import catalog, purposes
from yourclaw.standins.anthropic import RecordedRequest

BYTES_PER_TOKEN = 4
QUIET = "NO_REPLY"
RECAP_MARKER = "Activity recap"
DIARY_MARKER = "dream diary"
COMPACTION_MARKER = "context summarization assistant"
SKILL_REVIEW_MARKER = "Review this agent's Skill Workshop"


def estimated_usage(body: dict, answer: str) -> dict[str, int]:
    # Anthropic's cache prefix runs tools, then system, then messages.
    sent = json.dumps(body.get("tools") or []) + json.dumps(body.get("system") or "") + json.dumps(body["messages"])
    cached = sent.rfind('"cache_control"')
    written = len(sent[: max(cached, 0)].encode()) // BYTES_PER_TOKEN
    return {
        "input_tokens": len(sent.encode()) // BYTES_PER_TOKEN - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": 0,
        "output_tokens": max(1, len(answer.encode()) // BYTES_PER_TOKEN),
    }


def kind_of(body: dict) -> str:
    """What a call was for: OpenClaw's extras by their prompts, the rest by the session it names."""
    whole = json.dumps(body)
    if RECAP_MARKER in whole:
        return "recap"
    if DIARY_MARKER in whole.lower():
        return "dreaming"
    if COMPACTION_MARKER in json.dumps(body.get("system") or ""):
        return "compaction"
    if SKILL_REVIEW_MARKER in whole:
        return "skill review"
    return purposes.of_main_route(whole.encode())


def _key(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class IdleDayModel(TimedAnthropicStandin):
    def __init__(self) -> None:
        super().__init__(reply="Noted.", script=self._answer)
        self._usage: dict[str, dict[str, int]] = {}

    @staticmethod
    def _answer(body: dict) -> str | None:
        return QUIET if kind_of(body) == purposes.HEARTBEAT else None

    def usage_for(self, body: dict, text: str) -> dict[str, int]:
        usage = self._usage[_key(body)] = estimated_usage(body, text)
        return usage

    def reported(self, call: RecordedRequest) -> dict[str, int]:
        """The usage this model reported for a call (what the proxy charged)."""
        return self._usage[_key(call.json())]


@dataclass
class Cost:
    """Calls and what they cost, as the model reported it."""

    calls: float = 0
    input: float = 0  # every input token, cache writes included
    output: float = 0
    millicents: float = 0
    models: frozenset[str] = frozenset()
    max_tokens: int = 0  # the largest any call asked for: what the proxy holds against the credits

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.input + other.input,
            self.output + other.output,
            self.millicents + other.millicents,
            self.models | other.models,
            max(self.max_tokens, other.max_tokens),
        )

    def times(self, factor: float) -> Cost:
        return Cost(
            self.calls * factor,
            self.input * factor,
            self.output * factor,
            self.millicents * factor,
            self.models,
            self.max_tokens,
        )


def cost_of(model: IdleDayModel, calls: list[RecordedRequest]) -> Cost:
    total = Cost()
    for call in calls:
        body = call.json()
        usage = model.reported(call)
        millicents = catalog.cost_millicents(
            body["model"],
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cache_creation_tokens=usage["cache_creation_input_tokens"],
        )
        tokens_in = usage["input_tokens"] + usage["cache_creation_input_tokens"]
        model_id = frozenset({body["model"]})
        total = total + Cost(1, tokens_in, usage["output_tokens"], millicents, model_id, body.get("max_tokens", 0))
    return total


def of_kind(calls: list[RecordedRequest], *kinds: str) -> list[RecordedRequest]:
    return [c for c in calls if kind_of(c.json()) in kinds]


def latest_input(call: RecordedRequest) -> str:
    return split_body(call.json())[1]
