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
