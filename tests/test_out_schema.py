"""OutSchema (core/fields.py): its planned dump gives exactly marshmallow's own result — every kind of
field, dicts and objects, absent values, masked text, nested rows — for the asset schemas on real assets
(fundings, rights), and the asset list's rows equal the asset detail's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import marshmallow as ma
import pytest
from marshmallow import fields
from marshmallow.utils import get_value

from assetreg.assets import schemas as asset_schemas
from assetreg.assets.services import get_asset
from assetreg.core.fields import DecimalString, MoneyField, OutSchema, PersonalText, page_schema


def marshmallow_dump(schema_class, obj, *, many=False, monkeypatch):
    """The same schema dumped by marshmallow's own path (every OutSchema's plan switched off)."""
    with monkeypatch.context() as m:
        m.setattr(OutSchema, "_make_plan", lambda self: False)
        return schema_class(many=many).dump(obj)


class Line(OutSchema):
    source = fields.String()
    amount = MoneyField()
    label = fields.Function(lambda o: "L-" + get_value(o, "source"))


class Everything(OutSchema):
    id = fields.Integer()
    name = fields.String()
    title = fields.String(attribute="label", data_key="heading")
    flag = fields.Boolean()
    amount = MoneyField()
    share = DecimalString(4)
    on = fields.Date(allow_none=True)
    at = fields.DateTime()
    note = PersonalText(allow_none=True)
    first = fields.Nested(Line, allow_none=True)
    lines = fields.List(fields.Nested(Line))
    tags = fields.List(fields.String())
    raw = fields.Raw()
    shout = fields.Function(lambda o: get_value(o, "name").upper())
    absent = fields.String()
    first_source = fields.String(attribute="first.source")


def _objects():
    line = SimpleNamespace(source="fiscal_link", amount=Decimal("12.5"))
    full = SimpleNamespace(
        id=7, name="桃源村光伏电站", label="标题", flag=1, amount=Decimal("1234.5"), share=Decimal("0.0500"), on=date(2020, 6, 30),
        at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), note="联系 13812345678，身份证 110101199003074514",
        first=line, lines=[line, SimpleNamespace(source="other", amount=0)], tags=["a", 1], raw={"k": [1]})
    empty = SimpleNamespace(id="8", name="", label=b"bytes", flag=None, amount=None, share=None, on=None,
                            at=datetime(2025, 1, 2, tzinfo=UTC), note=None, first=None, lines=[], tags=None, raw=None)
    revealed = SimpleNamespace(**{**vars(full), "reveal_personal": True})
    as_dict = {**vars(full), "lines": [vars(x) for x in full.lines], "first": None}
    return [full, empty, revealed, as_dict, Keyed(**vars(full))]


class Keyed(SimpleNamespace):
    """An object with ``__getitem__`` (like a result row): marshmallow tries the key, then the attribute."""

    def __getitem__(self, key):
        if key == "name":
            return "by key"
        raise KeyError(key)


@pytest.mark.parametrize("index", range(5))
def test_every_kind_of_field_dumps_as_marshmallow_does(index, monkeypatch):
    obj = _objects()[index]
    ours = Everything().dump(obj)
    assert ours == marshmallow_dump(Everything, obj, monkeypatch=monkeypatch)
    assert "absent" not in ours and "heading" in ours  # absent values are left out, data keys kept
    if index == 0:
        assert ours["amount"] == "1234.50" and ours["share"] == "0.0500" and ours["on"] == "2020-06-30"
        assert "13812345678" not in ours["note"]  # masked unless the object says otherwise
        assert ours["lines"][1] == {"source": "other", "amount": "0.00", "label": "L-other"}
        assert ours["first_source"] == "fiscal_link"  # a dotted attribute
    if index == 4:
        assert ours["name"] == "by key" and ours["id"] == 7  # the key first, then the attribute


def test_many_and_the_page_envelope(monkeypatch):
    objs = _objects()[:2]
    assert Everything(many=True).dump(objs) == marshmallow_dump(Everything, objs, many=True, monkeypatch=monkeypatch)
    page = page_schema(Everything, "EverythingPage")
    assert issubclass(page, OutSchema)
    body = {"items": objs, "page": 1, "per_page": 50, "total": 2}
    assert page().dump(body) == marshmallow_dump(page, body, monkeypatch=monkeypatch)


def test_a_schema_with_dump_hooks_keeps_marshmallow_s_path():
    class Hooked(OutSchema):
        name = fields.String()

        @ma.post_dump
        def shout(self, data, **_kw):
            return {**data, "name": data["name"].upper()}

    assert Hooked().dump(SimpleNamespace(name="x")) == {"name": "X"}
    assert Hooked()._dump_plan() is False


def test_asset_schemas_dump_real_assets_as_marshmallow_does(world, f, monkeypatch):
    f.asset(original_value="1500.50", fundings=[{"source": "fiscal_link", "amount": Decimal("1000.25")},
                                                {"source": "east_west", "amount": Decimal("500.25")}],
            quantity=Decimal("12.5"), unit="千瓦", note="说明")
    household = f.household()
    f.asset(category="household", subtype="牲畜", managing_level="household", household_id=household.id,
            original_value="3000.00", completed_on=None)
    user = world.admin.user
    listed = world.admin.get("/api/v1/assets?per_page=500").json["items"]
    assert len(listed) == 2
    for item in listed:
        asset = get_asset(user, item["id"])
        assert asset_schemas.Asset().dump(asset) == marshmallow_dump(asset_schemas.Asset, asset, monkeypatch=monkeypatch)
        # the list reads plain rows, the detail an ORM object: the same JSON
        assert item == world.admin.get(f"/api/v1/assets/{item['id']}").json
    by_code = {x["category"]: x for x in listed}
    assert [line["amount"] for line in by_code["operating"]["fundings"]] == ["1000.25", "500.25"]
    assert by_code["operating"]["quantity"] == "12.500"
    assert by_code["household"]["is_rights_complete"] is True  # 到户类: the household holds all five rights
    assert by_code["operating"]["is_rights_complete"] is False
