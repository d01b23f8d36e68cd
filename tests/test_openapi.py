"""The OpenAPI document is generated from the schemas and is a valid OpenAPI 3 document."""

from openapi_spec_validator import validate


def test_openapi_document_validates(world):
    r = world.auditor.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.json
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = spec["paths"]
    for path in ["/api/v1/assets", "/api/v1/assets/{asset_id}", "/api/v1/assets/{asset_id}/transitions",
                 "/api/v1/places", "/api/v1/changes", "/api/v1/households"]:
        assert path in paths, path
    create = spec["components"]["schemas"]["AssetCreate"]
    assert create["properties"]["original_value"]["type"] == "string"
    assert "fundings" in create["required"]


def test_openapi_needs_login(client, world):
    assert client.get("/api/v1/openapi.json").status_code == 401


def _properties(node, path=""):
    """Every (path, property schema) of the document's schemas, however deeply nested."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}", prop
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _properties(value, f"{path}[{i}]")


def test_no_decimal_is_documented_as_a_number(world):
    """Decimals travel as strings (money and the rest: quantities, rates, shares, weights): the document
    says so, with the pattern the strings follow, and calls nothing a JSON number."""
    import re

    spec = world.auditor.get("/api/v1/openapi.json").json
    props = list(_properties(spec))
    numbers = sorted(path for path, prop in props if prop.get("type") == "number")
    assert not numbers, f"{len(numbers)} properties documented as number: {numbers}"
    decimals = [(path, prop) for path, prop in props if prop.get("format") == "decimal"]
    assert len(decimals) > 100
    unpatterned = sorted(path for path, prop in decimals if prop.get("type") != "string" or "pattern" not in prop)
    assert not unpatterned, f"{len(unpatterned)} decimal strings without a pattern: {unpatterned}"
    by_name = {path.rsplit("/", 1)[-1]: prop for path, prop in decimals}
    assert re.fullmatch(by_name["Asset.quantity"]["pattern"], "120.500")
    assert not re.fullmatch(by_name["Asset.quantity"]["pattern"], "1.2345")
    assert re.fullmatch(by_name["AssetShare.weight"]["pattern"], "60.0000")
    assert re.fullmatch(by_name["Settlement.net"]["pattern"], "-12.30")
    assert not re.fullmatch(by_name["Settlement.net"]["pattern"], "1e3")


def test_every_decimal_field_is_the_one_decimal_field_class():
    """One field class for a decimal that is not money (core/fields.py ``DecimalString``), one for money
    (``MoneyField``): no schema declares marshmallow's own Decimal or Float, which document a number."""
    import marshmallow as ma

    import assetreg.models  # noqa: F401  (every area's schemas, through its models and API)
    from assetreg import create_app  # noqa: F401
    from assetreg.core.fields import DecimalString

    def schemas(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from schemas(sub)

    found = []
    for schema in set(schemas(ma.Schema)):
        if not schema.__module__.startswith("assetreg."):
            continue
        for name, fld in schema._declared_fields.items():
            inner = [fld, getattr(fld, "inner", None), getattr(fld, "value_field", None)]
            for x in inner:
                if isinstance(x, (ma.fields.Decimal, ma.fields.Float)) and not isinstance(x, DecimalString):
                    found.append(f"{schema.__module__}.{schema.__name__}.{name}")
    assert not found, found
