"""Phone numbers: E.164 normalisation, the verification code and its wa.me link."""

from __future__ import annotations

import pytest

from yourclaw.accounts import phones
from yourclaw.kit.errors import Unprocessable

pytestmark = pytest.mark.unit


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
