"""WhatsApp numbers: E.164 validation, the one-time code, and the wa.me link that sends it to us."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import phonenumbers

from yourclaw.accounts.errors import InvalidPhone

CODE_DIGITS = 6


def normalize_e164(raw: str) -> str:
    """Parse an international number (leading + required: we cannot guess a country) into E.164."""
    text = (raw or "").strip()
    if not text.startswith("+"):
        raise InvalidPhone(
            "Enter the number in international format, starting with + and the country code (for example +15551234567)"
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone("That does not look like a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("That phone number is not valid for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def link_message(code: str) -> str:
    return f"link {code}"


def wa_me_link(our_number: str, code: str) -> str:
    """Opens WhatsApp with "link <code>" addressed to our number; sending it proves the user owns theirs."""
    digits = "".join(ch for ch in our_number if ch.isdigit())
    return f"https://wa.me/{digits}?text={quote(link_message(code))}"
