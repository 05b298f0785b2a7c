"""The generated OpenAPI document and Swagger UI."""

from __future__ import annotations

from gateway.routes import ADMIN_ROUTES, ROUTES


async def test_openapi_covers_every_route_with_real_schemas(anon):
    status, doc = await anon.get("/openapi.json")
    assert status == 200 and doc["openapi"] == "3.1.0"
    for route in (*ROUTES, *ADMIN_ROUTES):
        assert route.method.lower() in doc["paths"][route.path], route
    mem_set = doc["paths"]["/v1/memory"]["post"]
    body = mem_set["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["value"]["maxLength"] == 50_000 and set(body["required"]) == {"key", "value"}
    assert mem_set["security"] == [{"ApiKeyAuth": []}]
    assert mem_set["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "HTTPValidationError"
    )
    get = doc["paths"]["/v1/memory/{key}"]["get"]
    assert {(p["name"], p["in"]) for p in get["parameters"]} == {("key", "path"), ("namespace", "query")}
    assert "security" not in doc["paths"]["/v1/register"]["post"]
    assert doc["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


async def test_swagger_ui_is_served_offline(anon):
    status, body, _headers = await anon.request("GET", "/docs")
    assert status == 200 and b"/openapi.json" in body
    status, body, _ = await anon.request("GET", "/docs/static/swagger-ui-bundle.js")
    assert status == 200 and len(body) > 100_000
