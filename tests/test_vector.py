"""Vector memory (/v1/vector/…) through the real stack: gateway → memory service → embedder service (the real
local all-MiniLM-L6-v2) → pgvector. Shapes follow MoltGrid 1.0 (shared/contract/v1)."""

from __future__ import annotations

import asyncio

import nats
import pytest

from shared.crypto import PREFIX
from shared.purge import request_agent_purge
from tests.helpers import until
from tests.memory_ops import memory_op

ISO_UTC = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$"

DOCS = {
    "pets": "Our dog needs a walk twice a day and gets fed every evening.",
    "finance": "Quarterly revenue grew by twelve percent thanks to strong sales in Europe.",
    "weather": "Heavy rain and thunderstorms are expected across the region tomorrow.",
    "cooking": "Simmer the tomato sauce slowly with garlic and fresh basil.",
    "travel": "The night train to Vienna leaves from platform nine at ten o'clock.",
}


async def _upsert_docs(agent, namespace: str = "default") -> None:
    for key, text in DOCS.items():
        status, body = await agent.post(
            "/v1/vector/upsert",
            {"key": key, "text": text, "namespace": namespace, "metadata": {"topic": key, "n": len(text)}},
        )
        assert (status, body) == (
            200,
            {"key": key, "namespace": namespace, "dimensions": 384, "status": "upserted"},
        ), body


async def test_semantic_search_ranks_the_paraphrase_first(alice):
    """The real local embedder: queries sharing almost no words with their answer still find it."""
    await _upsert_docs(alice)
    for query, want in [
        ("Is it going to storm soon?", "weather"),
        ("How much did the company earn this quarter?", "finance"),
        ("when should I take my puppy outside", "pets"),
        ("railway departure time to Austria", "travel"),
    ]:
        status, body = await alice.post("/v1/vector/search", {"query": query, "limit": 3})
        assert status == 200, body
        # min_similarity defaults to 0.0: entries pointing away from the query (negative cosine) are left out
        assert body["scoring"] == "cosine" and 1 <= body["count"] == len(body["results"]) <= 3
        assert all(r["similarity"] >= 0.0 for r in body["results"])
        top = body["results"][0]
        assert top["key"] == want, (query, body["results"])
        assert top["text"] == DOCS[want] and top["metadata"] == {"topic": want, "n": len(DOCS[want])}
        assert top["score"] == top["similarity"] and 0.2 < top["similarity"] <= 1.0
        similarities = [r["similarity"] for r in body["results"]]
        assert similarities == sorted(similarities, reverse=True)
        assert set(top) == {"key", "text", "score", "similarity", "metadata"}


async def test_upsert_get_list_delete(alice):
    status, body = await alice.post(
        "/v1/vector/upsert", {"key": "doc1", "text": "the cat sat on the mat", "metadata": {"t": 1}}
    )
    assert (status, body) == (
        200,
        {"key": "doc1", "namespace": "default", "dimensions": 384, "status": "upserted"},
    )
    status, first = await alice.get("/v1/vector/doc1")
    assert status == 200 and first["text"] == "the cat sat on the mat" and first["metadata"] == {"t": 1}
    assert first["key"] == "doc1" and first["namespace"] == "default"
    assert first["created_at"] == first["updated_at"]
    await alice.post("/v1/vector/upsert", {"key": "doc2", "text": "stock markets fell sharply today"})
    # an upsert of an existing key replaces text, metadata and vector; created_at stays
    await alice.post(
        "/v1/vector/upsert", {"key": "doc1", "text": "a kitten naps on a rug", "metadata": [1, "x"]}
    )
    status, again = await alice.get("/v1/vector/doc1")
    assert (again["text"], again["metadata"], again["created_at"]) == (
        "a kitten naps on a rug",
        [1, "x"],
        first["created_at"],
    )
    assert again["updated_at"] > first["updated_at"]
    status, hits = await alice.post("/v1/vector/search", {"query": "a young cat sleeping", "limit": 1})
    assert [r["key"] for r in hits["results"]] == ["doc1"]

    status, listing = await alice.get("/v1/vector")
    assert status == 200 and listing["namespace"] == "default" and listing["count"] == 2
    assert [k["key"] for k in listing["keys"]] == ["doc2", "doc1"]  # newest first, as 1.0
    assert set(listing["keys"][0]) == {"key", "created_at"}
    assert (await alice.get("/v1/vector", params={"limit": 1}))[1]["count"] == 1

    assert await alice.delete("/v1/vector/doc2") == (
        200,
        {"status": "deleted", "key": "doc2", "namespace": "default"},
    )
    assert await alice.delete("/v1/vector/doc2") == (404, {"detail": "Vector entry not found"})
    assert await alice.get("/v1/vector/doc2") == (404, {"detail": "Vector entry not found"})
    status, hits = await alice.post("/v1/vector/search", {"query": "stock markets fell sharply today"})
    assert [r["key"] for r in hits["results"]] == ["doc1"]


async def test_namespaces_are_separate(alice):
    await alice.post("/v1/vector/upsert", {"key": "k", "text": "apples and pears", "namespace": "fruit"})
    await alice.post("/v1/vector/upsert", {"key": "k", "text": "hammers and nails", "namespace": "tools"})
    assert (await alice.get("/v1/vector/k", params={"namespace": "fruit"}))[1]["text"] == "apples and pears"
    assert (await alice.get("/v1/vector/k", params={"namespace": "tools"}))[1]["text"] == "hammers and nails"
    assert (await alice.get("/v1/vector/k"))[0] == 404
    _status, body = await alice.post("/v1/vector/search", {"query": "apples", "namespace": "tools"})
    assert [r["text"] for r in body["results"]] == ["hammers and nails"]
    assert (await alice.get("/v1/vector", params={"namespace": "fruit"}))[1]["count"] == 1
    assert (await alice.post("/v1/vector/search", {"query": "anything", "namespace": "empty"}))[1] == {
        "results": [],
        "count": 0,
        "scoring": "cosine",
    }


async def test_min_similarity_metadata_filter_and_composite_scoring(alice):
    await _upsert_docs(alice, "filters")
    ns = {"namespace": "filters"}
    status, body = await alice.post(
        "/v1/vector/search", {"query": "thunderstorm warning", "limit": 5, "min_similarity": 0.3, **ns}
    )
    assert status == 200 and body["count"] >= 1 and all(r["similarity"] >= 0.3 for r in body["results"])
    assert body["results"][0]["key"] == "weather" and body["count"] < 5
    # metadata filters: only entries whose metadata has the field with that value, however far they rank
    status, body = await alice.post(
        "/v1/vector/search",
        {"query": "thunderstorm warning", "limit": 5, "metadata_filter": {"topic": "cooking"}, **ns},
    )
    assert [r["key"] for r in body["results"]] == ["cooking"]
    status, body = await alice.post(
        "/v1/vector/search", {"query": "x", "metadata_filter": {"topic": "none"}, **ns}
    )
    assert body["count"] == 0
    # composite: 0.4·recency + 0.2·importance + 0.4·cosine (fresh entries: recency ≈ 1)
    await alice.post(
        "/v1/vector/upsert",
        {"key": "vip", "text": "Bake bread at a high temperature.", "importance": 1.0, **ns},
    )
    status, body = await alice.post(
        "/v1/vector/search", {"query": "sauce recipe with basil", "limit": 3, "scoring": "composite", **ns}
    )
    assert status == 200 and body["scoring"] == "composite" and body["count"] == 3
    for r in body["results"]:
        importance = 1.0 if r["key"] == "vip" else 0.5
        assert r["score"] == pytest.approx(0.4 + 0.2 * importance + 0.4 * r["similarity"], abs=1e-3)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert (await alice.post("/v1/vector/search", {"query": "x", "scoring": "magic"}))[0] == 422


async def test_top_k_and_min_score_are_aliases_of_limit_and_min_similarity(alice):
    """1.0's clients also send `top_k` and `min_score`; `limit` and `min_similarity` win when both are sent."""
    await _upsert_docs(alice, "aliases")
    ns = {"namespace": "aliases", "query": "thunderstorm warning"}

    async def keys(**body) -> list[str]:
        status, answer = await alice.post("/v1/vector/search", {**ns, **body})
        assert status == 200, answer
        return [r["key"] for r in answer["results"]]

    assert len(await keys(top_k=1)) == 1 and len(await keys(top_k=2)) == 2
    assert await keys(top_k=2) == await keys(limit=2)
    assert len(await keys(limit=1, top_k=3)) == 1
    strict = await keys(min_similarity=0.3, limit=5)
    assert strict[0] == "weather" and len(strict) < 5
    assert await keys(min_score=0.3, limit=5) == strict
    assert await keys(min_similarity=0.0, min_score=0.3, limit=5) == await keys(limit=5)


@pytest.mark.parametrize(
    "route, body, loc",
    [
        ("/v1/vector/upsert", {"text": "no key"}, ["key"]),
        ("/v1/vector/upsert", {"key": "k"}, ["text"]),
        ("/v1/vector/upsert", {"key": "k", "text": ""}, ["text"]),
        ("/v1/vector/upsert", {"key": "k", "text": "x" * 10_001}, ["text"]),
        ("/v1/vector/upsert", {"key": "k" * 257, "text": "x"}, ["key"]),
        ("/v1/vector/upsert", {"key": "k", "text": "x", "importance": 1.5}, ["importance"]),
        ("/v1/vector/upsert", {"key": "k", "text": "x", "namespace": "../etc"}, ["namespace"]),
        ("/v1/vector/upsert", {"key": "k", "text": "x", "metadata": {"big": "y" * 10_001}}, ["metadata"]),
        ("/v1/vector/search", {}, ["query"]),
        ("/v1/vector/search", {"query": "q", "limit": 101}, ["limit"]),
        ("/v1/vector/search", {"query": "q", "limit": 0}, ["limit"]),
        ("/v1/vector/search", {"query": "q", "top_k": 0}, ["top_k"]),
        ("/v1/vector/search", {"query": "q", "top_k": 101}, ["top_k"]),
        ("/v1/vector/search", {"query": "q", "min_score": 1.5}, ["min_score"]),
        ("/v1/vector/search", {"query": "q", "min_similarity": 1.5}, ["min_similarity"]),
    ],
)
async def test_bad_input_is_422_and_stores_nothing(alice, route, body, loc):
    status, reply = await alice.post(route, body)
    assert status == 422, reply
    assert any(d["loc"][-len(loc) :] == loc for d in reply["detail"]), reply
    assert (await alice.get("/v1/vector"))[1]["count"] == 0


async def test_list_limit_bounds(alice):
    assert (await alice.get("/v1/vector", params={"limit": 1001}))[0] == 422
    assert (await alice.get("/v1/vector", params={"limit": 0}))[0] == 422
    assert (await alice.get("/v1/vector", params={"limit": 1000}))[0] == 200


async def test_text_and_metadata_are_encrypted_at_rest(alice, db):
    await alice.post(
        "/v1/vector/upsert",
        {"key": "secret", "text": "the launch code is 0000", "metadata": {"owner": "alice-private"}},
    )
    row = await db.fetchrow(
        "SELECT text, metadata, vector_dims(embedding) AS dims FROM memory.vectors"
        " WHERE agent_id = $1 AND key = 'secret'",
        alice.agent_id,
    )
    assert row["text"].startswith(PREFIX) and "launch" not in row["text"]
    assert row["metadata"].startswith(PREFIX) and "alice-private" not in row["metadata"]
    assert row["dims"] == 384  # the vector itself is stored in clear (see docs/embeddings.md)
    _status, body = await alice.get("/v1/vector/secret")
    assert (body["text"], body["metadata"]) == ("the launch code is 0000", {"owner": "alice-private"})


async def test_agents_never_see_each_others_vectors(alice, bob):
    await alice.post("/v1/vector/upsert", {"key": "mine", "text": "Alice's private diary about sailing"})
    await bob.post("/v1/vector/upsert", {"key": "other", "text": "Bob likes boats"})
    status, body = await bob.post("/v1/vector/search", {"query": "sailing diary", "limit": 100})
    assert status == 200 and [r["key"] for r in body["results"]] == ["other"]
    assert (await bob.get("/v1/vector/mine"))[0] == 404
    assert (await bob.get("/v1/vector"))[1]["count"] == 1
    # the same key in the same namespace is each agent's own record
    await bob.post("/v1/vector/upsert", {"key": "mine", "text": "Bob's copy"})
    assert (await alice.get("/v1/vector/mine"))[1]["text"] == "Alice's private diary about sailing"


async def test_vectors_are_purged_with_their_agent(register, stack):
    agent = await register("vector-purge")
    await agent.post("/v1/vector/upsert", {"key": "k", "text": "to be forgotten"})
    assert (await agent.get("/v1/vector"))[1]["count"] == 1
    nc = await nats.connect(stack.infra.nats_url)
    try:
        await request_agent_purge(nc.jetstream(), agent.agent_id)
    finally:
        await nc.close()

    async def gone() -> bool:  # asked over NATS as the agent: the purge may also have removed its key
        return (await memory_op(stack, "vector_list", {}, agent_id=agent.agent_id))["count"] == 0

    await until("the agent's vectors purged", gone)


async def test_concurrent_upserts_of_one_key_leave_one_row(alice):
    replies = await asyncio.gather(
        *(alice.post("/v1/vector/upsert", {"key": "race", "text": f"version {i}"}) for i in range(8))
    )
    assert {s for s, _ in replies} == {200}
    assert [k["key"] for k in (await alice.get("/v1/vector"))[1]["keys"]] == ["race"]
    assert (await alice.get("/v1/vector/race"))[1]["text"].startswith("version ")


async def test_embedder_down_is_503_and_stores_nothing(alice, stack):
    """No embedder replica answering: the write is refused with 503 (retryable), never half-stored."""
    stack.stop_component("embedder")
    try:
        status, body = await alice.post(
            "/v1/vector/upsert", {"key": "k", "text": "while the embedder is down"}
        )
        assert (status, body) == (503, {"detail": "Service unavailable"})
        assert (await alice.post("/v1/vector/search", {"query": "anything"}))[0] == 503
        assert (await alice.get("/v1/vector"))[1]["count"] == 0  # reads need no embedding
    finally:
        stack.start_component("embedder")
        await stack.wait_ready()
    assert (await alice.get("/v1/vector"))[1]["count"] == 0
    assert (await alice.post("/v1/vector/upsert", {"key": "k", "text": "after it is back"}))[0] == 200
