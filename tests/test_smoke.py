def test_me(world):
    r = world.fin_a.get("/api/v1/me")
    assert r.status_code == 200
    assert r.json["role"] == "finance_officer"


def test_create_and_list_asset(world, f):
    a = f.asset()
    r = world.vc_a1.get("/api/v1/assets")
    assert r.status_code == 200, r.json
    assert [x["id"] for x in r.json["items"]] == [a.id]
    assert world.vc_b1.get(f"/api/v1/assets/{a.id}").status_code == 404
