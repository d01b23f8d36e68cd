"""No endpoint answers 500: malformed JSON, wrong types, huge strings, unknown fields, odd paths.

Walks every operation of the generated OpenAPI document, so new endpoints are covered as they come."""

import re

import pytest

BAD_VALUES = [None, True, -1, 10**30, 1.5, "", "x" * 100_000, "\x00", "🙂" * 50, [], {}, [1, 2], {"a": 1},
              "2020-02-30", "NaN", "1e400", "-0.001", "' OR 1=1 --"]


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, op


def _fill(path, value="1"):
    return re.sub(r"\{[^}]+\}", value, path)


def _body_properties(spec, op):
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref")
    if not ref:
        return None
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]].get("properties", {})


@pytest.fixture
def spec(world):
    return world.admin.get("/api/v1/openapi.json").json


def test_no_500_on_malformed_bodies(world, f, spec):
    f.asset()  # so /assets/1 exists and write paths reach validation
    clients = [world.admin, world.fin_a, world.vc_a1, world.auditor]
    for path, method, op in _operations(spec):
        url = _fill(path)
        props = _body_properties(spec, op)
        for c in clients:
            if props is None:
                r = c.open(method.upper(), url + "?page=-1&per_page=x&as_of=notadate&year=99999999999&q=" + "x" * 5000)
                assert r.status_code < 500, (method, url, r.status_code, r.data[:300])
                continue
            for raw in [b"{", b"[]", b"null", b"\xff\xfe", b'{"a": ' * 50, b"1" * 10000]:
                r = c.open(method.upper(), url, data=raw, headers={"Content-Type": "application/json"})
                assert r.status_code in (400, 401, 403, 404, 409, 415, 422), (method, url, raw[:20], r.status_code)
            r = c.open(method.upper(), url, json={"no_such_field": 1})
            assert r.status_code < 500, (method, url, r.status_code)
        for name in props or {}:
            for bad in BAD_VALUES:
                r = world.admin.open(method.upper(), url, json={name: bad})
                assert r.status_code < 500, (method, url, name, repr(bad)[:40], r.status_code, r.data[:300])


def test_odd_paths_and_methods(world):
    for url in ["/api/v1/assets/999999999999999999999", "/api/v1/assets/-1", "/api/v1/nothing",
                "/api/v1/places/" + "9" * 5000, "/api/v1/assets/abc/rights"]:
        r = world.admin.get(url)
        assert r.status_code in (404, 405), (url, r.status_code)
        assert "error" in r.json
    r = world.admin.open("DELETE", "/api/v1/assets")
    assert r.status_code == 405 and r.json["error"]["code"] == "method_not_allowed"
    r = world.admin.get("/api/v1/assets", headers={"Authorization": "Bearer " + "x" * 10000})
    assert r.status_code < 500
