"""Table-driven tests of the national code checks and the masking helpers (pure functions)."""

from __future__ import annotations

from datetime import date

import pytest

from assetreg.core.validators import (
    credit_code_check_char,
    division_code_error,
    id_check_char,
    is_valid_credit_code,
    is_valid_id_number,
    make_credit_code,
    make_id_number,
    mask_card_number,
    mask_id_number,
    mask_mobile,
)

# --- GB 11643 citizen identity number ----------------------------------------------------------

VALID_IDS = [
    "11010519491231002X",                               # the standard's own example, check char X
    make_id_number("431299", date(1970, 5, 17), 1),
    make_id_number("431299", date(2000, 2, 29), 7),     # leap day
    make_id_number("110105", date(1949, 12, 31), 999),
    make_id_number("652901", date(2024, 1, 1), 0),
]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_id_numbers(value):
    assert len(value) == 18
    assert is_valid_id_number(value)


def test_make_id_number_covers_every_check_character():
    seen = {make_id_number("431299", date(1980, 1, 1), seq)[-1] for seq in range(200)}
    assert seen == set("0123456789X")
    assert all(is_valid_id_number(make_id_number("431299", date(1980, 1, 1), seq)) for seq in range(200))


@pytest.mark.parametrize("value, why", [
    ("110105194912310021", "wrong check character (should be X)"),
    ("11010519491231002Y", "check character not a digit or X"),
    ("11010519491231002x", "lowercase x is not the standard's X"),
    ("110105194913310028", "month 13"),
    ("110105194902300028", "30 February"),
    ("110105190002290028", "29 February of a non-leap century"),
    ("110105194912000028", "day 0"),
    ("11010519491231002", "17 characters"),
    ("11010519491231002X1", "19 characters"),
    ("", "empty"),
    ("11010519491231002X ", "trailing space"),
    ("A1010519491231002X", "letter in the body"),
    (None, "not a string"),
    (110105194912310020, "an int"),
])
def test_invalid_id_numbers(value, why):
    assert not is_valid_id_number(value), why


# Full-width digits and a trailing newline once slipped through ``\d`` and ``$``; the patterns are
# ASCII-only and fully matched now.


@pytest.mark.parametrize("value", ["1101051949123100\uff12X", "11010519491231002X\n"])
def test_id_number_refuses_non_ascii_and_trailing_newline(value):
    assert not is_valid_id_number(value)


@pytest.mark.parametrize("value", ["91\uff13350100M000100Y4"[:18], "91350100M000100Y43\n"])
def test_credit_code_refuses_non_ascii_and_trailing_newline(value):
    assert is_valid_credit_code(value) is False


def test_every_wrong_check_character_is_refused():
    valid = VALID_IDS[1]
    for c in "0123456789X":
        assert is_valid_id_number(valid[:17] + c) == (c == valid[17])


def test_id_check_char_known_value():
    assert id_check_char("11010519491231002") == "X"


# --- GB 32100 unified social credit code -------------------------------------------------------

VALID_CODES = [
    "91350100M000100Y43",
    make_credit_code("431299", "000000001"),
    make_credit_code("431299", "MA4L0XY12", registry="91"),
    make_credit_code("110105", "123456789", registry="12"),
]


@pytest.mark.parametrize("value", VALID_CODES)
def test_valid_credit_codes(value):
    assert len(value) == 18
    assert is_valid_credit_code(value)


@pytest.mark.parametrize("value, why", [
    ("91350100M000100Y44", "check character changed"),
    ("91350100M000100Y33", "a body character changed"),
    ("91350100N000100Y43", "org code letter changed"),
    ("91350100M000100Y4", "17 characters"),
    ("91350100M000100Y433", "19 characters"),
    ("91350100I000100Y43", "forbidden letter I"),
    ("91350100O000100Y43", "forbidden letter O"),
    ("91350100S000100Y43", "forbidden letter S"),
    ("91350100V000100Y43", "forbidden letter V"),
    ("91350100Z000100Y43", "forbidden letter Z"),
    ("91350100m000100y43", "lowercase"),
    ("913501A0M000100Y43", "letter in the region code"),
    ("", "empty"),
    (None, "not a string"),
])
def test_invalid_credit_codes(value, why):
    assert not is_valid_credit_code(value), why


def test_every_wrong_credit_check_character_is_refused():
    valid = VALID_CODES[1]
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert valid[17] == credit_code_check_char(valid[:17])
    for c in alphabet:
        assert is_valid_credit_code(valid[:17] + c) == (c == valid[17])


def test_make_credit_code_refuses_a_wrong_body_length():
    with pytest.raises(ValueError):
        make_credit_code("431299", "12345678")


# --- 统计用区划代码 ------------------------------------------------------------------------------

@pytest.mark.parametrize("code, level, parent, ok", [
    ("431299", "county", None, True),
    ("431299100", "town", "431299", True),
    ("431299100201", "village", "431299100", True),
    ("43129", "county", None, False),                    # length
    ("4312990", "county", None, False),
    ("43129a", "county", None, False),                   # not digits
    ("４３１２９９", "county", None, False),               # full-width digits
    ("43129910", "town", "431299", False),               # length
    ("431299100201", "town", "431299", False),           # a village code at town level
    ("431298100", "town", "431299", False),              # wrong parent prefix
    ("431299000", "town", "431299", False),              # all-zero own part
    ("431299100", "town", None, False),                  # no parent
    ("431299101201", "village", "431299100", False),     # wrong parent prefix
    ("431299100000", "village", "431299100", False),     # all-zero own part
    ("43129910020", "village", "431299100", False),      # length
])
def test_division_codes(code, level, parent, ok):
    why = division_code_error(code, level, parent)
    assert (why is None) == ok, why


def test_division_code_messages():
    assert division_code_error("43129", "county", None) == "应为6位数字"
    assert division_code_error("431298100", "town", "431299") == "应以上级区划代码431299开头"
    assert division_code_error("431299000", "town", "431299") == "本级代码不能全为0"
    assert division_code_error("431299100", "town", None) == "缺少上级区划"


# --- masking -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, value, masked", [
    (mask_id_number, "11010519491231002X", "110105********002X"),
    (mask_id_number, "341525197001011234", "341525********1234"),
    (mask_id_number, None, None),
    (mask_id_number, "", ""),
    (mask_card_number, "6228480012345678901", "***************8901"),
    (mask_card_number, "622202020011", "********0011"),
    (mask_card_number, None, None),
    (mask_mobile, "13812345678", "138****5678"),
    (mask_mobile, "0743-8221234", "****-***1234"),
    (mask_mobile, None, None),
])
def test_masking(fn, value, masked):
    assert fn(value) == masked


@pytest.mark.parametrize("value", VALID_IDS)
def test_masked_id_keeps_only_first_six_and_last_four(value):
    masked = mask_id_number(value)
    assert len(masked) == 18
    assert masked[:6] == value[:6] and masked[6:14] == "*" * 8 and masked[14:] == value[14:]
    assert value[6:14] not in masked
