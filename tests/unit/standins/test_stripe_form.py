"""Decoding Stripe's form encoding in the Stripe stand-in: bracketed keys to nested params."""

from __future__ import annotations

import pytest

from yourclaw.standins.stripe_http import decode_form

pytestmark = pytest.mark.unit


def test_stripe_form_encoding_decodes_to_nested_params():
    raw = (
        "mode=subscription&line_items[0][price]=price_1&line_items[0][quantity]=1"
        "&subscription_data[metadata][user_id]=u&expand[0]=latest_invoice&expand[1]=customer"
    )
    assert decode_form(raw) == {
        "mode": "subscription",
        "line_items": [{"price": "price_1", "quantity": "1"}],
        "subscription_data": {"metadata": {"user_id": "u"}},
        "expand": ["latest_invoice", "customer"],
    }
