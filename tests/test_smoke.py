async def test_health(anon):
    status, body = await anon.get("/v1/health")
    assert status == 200
    assert body["status"] == "operational"
