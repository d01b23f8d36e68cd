"""Keep households (农户) and their members: validated personal data, scope, optimistic locking,
and a change log that never holds a full ID, card or phone number."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..changelog.services import record_change, snapshot
from ..core.access import require_write, scope_clause
from ..core.errors import Conflict, Forbidden, NotFound, RuleViolation
from ..core.events import household_moved, place_withdrawn
from ..core.time import now_utc, today_local
from ..core.validators import is_valid_id_number, mask_card_number, mask_id_number, mask_mobile
from ..extensions import db
from ..places.models import Place
from .models import Household, HouseholdMember

HEAD_RELATION = "户主"
# ASCII-only and matched in full: \d alone admits full-width digits, and $ a trailing newline.
_MOBILE_RE = re.compile(r"1\d{10}", re.ASCII)
# Landline: optional area code (0 + 2–3 digits, optional '-'), a 7–8 digit local number, optional extension.
_LANDLINE_RE = re.compile(r"(0\d{2,3}-?)?[2-9]\d{6,7}(-\d{1,6})?", re.ASCII)
_CARD_RE = re.compile(r"\d{12,19}", re.ASCII)
_EDITABLE = ("village_code", "number", "head_name", "head_id_number", "phone", "status", "monitor_type",
             "is_risk_cleared", "risk_cleared_on", "bank_card")


# --- who sees what -----------------------------------------------------------------------------

def sees_personal_data(user) -> bool:
    """Only audit/discipline inspection reads ID, card and phone numbers in full (DOMAIN.md §1;
    basis: P18); everyone else gets them masked (basis: P17)."""
    return getattr(user, "role", None) == "auditor"


def _reveal(user, households: list[Household]) -> list[Household]:
    """Mark objects for the output schema, which masks unless told otherwise."""
    flag = sees_personal_data(user)
    for h in households:
        h.reveal_personal = flag
    return households


def visible_households(user):
    return sa.select(Household).where(Household.county_code == user.county_code, scope_clause(Household, user))


# --- reads -------------------------------------------------------------------------------------

def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_households(user, *, village_code=None, town_code=None, status=None, monitor_type=None, q=None,
                    page=1, per_page=50) -> dict:
    """One page of households in scope: three queries whatever the page size (count, page, members)."""
    query = visible_households(user)
    if village_code:
        query = query.where(Household.village_code == village_code)
    if town_code:
        query = query.where(Household.town_code == town_code)
    if status:
        query = query.where(Household.status == status)
    if monitor_type:
        query = query.where(Household.monitor_type == monitor_type)
    if q:
        like = _like(q.strip())
        query = query.where(sa.or_(Household.head_name.like(like, escape="\\"),
                                   Household.number.like(like, escape="\\")))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(
        query.options(selectinload(Household.members_in(user.county_code)))
        .order_by(Household.village_code, Household.number, Household.id)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return {"items": _reveal(user, list(items)), "page": page, "per_page": per_page, "total": total}


def get_household(user, household_id: int, *, for_update: bool = False) -> Household:
    """A household the user may see; another scope's household is simply not found (404)."""
    h = db.session.scalar(visible_households(user).where(Household.id == household_id)
                          .options(selectinload(Household.members_in(user.county_code))))
    if h is None:
        if for_update:
            _refuse_foreign_write(user, household_id)
        raise NotFound("未找到该农户")
    return _reveal(user, [h])[0]


def _refuse_foreign_write(user, household_id: int) -> None:
    """A write aimed at an existing household of the same county but outside the caller's scope is
    forbidden (403); one of another county stays not found, so its existence is not revealed."""
    if db.session.scalar(sa.select(Household.id).where(Household.id == household_id,
                                                       Household.county_code == user.county_code)):
        raise Forbidden("超出您的管辖范围", code="out_of_scope")


def check_version(h: Household, version: int | None) -> None:
    """Optimistic locking: the client says which version it edited; a stale one loses with 409."""
    if version is not None and version != h.version:
        raise Conflict("该农户信息已被他人修改，请刷新后重试",
                       {"version": [f"当前版本为 {h.version}"]}, code="version_conflict")


# --- validation --------------------------------------------------------------------------------

def _village(user, code: str) -> tuple[Place | None, str | None]:
    """The village a household may belong to, or why not (a live village of the user's county)."""
    place = db.session.scalar(sa.select(Place).where(Place.code == code))
    if place is None or place.county_code != user.county_code or place.level != "village":
        return None, "未找到本县的该村"
    if place.valid_to is not None:
        return None, f"该村已撤销，承继区划为 {place.successor_code}" if place.successor_code else "该村已撤销"
    return place, None


def _codes(village: Place) -> dict:
    return {"county_code": village.county_code, "town_code": village.town_code, "village_code": village.code}


def _normalise(data: dict) -> dict:
    """Trim text; ID numbers upper-case (a typed 'x' check character means 'X'); card without spaces."""
    out = dict(data)
    for key in ("number", "head_name", "village_code"):
        if isinstance(out.get(key), str):
            out[key] = out[key].strip()
    if out.get("head_id_number"):
        out["head_id_number"] = out["head_id_number"].strip().upper()
    if "phone" in out:
        out["phone"] = (out["phone"] or "").strip() or None
    if "bank_card" in out:
        out["bank_card"] = re.sub(r"\s+", "", out["bank_card"] or "") or None
    if "members" in out:
        out["members"] = [
            {"name": m["name"].strip(), "relation": m["relation"].strip(),
             "id_number": (m.get("id_number") or "").strip().upper() or None, "labour": m["labour"]}
            for m in out["members"]
        ]
    return out


def _add(errors: dict, field: str, why: str) -> None:
    errors.setdefault(field, []).append(why)


def _field_errors(state: dict, keys) -> dict:
    """Format checks of the fields in ``keys`` (the ones the client sent)."""
    errors: dict = {}
    for key, label in (("number", "户编号"), ("head_name", "户主姓名")):
        if key in keys and not state[key]:
            _add(errors, key, f"{label}不能为空")
    if "head_id_number" in keys and not is_valid_id_number(state["head_id_number"]):
        _add(errors, "head_id_number", "身份证号无效：应为18位，出生日期与校验位正确")
    phone = state.get("phone")
    if "phone" in keys and phone and not (_MOBILE_RE.fullmatch(phone) or _LANDLINE_RE.fullmatch(phone)):
        _add(errors, "phone", "应为以1开头的11位手机号，或由数字和“-”组成的固定电话")
    card = state.get("bank_card")
    if "bank_card" in keys and card and not _CARD_RE.fullmatch(card):
        _add(errors, "bank_card", "银行卡号应为12至19位数字")
    if "members" in keys:
        seen: dict[str, int] = {}
        for i, m in enumerate(state["members"]):
            if not m["name"]:
                _add(errors, f"members.{i}.name", "姓名不能为空")
            if not m["relation"]:
                _add(errors, f"members.{i}.relation", "与户主关系不能为空")
            idn = m["id_number"]
            if idn is None:
                continue
            if not is_valid_id_number(idn):
                _add(errors, f"members.{i}.id_number", "身份证号无效：应为18位，出生日期与校验位正确")
            elif idn in seen:
                _add(errors, f"members.{i}.id_number", f"与第{seen[idn] + 1}名成员的身份证号重复")
            else:
                seen[idn] = i
    return errors


def _rule_errors(state: dict) -> dict:
    """Cross-field rules on the whole (merged) household."""
    errors: dict = {}
    if state["status"] == "monitored":
        # 监测户 carry their monitoring type (seed 003 §三) and whether/when the risk was cleared.
        if not state.get("monitor_type"):
            _add(errors, "monitor_type", "监测户应填写监测类型")
        cleared_on = state.get("risk_cleared_on")
        if state.get("is_risk_cleared") and cleared_on is None:
            _add(errors, "risk_cleared_on", "风险已消除的，应填写消除日期")
        elif not state.get("is_risk_cleared") and cleared_on is not None:
            _add(errors, "risk_cleared_on", "风险未消除的，不填消除日期")
        elif cleared_on is not None and cleared_on > today_local():
            _add(errors, "risk_cleared_on", "不能是将来的日期")
    else:
        if state.get("monitor_type"):
            _add(errors, "monitor_type", "只有监测户填写监测类型")
        if state.get("is_risk_cleared"):
            _add(errors, "is_risk_cleared", "只有监测户填写风险消除情况")
        if state.get("risk_cleared_on") is not None:
            _add(errors, "risk_cleared_on", "只有监测户填写风险消除日期")
    heads = [i for i, m in enumerate(state["members"]) if m["relation"] == HEAD_RELATION]
    if len(heads) != 1:
        _add(errors, "members", f"应有且只有一名成员的与户主关系为“{HEAD_RELATION}”")
    else:
        i = heads[0]
        idn = state["members"][i]["id_number"]
        if idn is not None and idn != state["head_id_number"]:
            _add(errors, f"members.{i}.id_number", "户主本人的身份证号应与户主身份证号一致")
    return errors


def _merge(*parts: dict) -> dict:
    out: dict = {}
    for part in parts:
        for key, whys in part.items():
            out.setdefault(key, []).extend(whys)
    return out


def _check_unique_number(county_code: str, number: str, exclude_id: int | None = None) -> None:
    q = sa.select(Household.id).where(Household.county_code == county_code, Household.number == number)
    if exclude_id is not None:
        q = q.where(Household.id != exclude_id)
    if db.session.scalar(q) is not None:
        raise Conflict("户编号已存在", {"number": ["本县已有相同户编号的农户"]}, code="duplicate_number")


# --- state and log -----------------------------------------------------------------------------

def _member_dict(m: HouseholdMember) -> dict:
    return {"name": m.name, "relation": m.relation, "id_number": m.id_number, "labour": m.labour}


def _state(h: Household) -> dict:
    """The editable facts of a household, unmasked, to merge a PATCH into and compare."""
    state = {key: getattr(h, key) for key in _EDITABLE}
    state["members"] = [_member_dict(m) for m in h.members]
    return state


def _log_snapshot(h: Household) -> dict:
    """The change-log view: county admins read the log too, so personal numbers go in masked."""
    data = snapshot(h)
    data["head_id_number"] = mask_id_number(data["head_id_number"])
    data["bank_card"] = mask_card_number(data["bank_card"])
    data["phone"] = mask_mobile(data["phone"])
    data["members"] = [{**_member_dict(m), "id_number": mask_id_number(m.id_number)} for m in h.members]
    return data


def _members(county_code: str, members: list[dict]) -> list[HouseholdMember]:
    return [HouseholdMember(county_code=county_code, **m) for m in members]


# --- writes ------------------------------------------------------------------------------------

def create_household(user, data: dict) -> Household:
    require_write(user, "households")  # role first: auditors never write, whatever they send
    data = _normalise(data)
    village, why = _village(user, data["village_code"])
    if village is not None:
        require_write(user, "households", **_codes(village))
    state = {"phone": None, "monitor_type": None, "is_risk_cleared": False, "risk_cleared_on": None,
             "bank_card": None, **data}
    errors = _merge({"village_code": [why]} if why else {}, _field_errors(state, data.keys()),
                    _rule_errors(state))
    if errors:
        raise RuleViolation("农户信息有误，请检查标出的字段", errors)
    _check_unique_number(village.county_code, state["number"])
    h = Household(**_codes(village), **{k: state[k] for k in _EDITABLE if k != "village_code"})
    h.members = _members(village.county_code, state["members"])
    db.session.add(h)
    db.session.flush()
    record_change(user, entity="household", entity_id=h.id, action="create", county_code=h.county_code,
                  town_code=h.town_code, village_code=h.village_code, after=_log_snapshot(h))
    return _reveal(user, [h])[0]


def update_household(user, household_id: int, data: dict, *, if_match: int | None = None) -> Household:
    """Change what the client sent; ``members``, when sent, replace the whole list."""
    require_write(user, "households")
    h = get_household(user, household_id, for_update=True)
    require_write(user, "households", county_code=h.county_code, town_code=h.town_code,
                  village_code=h.village_code)
    data = dict(data)
    version = data.pop("version", None) or if_match
    check_version(h, version)
    data = _normalise(data)
    current = _state(h)
    state = {**current, **data}
    if state["status"] != "monitored":
        # Leaving monitoring clears its details unless the client sent them (then they are checked).
        state.update({k: v for k, v in (("monitor_type", None), ("is_risk_cleared", False),
                                        ("risk_cleared_on", None)) if k not in data})
    village = None
    errors: dict = {}
    if state["village_code"] != h.village_code:
        village, why = _village(user, state["village_code"])
        if village is None:
            errors["village_code"] = [why]
        else:  # moving a household needs the new village in scope as well
            require_write(user, "households", **_codes(village))
    errors = _merge(errors, _field_errors(state, data.keys()), _rule_errors(state))
    if errors:
        raise RuleViolation("农户信息有误，请检查标出的字段", errors)
    if state == current:
        return h  # nothing changes: no new version, no log entry
    if state["number"] != h.number:
        _check_unique_number(h.county_code, state["number"], exclude_id=h.id)
    before = _log_snapshot(h)
    for key in _EDITABLE:
        if key != "village_code":
            setattr(h, key, state[key])
    if village is not None:
        _move(user, h, village)
    if state["members"] != current["members"]:
        h.members = _members(h.county_code, state["members"])
    # Always touch the row, so version_id_col moves on even when only members changed.
    h.updated_at = now_utc()
    db.session.flush()
    record_change(user, entity="household", entity_id=h.id, action="update", county_code=h.county_code,
                  town_code=h.town_code, village_code=h.village_code, before=before, after=_log_snapshot(h))
    return h


def _move(user, h: Household, village: Place) -> None:
    """Move a household to another village; the areas holding its rows follow (its household assets
    (到户类), basis: P11) through ``household_moved``."""
    h.village_code, h.town_code = village.code, village.town_code
    household_moved.send(None, user=user, household=h, village=village)


@place_withdrawn.connect
def _households_follow_withdrawn_village(_sender, *, user, old, new, **_kw) -> dict[str, int]:
    """A withdrawn village's households pass to its successor, each with its change log."""
    rows = db.session.scalars(sa.select(Household).where(Household.county_code == old.county_code,
                                                         Household.village_code == old.code)).all()
    for h in rows:
        h.village_code, h.town_code = new.code, new.town_code
        record_change(user, entity="household", entity_id=h.id, action="move_with_place",
                      county_code=h.county_code, town_code=h.town_code, village_code=h.village_code,
                      before={"village_code": old.code, "town_code": old.town_code},
                      after={"village_code": new.code, "town_code": new.town_code})
    return {"households": len(rows)}
