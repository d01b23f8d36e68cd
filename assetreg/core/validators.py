"""Checks of the national code standards the registry relies on. Pure functions."""

from __future__ import annotations

import re
from datetime import date

from .access import LEVEL_LENGTHS  # 统计用区划代码: the one level map

# GB 11643-1999 citizen identity number: 17 digits + check character (ISO 7064 MOD 11-2).
_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"\d{17}[\dX]", re.ASCII)


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_valid_id_number(value: str) -> bool:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        return False

    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return id_check_char(value[:17]) == value[17]


# GB 32100-2015 unified social credit code: 18 chars from 0-9A-Z without I, O, S, V, Z;
# check character by MOD 31 over the first 17.
_CC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_CC_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}", re.ASCII)


def credit_code_check_char(first17: str) -> str:
    total = sum(_CC_ALPHABET.index(c) * w for c, w in zip(first17, _CC_WEIGHTS, strict=True))
    return _CC_ALPHABET[(31 - total % 31) % 31]


def is_valid_credit_code(value: str) -> bool:
    if not isinstance(value, str) or not _CC_RE.fullmatch(value):
        return False
    return credit_code_check_char(value[:17]) == value[17]




def division_code_error(code: str, level: str, parent_code: str | None) -> str | None:
    """Return why ``code`` is not a valid division code for ``level`` under ``parent_code``."""
    length = LEVEL_LENGTHS[level]
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or len(code) != length:
        return f"应为{length}位数字"
    if level != "county":
        if not parent_code:
            return "缺少上级区划"
        if not code.startswith(parent_code):
            return f"应以上级区划代码{parent_code}开头"
        if code[len(parent_code):] == "0" * (length - len(parent_code)):
            return "本级代码不能全为0"
    return None


def mask_id_number(value: str | None) -> str | None:
    """First 6 + ******** + last 4, as DOMAIN.md §7 requires in notices and exports."""
    if not value:
        return value
    return value[:6] + "********" + value[-4:]


def mask_card_number(value: str | None) -> str | None:
    if not value:
        return value
    return "*" * max(len(value) - 4, 0) + value[-4:]


def mask_mobile(value: str | None) -> str | None:
    if not value:
        return value
    if len(value) == 11:
        return value[:3] + "****" + value[-4:]
    return value[:-4].translate(str.maketrans("0123456789", "**********")) + value[-4:]


# What must never appear in full where personal data is masked (a notice, a masked export, the plan API
# for non-auditors, an import report): an ID number, a bank card, a mobile number, found inside any text.
# The notice refuses to publish on a hit (notices.rules); every other masked output masks what it finds.
_FREE_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])", re.ASCII)
_FREE_CARD = re.compile(r"(?<![\d.,])\d{12,19}(?![\d.,Xx])", re.ASCII)
_FREE_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)", re.ASCII)
PERSONAL_PATTERNS = {"id_number": _FREE_ID, "bank_card": _FREE_CARD, "mobile": _FREE_MOBILE}
_MASKERS = {"id_number": mask_id_number, "bank_card": mask_card_number, "mobile": mask_mobile}


def _personal_hits(text: str) -> list[tuple[str, re.Match]]:
    hits, taken = [], []
    for kind, pattern in PERSONAL_PATTERNS.items():  # ID first: an 18-digit ID is not also reported as a card
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append(m.span())
            hits.append((kind, m))
    return hits


def find_unmasked(text: str | None) -> list[tuple[str, str]]:
    """Every (kind, value) of unmasked personal data in ``text``; empty when the text is clean."""
    return [(kind, m.group(0)) for kind, m in _personal_hits(text or "")]


def mask_personal_text(text: str | None) -> str | None:
    """``text`` with every ID, card and mobile number ``find_unmasked`` finds masked as in a notice
    (ID 6 + ******** + 4, card last 4, mobile 138****1234); the rest of the text unchanged."""
    if not text:
        return text
    hits = sorted(_personal_hits(text), key=lambda h: h[1].start())
    if not hits:
        return text
    out, at = [], 0
    for kind, m in hits:
        out.append(text[at:m.start()])
        out.append(_MASKERS[kind](m.group(0)))
        at = m.end()
    out.append(text[at:])
    return "".join(out)


def make_id_number(region: str, birth: date, seq: int) -> str:  # noqa: F821
    """Build a valid ID number (for demo data and tests): region 6 + birth 8 + seq 3 + check."""
    body = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return body + id_check_char(body)


def make_credit_code(region: str, serial: str, registry: str = "N2") -> str:
    """Build a valid credit code: registry 2 + region 6 + org code 9 (digits/letters) + check."""
    body = f"{registry}{region}{serial}"
    if len(body) != 17:
        raise ValueError("credit code body must be 17 characters")
    return body + credit_code_check_char(body)
