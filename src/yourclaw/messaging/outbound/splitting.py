"""Splits a long text into WhatsApp messages Twilio accepts (at most 1600 characters each).

Twilio counts UTF-16 code units (an emoji outside the Basic Multilingual Plane is two), so that is what
is counted here. A cut goes, in order of preference, after a paragraph, a line, a sentence, a clause, a
word, or else between two user-perceived characters (grapheme clusters: an emoji with its skin tone, a
flag, a letter with its accents stay whole). The parts joined together are exactly the text: the
whitespace at a cut stays at the end of the earlier part, so every part after the first starts on a
visible character.
"""

from __future__ import annotations

import re
import unicodedata

TWILIO_BODY_LIMIT = 1600

# A cut this early would leave a needlessly short part: look for a weaker kind of break instead.
_MIN_FILL = 0.5

# Each pattern's match end is a cut position, strongest kind first.
_BREAKS = (
    re.compile(r"\n[ \t\r\f\v]*\n\s*"),  # paragraph
    re.compile(r"\n\s*"),  # line
    re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f]+[\u300d\u300f\u201d\u2019\uff09]*\s*"),
    re.compile(r"[,;:]\s+|[\u3001\uff0c\uff1b\uff1a]\s*"),  # clause
    re.compile(r"\s+"),  # word
)

ZWJ = 0x200D


def twilio_length(text: str) -> int:
    """Characters as Twilio counts them: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _is_extend(cp: int, ch: str) -> bool:
    """Characters that belong to the cluster before them (UAX #29 Extend, SpacingMark, ZWJ)."""
    if unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    return (
        cp == ZWJ
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors (emoji presentation)
        or 0xE0100 <= cp <= 0xE01EF
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or 0xE0020 <= cp <= 0xE007F  # tag sequences (subdivision flags)
    )


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _hangul_type(cp: int) -> str | None:
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return None


_HANGUL_JOINS = {
    "L": {"L", "V", "LV", "LVT"},
    "LV": {"V", "T"},
    "V": {"V", "T"},
    "LVT": {"T"},
    "T": {"T"},
}


def is_grapheme_boundary(text: str, index: int) -> bool:
    """May the text be cut before `text[index]` without splitting a user-perceived character?"""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    b, a = ord(before), ord(after)
    if before == "\r" and after == "\n":
        return False
    if 0xD800 <= b <= 0xDBFF and 0xDC00 <= a <= 0xDFFF:  # a surrogate pair kept as two code points
        return False
    if _is_extend(a, after) or b == ZWJ:
        return False
    if _is_regional_indicator(a) and _is_regional_indicator(b):
        run = 0
        i = index - 1
        while i >= 0 and _is_regional_indicator(ord(text[i])):
            run += 1
            i -= 1
        return run % 2 == 0  # flags are pairs: cut only between two complete ones
    hb, ha = _hangul_type(b), _hangul_type(a)
    return not (hb and ha and ha in _HANGUL_JOINS[hb])


def _cut(text: str, limit: int) -> int:
    """Where the first part of `text` (longer than `limit`) ends."""
    # The furthest cut that fits, and the earliest one still worth making, as code point indices.
    units = 0
    furthest = 0
    earliest = None
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        furthest = i + 1
        if earliest is None and units >= limit * _MIN_FILL:
            earliest = i + 1
    earliest = earliest or 1
    # Room past the furthest cut so a break's trailing whitespace and the next character are seen.
    window = text[: furthest + 64]
    for pattern in _BREAKS:
        best = None
        for match in pattern.finditer(window):
            end = match.end()
            if end > furthest:
                break
            if end >= earliest and end < len(text) and is_grapheme_boundary(text, end):
                best = end
        if best is not None:
            return best
    for end in range(furthest, 0, -1):
        if is_grapheme_boundary(text, end):
            return end
    # One cluster longer than the limit (hundreds of stacked accents): no clean cut exists.
    return furthest


def split_message(text: str, limit: int = TWILIO_BODY_LIMIT) -> list[str]:
    """The parts, in order; `"".join(parts) == text` and each is at most `limit` UTF-16 code units."""
    if limit < 2:
        raise ValueError("the limit must leave room for a character outside the BMP")
    parts = []
    rest = text
    while twilio_length(rest) > limit:
        end = _cut(rest, limit)
        parts.append(rest[:end])
        rest = rest[end:]
    if rest or not parts:
        parts.append(rest)
    return parts
