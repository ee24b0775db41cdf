"""Every metric family YourClaw exports, in one place so names, labels and units stay consistent.

Families live in prometheus_client's default registry (with its process and Python collectors), so each
process (`yourclaw serve`, `worker`, `reconcile`, or all three in `yourclaw dev`) exports what it does. Labels
are bounded: a model, an action kind, a Twilio error code, a phase; never a user, a phone or a text.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "yourclaw"

# --- the API ------------------------------------------------------------------------------------------------

WEBHOOK_SECONDS = Histogram(
    f"{PREFIX}_webhook_seconds",
    "Time to answer a webhook, from its first byte to the answer (the row is committed before it).",
    ["hook"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- messaging (the worker) --------------------------------------------------------------------------------

INBOUND_QUEUE_DEPTH = Gauge(
    f"{PREFIX}_inbound_queue_depth",
    "Inbound messages waiting: stage=routing (stored, not yet routed), stage=assistant (queued for the assistant).",
    ["stage"],
)
INBOUND_QUEUE_OLDEST_SECONDS = Gauge(
    f"{PREFIX}_inbound_queue_oldest_seconds",
    "Age of the oldest inbound message waiting at each stage (0 when none waits).",
    ["stage"],
)
ROUTER_LAG_SECONDS = Histogram(
    f"{PREFIX}_router_lag_seconds",
    "From a message's arrival to the router's decision about it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
OUTBOX_DEPTH = Gauge(f"{PREFIX}_outbox_due", "Outbox rows due to be sent now (not held or deferred).")
SENDER_LAG_SECONDS = Gauge(
    f"{PREFIX}_sender_lag_seconds",
    "How long the oldest outbox row that is due now has been due (0 when none is).",
)
TWILIO_SEND_ERRORS = Counter(
    f"{PREFIX}_twilio_send_errors",
    "Twilio refusing or not answering a send, by Twilio's error code ('none' when it did not answer).",
    ["code"],
)
CREDIT_REFUSALS = Counter(
    f"{PREFIX}_credit_refusals",
    "Work refused for want of credits: where=router (a WhatsApp message) or where=llm_proxy (a model call).",
    ["where"],
)

# --- the reconciler -------------------------------------------------------------------------------------------

RECONCILE_PASS_SECONDS = Histogram(
    f"{PREFIX}_reconcile_pass_seconds",
    "One reconcile pass: observe every host, plan, and start the actions (which run on after it).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECONCILE_ACTIONS = Counter(
    f"{PREFIX}_reconcile_actions",
    "Actions the reconciler ran, by kind (Create, Start, WriteConfig, ...) and outcome (ok, failed).",
    ["kind", "outcome"],
)
HOSTS = Gauge(f"{PREFIX}_hosts", "Docker hosts by reachability (reachable, unreachable, draining).", ["state"])
ASSISTANTS = Gauge(f"{PREFIX}_assistants", "Assistants the reconciler manages, by phase.", ["phase"])

BACKUPS = Counter(
    f"{PREFIX}_backups",
    "Volume backups the reconciler tried, by outcome (ok, failed; skipped when the volume was not there).",
    ["outcome"],
)
BACKUP_SECONDS = Histogram(
    f"{PREFIX}_backup_seconds",
    "Streaming one volume into the backup bucket, for the backups that went up.",
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
BACKUP_BYTES = Counter(f"{PREFIX}_backup_bytes", "Bytes of the volume backups that went up.")

# --- the LLM proxy --------------------------------------------------------------------------------------------

LLM_CALLS = Counter(f"{PREFIX}_llm_calls", "Model calls the proxy settled, by model.", ["model"])
LLM_TOKENS = Counter(
    f"{PREFIX}_llm_tokens",
    "Tokens of the settled model calls, by model and kind (input, output, cache_write, cache_read).",
    ["model", "kind"],
)
LLM_COST_CENTS = Counter(
    f"{PREFIX}_llm_cost_cents",
    "What the settled model calls cost, in US cents (charged, or the user's own key's cost), by model.",
    ["model"],
)


def reset_gauge(gauge: Gauge, values: dict[str, float], known: tuple[str, ...] = ()) -> None:
    """Sets a labelled gauge to exactly `values`: labels that had a value and have none now read 0, so a
    phase everyone left does not keep its last count."""
    seen = {labels[0] for labels in gauge._metrics}  # noqa: SLF001  (the client has no public listing)
    for label in seen | set(values) | set(known):
        gauge.labels(label).set(values.get(label, 0))
