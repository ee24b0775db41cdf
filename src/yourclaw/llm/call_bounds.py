"""What one Messages call may cost at most, decided from its request before a byte goes upstream, and what
a call on the shared key may ask for. Pure functions: `admission` holds the worst case against the credits.

The bound on input tokens needs no tokenizer: a token covers at least one byte of the text it stands for,
so the body's size (plus what the API adds around tools and messages) bounds the text, and the model's
context window bounds everything, documents included (a PDF page costs more tokens than its bytes). Every
input token is priced as if written to the cache, the dearest way to pay for input (to the 1-hour cache
when the request names a cache `ttl` anywhere), and every output token up to `max_tokens` as output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import msgspec

from yourclaw.llm import catalog

# Tokens the API adds beyond the request's own bytes: the tool-use system prompt, Anthropic-defined tools,
# message framing.
INPUT_OVERHEAD_TOKENS = 4_096
# Client tools (executed by the caller) may be declared with these types; any other type is a server tool
# that Anthropic runs and bills per use.
CLIENT_TOOL_TYPES = ("custom",)
CLIENT_TOOL_PREFIXES = ("bash_", "text_editor_", "computer_", "memory_")
# Betas a shared-key call may use: they change how a call works, not what it costs per token. Others
# (the 1M-token context, billed at a premium; server-side features) are dropped from the request.
ALLOWED_BETA_PREFIXES = (
    "fine-grained-tool-streaming-",
    "interleaved-thinking-",
    "prompt-caching-",
    "token-efficient-tools-",
    "context-management-",
    "extended-cache-ttl-",
)
_DOCUMENT = re.compile(rb'"type"\s*:\s*"document"')


class _Tool(msgspec.Struct):
    type: str | None = None
    name: str | None = None


class _Thinking(msgspec.Struct):
    type: str | None = None
    budget_tokens: int | None = None


class _Head(msgspec.Struct):
    model: str = ""
    stream: bool = False
    max_tokens: int | None = None
    tools: list[_Tool] | None = None
    thinking: _Thinking | None = None


@dataclass(frozen=True)
class RequestHead:
    model: str
    stream: bool
    max_tokens: int | None
    server_tools: tuple[str, ...]  # the types of the server tools it declares
    thinking_budget: int | None
    input_bound: int  # the most input tokens it can be billed for
    long_cache: bool = True  # it may write to the 1-hour cache (it names a cache ttl)


def read_head(body: bytes) -> RequestHead | None:
    """None when the body is not a JSON object of the Messages shape. Only these fields are decoded:
    the conversation passes through untouched."""
    try:
        head = msgspec.json.decode(body, type=_Head)
    # msgspec raises these two of its own for nesting past its depth and for bytes that are not UTF-8.
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, UnicodeDecodeError):
        return None
    server_tools = tuple(
        tool.type
        for tool in head.tools or ()
        if tool.type is not None
        and tool.type not in CLIENT_TOOL_TYPES
        and not tool.type.startswith(CLIENT_TOOL_PREFIXES)
    )
    limits = catalog.limits_for(head.model)
    # A memchr first: the regular expression runs only on bodies that may hold a document.
    has_document = b'"document"' in body and _DOCUMENT.search(body) is not None
    input_bound = (
        limits.context_window if has_document else min(len(body) + INPUT_OVERHEAD_TOKENS, limits.context_window)
    )
    budget = head.thinking.budget_tokens if head.thinking and head.thinking.type == "enabled" else None
    long_cache = b'"ttl"' in body
    return RequestHead(head.model, head.stream, head.max_tokens, server_tools, budget, input_bound, long_cache)


def output_bound(head: RequestHead) -> int:
    """What the answer may hold: `max_tokens` within the model's limit (a missing one is refused
    upstream, unbilled; it is reserved as the limit meanwhile)."""
    limit = catalog.limits_for(head.model).max_output
    return limit if head.max_tokens is None else max(0, min(head.max_tokens, limit))


def _input_price(prices: catalog.TokenPrices, long_cache: bool) -> int:
    return prices.dearest_input if long_cache else max(prices.input, prices.cache_write)


def worst_case(model: str, input_tokens: int, output_tokens: int, *, long_cache: bool = True) -> int:
    """Millicents, rounded up."""
    prices = catalog.priced(model)
    return math.ceil((input_tokens * _input_price(prices, long_cache) + output_tokens * prices.output) / 1_000_000)


def affordable_output(model: str, input_tokens: int, free_millicents: int, *, long_cache: bool = True) -> int:
    """The most output tokens `free_millicents` pays for once the input's worst case is paid."""
    prices = catalog.priced(model)
    left = free_millicents * 1_000_000 - input_tokens * _input_price(prices, long_cache)
    return max(0, left // prices.output)


def with_max_tokens(body: bytes, max_tokens: int) -> bytes:
    """The request with another `max_tokens`; every other field is copied as it came, undecoded."""
    fields = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    fields["max_tokens"] = msgspec.Raw(str(max_tokens).encode())
    return msgspec.json.encode(fields)


# What Anthropic's token counting accepts of a Messages request.
_COUNTED = ("model", "messages", "system", "tools", "tool_choice", "thinking")


def count_tokens_body(body: bytes) -> bytes:
    fields = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    return msgspec.json.encode({name: value for name, value in fields.items() if name in _COUNTED})


def allowed_betas(value: str) -> tuple[str, list[str]]:
    """The `anthropic-beta` header a shared-key call may send on, and the values dropped."""
    kept, dropped = [], []
    for beta in (part.strip() for part in value.split(",")):
        if not beta:
            continue
        (kept if beta.startswith(ALLOWED_BETA_PREFIXES) else dropped).append(beta)
    return ",".join(kept), dropped
