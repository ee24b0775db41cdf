"""Splitting long texts into Twilio-sized parts: never over the limit, never losing, reordering or
breaking a character apart, and at the most natural break available."""

from __future__ import annotations

import random
import unicodedata

import pytest

from yourclaw.messaging.outbound.splitting import TWILIO_BODY_LIMIT, is_grapheme_boundary, split_message, twilio_length

pytestmark = pytest.mark.unit

THUMBS_DARK = "\U0001f44d\U0001f3ff"  # 👍🏿: emoji + skin tone, 4 UTF-16 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦: ZWJ sequence, 11 units
FLAG_FR = "\U0001f1eb\U0001f1f7"  # 🇫🇷
KEYCAP = "1\ufe0f\u20e3"  # 1️⃣
E_ACUTE = "e\u0301"  # é as e + combining acute
HANGUL = "\u1100\u1161\u11a8"  # 각 as conjoining jamo


def check(text: str, limit: int = TWILIO_BODY_LIMIT) -> list[str]:
    parts = split_message(text, limit)
    assert "".join(parts) == text, "text lost or reordered"
    assert all(twilio_length(p) <= limit for p in parts), [twilio_length(p) for p in parts]
    assert all(parts), "an empty part"
    return parts


def cut_points(parts: list[str]) -> list[int]:
    points, at = [], 0
    for part in parts[:-1]:
        at += len(part)
        points.append(at)
    return points


def test_short_text_is_one_part():
    assert split_message("hello") == ["hello"]
    assert split_message("x" * 1600) == ["x" * 1600]
    assert split_message("") == [""]


def test_twilio_counts_utf16_units():
    assert twilio_length("abc") == 3
    assert twilio_length("中文") == 2
    assert twilio_length("\U0001f600") == 2
    assert twilio_length(FAMILY) == 11
    # 800 emoji are 1600 units: one part; one more emoji and it no longer fits.
    assert len(split_message("\U0001f600" * 800)) == 1
    assert len(check("\U0001f600" * 801)) == 2


def test_paragraph_breaks_win_over_sentences_and_words():
    first = ("First paragraph sentence. " * 40).strip()  # ~1040 characters
    second = ("Second paragraph words here. " * 40).strip()
    text = first + "\n\n" + second
    parts = check(text)
    assert parts[0] == first + "\n\n"
    assert parts[1].startswith("Second paragraph")


def test_sentence_break_when_no_paragraph_fits():
    text = "".join(f"Sentence number {i} ends here. " for i in range(120))
    parts = check(text)
    assert len(parts) >= 2
    for part in parts[:-1]:
        assert part.rstrip().endswith("."), part[-40:]


def test_word_break_when_no_sentence_fits():
    text = " ".join(["word"] * 700)
    parts = check(text)
    for part in parts[:-1]:
        assert part.endswith(" ") and not part.endswith("  ")
    for part in parts[1:]:
        assert part.startswith("word")


def test_a_break_too_early_is_passed_over_for_a_weaker_one_later():
    # A paragraph break after 10 characters would leave a tiny first part: the last word break wins.
    text = "Tiny start\n\n" + " ".join(["filler"] * 400)
    parts = check(text)
    assert twilio_length(parts[0]) > TWILIO_BODY_LIMIT // 2


def test_cjk_without_spaces_breaks_after_full_stops():
    sentence = "这是一个没有空格的中文句子，用来测试分割。"  # ends with an ideographic full stop
    text = sentence * 120
    parts = check(text)
    assert len(parts) >= 2
    for part in parts[:-1]:
        assert part.endswith("。")


def test_cjk_with_no_punctuation_at_all_still_splits_exactly():
    text = "漢字" * 1500
    parts = check(text)
    assert twilio_length(parts[0]) == TWILIO_BODY_LIMIT


@pytest.mark.parametrize("cluster", [THUMBS_DARK, FAMILY, FLAG_FR, KEYCAP, E_ACUTE, HANGUL, "\r\n"])
def test_clusters_are_never_cut(cluster):
    for offset in range(0, 12):
        text = "a" * offset + cluster * 2000
        parts = check(text)
        for point in cut_points(parts):
            assert is_grapheme_boundary(text, point)
            # Every part after the first starts with a whole cluster.
            assert text[point:].startswith(cluster) or text[point] == "a"


def test_flags_pair_up_from_the_start_of_a_run():
    text = FLAG_FR * 3
    assert is_grapheme_boundary(text, 2) and is_grapheme_boundary(text, 4)
    assert not is_grapheme_boundary(text, 1) and not is_grapheme_boundary(text, 3)


def test_combining_marks_stay_on_their_letter():
    text = (E_ACUTE + "t" + E_ACUTE + " ") * 600
    parts = check(text)
    for part in parts[1:]:
        assert unicodedata.combining(part[0]) == 0


def test_one_cluster_longer_than_the_limit_is_cut_anyway():
    zalgo = "Z" + "\u0301" * 3000
    parts = check(zalgo)
    assert len(parts) == 2


def test_a_small_limit_never_splits_a_surrogate_pair():
    text = "\U0001f600" * 10
    parts = check(text, limit=3)
    assert all(p == "\U0001f600" for p in parts)


def test_random_unicode_texts_keep_every_invariant():
    rng = random.Random(1600)
    alphabet = [
        "a",
        "b",
        " ",
        " ",
        "\n",
        "\n\n",
        ". ",
        "! ",
        "。",
        "，",
        "中",
        "é",
        E_ACUTE,
        THUMBS_DARK,
        FAMILY,
        FLAG_FR,
        KEYCAP,
        HANGUL,
        "\U0001f600",
        "\u0301",
        "\u200d",
        "\r\n",
    ]
    for _ in range(150):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 2500)))
        limit = rng.choice([TWILIO_BODY_LIMIT, 200, 37])
        check(text, limit)
