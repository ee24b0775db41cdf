"""Pure pieces: the model catalogue and prices, phone numbers, secrets, log scrubbing."""

from __future__ import annotations

import json

import pytest
import structlog
from cryptography.fernet import Fernet

from yourclaw.accounts import phones
from yourclaw.credits.ledger import Balance, to_cents
from yourclaw.kit.crypto import DecryptionFailed, SecretBox
from yourclaw.kit.errors import Unprocessable
from yourclaw.kit.logs import configure_logging
from yourclaw.llm import catalog

pytestmark = pytest.mark.unit


def test_every_offered_model_has_a_price():
    for model in catalog.MODELS:
        upstream = model.id.removeprefix("anthropic/")
        assert catalog.prices_for(upstream) is not None, model.id
    assert catalog.DEFAULT_MODEL == "anthropic/claude-sonnet-5"
    assert catalog.is_offered("anthropic/claude-haiku-4-5") and not catalog.is_offered("gpt-4")


def test_a_retired_choice_runs_its_successor():
    assert not catalog.is_offered("anthropic/claude-sonnet-4-6")
    assert catalog.current_model("anthropic/claude-sonnet-4-6") == "anthropic/claude-sonnet-5"
    assert catalog.current_model("anthropic/claude-haiku-4-5") == "anthropic/claude-haiku-4-5"
    assert all(successor in catalog.MODEL_IDS for successor in catalog.RETIRED_MODELS.values())


def test_cost_is_exact_integer_millicents_rounded_up():
    # Sonnet: $3 / MTok in, $15 / MTok out -> 0.3 and 1.5 millicents per token.
    assert catalog.cost_millicents("claude-sonnet-4-6", input_tokens=1000, output_tokens=1000) == 1800
    assert catalog.cost_millicents("claude-sonnet-4-6", input_tokens=1, output_tokens=0) == 1
    assert catalog.cost_millicents("claude-haiku-4-5-20251001", input_tokens=1000, output_tokens=0) == 100
    cached = catalog.cost_millicents(
        "claude-sonnet-4-6", input_tokens=0, output_tokens=0, cache_read_tokens=10_000, cache_creation_tokens=1000
    )
    assert cached == 300 + 375
    # An unknown model is never free.
    assert catalog.cost_millicents("claude-unknown", input_tokens=1000, output_tokens=0) > 0


def test_cents_round_down_for_display():
    assert to_cents(1999) == 1
    assert Balance(total_millicents=1_000_000, used_millicents=1).remaining_cents == 999
    assert Balance(total_millicents=5, used_millicents=9).remaining_millicents == 0


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+1 415 555 2671", "+14155552671"), ("+44 20 7946 0958", "+442079460958"), ("+33612345678", "+33612345678")],
)
def test_phone_normalisation(raw, e164):
    assert phones.normalize_e164(raw) == e164


def test_phone_without_country_code_is_refused():
    with pytest.raises(Unprocessable) as info:
        phones.normalize_e164("0612345678")
    assert info.value.code == "INVALID_PHONE"


def test_code_and_link():
    code = phones.new_code()
    assert len(code) == 6 and code.isdigit()
    assert phones.wa_me_link("whatsapp:+1 (555) 000-1111", "123456") == "https://wa.me/15550001111?text=link%20123456"


def test_secret_box_rotates_keys():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = SecretBox([old]).encrypt("sk-ant-secret")
    both = SecretBox([new, old])
    assert both.decrypt(stored) == "sk-ant-secret"
    rotated = both.rotate(stored)
    assert SecretBox([new]).decrypt(rotated) == "sk-ant-secret"
    with pytest.raises(DecryptionFailed) as info:
        SecretBox([new]).decrypt(stored)
    assert stored not in info.value.detail


def test_logs_are_json_and_never_carry_secrets(capsys):
    configure_logging("INFO")
    structlog.contextvars.bind_contextvars(request_id="r1", user_id="u1")
    structlog.get_logger("t").info(
        "event",
        token="yca_abc",
        api_key="sk-1",
        authorization="Bearer x",
        secret_bytes=b"raw",
        dedupe_key="k",
        input_tokens=1200,
        own_key=True,
    )
    structlog.contextvars.clear_contextvars()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "r1" and line["user_id"] == "u1"
    assert line["token"] == line["api_key"] == line["authorization"] == line["secret_bytes"] == "[redacted]"
    assert line["dedupe_key"] == "k"
    # Counts and flags are no secret: usage logs stay readable.
    assert line["input_tokens"] == 1200 and line["own_key"] is True
