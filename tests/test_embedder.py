"""The embedder: the local numpy all-MiniLM-L6-v2 against sentence-transformers' own vectors, the remote
backend against a real OpenAI-compatible HTTP server on loopback, and the service (NATS, micro-batching)
in the running stack."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import nats
import numpy as np
import pytest
from aiohttp import web

from services.embedder.backends import LocalBackend, RemoteBackend
from services.embedder.batching import MicroBatcher
from services.embedder.minilm import DIMENSIONS, MiniLM, erf
from shared.bus import call
from shared.errors import Unavailable
from shared.runtime.embedded import free_port
from shared.subjects import svc
from tests.helpers import LoopbackServer, until

FIXTURE = Path(__file__).parent / "fixtures" / "minilm_reference.json"


def cosine(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM.load()


def test_local_model_matches_sentence_transformers(minilm):
    """Reference vectors made once with sentence-transformers (torch) from the same model files, including an
    empty text, non-Latin scripts and a text past the 256-token truncation."""
    reference = json.loads(FIXTURE.read_text())
    vectors = minilm.encode(reference["texts"])
    assert vectors.shape == (len(reference["texts"]), DIMENSIONS) == (11, 384)
    for text, ours, theirs in zip(reference["texts"], vectors, reference["vectors"], strict=False):
        assert cosine(ours, theirs) >= 0.999, text[:40]
        assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-5
    # order and batching do not change a text's vector
    again = minilm.encode(list(reversed(reference["texts"][:4])))
    assert all(cosine(a, b) > 0.99999 for a, b in zip(again[::-1], vectors[:4], strict=False))


def test_erf_is_accurate_to_float32():
    xs = np.linspace(-6, 6, 20001, dtype=np.float32)
    want = np.array([math.erf(float(x)) for x in xs])
    assert float(np.abs(erf(xs.copy()) - want).max()) < 1e-6


async def test_micro_batcher_coalesces_concurrent_requests():
    """Requests arriving while a backend call runs share the next call; each gets its own vectors back."""

    class Recording:
        name, model, dimensions, loaded = "recording", "r", 2, True

        def __init__(self) -> None:
            self.calls: list[list[str]] = []

        async def embed(self, texts: list[str]) -> list[list[float]]:
            self.calls.append(list(texts))
            await asyncio.sleep(0.05)
            return [[float(len(t)), 1.0] for t in texts]

        async def aclose(self) -> None:
            pass

    backend = Recording()
    batcher = MicroBatcher(backend, max_texts=64, window=0.01)
    batcher.start()
    try:
        texts = [["a" * i, "b" * (i + 100)] for i in range(1, 21)]
        results = await asyncio.gather(*(batcher.embed(t) for t in texts))
    finally:
        await batcher.stop()
    assert results == [[[float(i), 1.0], [float(i + 100), 1.0]] for i in range(1, 21)]
    assert len(backend.calls) < 20 and sum(len(c) for c in backend.calls) == 40
    assert all(len(c) <= 64 for c in backend.calls)


class OpenAIEmbeddings(LoopbackServer):
    """A real HTTP server on 127.0.0.1 speaking the OpenAI embeddings protocol, backed by the local model
    (as Ollama or TEI serving all-MiniLM-L6-v2 would be), answering its items out of order."""

    def __init__(self, model: MiniLM) -> None:
        super().__init__("/v1/embeddings", self.handle)
        self.model = model
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.mode = "ok"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        if request.headers.get("Authorization") != "Bearer sk-test":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.encode(texts).astype(np.float64) * 3.0  # not normalised: the client must do it
        if self.mode == "short":
            vectors = vectors[:, :100]
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return web.json_response(
            {
                "object": "list",
                "data": data[::-1],
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )


async def test_remote_backend_speaks_the_openai_embeddings_protocol(minilm):
    async with OpenAIEmbeddings(minilm) as server:
        remote = RemoteBackend(
            f"http://127.0.0.1:{server.port}/v1", "all-minilm", "sk-test", DIMENSIONS, 10.0
        )
        try:
            texts = ["the cat sat on the mat", "stock markets fell sharply today", "a kitten on a rug"]
            vectors = await remote.embed(texts)
            headers, body = server.requests[-1]
            assert body == {"model": "all-minilm", "input": texts, "encoding_format": "float"}
            assert headers["Authorization"] == "Bearer sk-test"
            local = minilm.encode(texts)
            for ours, theirs in zip(vectors, local, strict=False):  # in input order, normalised
                assert cosine(ours, theirs) > 0.9999 and abs(math.hypot(*ours) - 1.0) < 1e-9

            server.mode = "short"
            with pytest.raises(Unavailable, match="100 dimensions"):
                await remote.embed(["x"])
        finally:
            await remote.aclose()
        wrong_key = RemoteBackend(
            f"http://127.0.0.1:{server.port}/v1/embeddings", "m", "nope", DIMENSIONS, 10.0
        )
        try:
            with pytest.raises(Unavailable, match="401"):
                await wrong_key.embed(["x"])
        finally:
            await wrong_key.aclose()
    gone = RemoteBackend(f"http://127.0.0.1:{free_port()}/v1", "m", None, DIMENSIONS, 2.0)
    try:
        with pytest.raises(Unavailable, match="unreachable"):
            await gone.embed(["x"])
    finally:
        await gone.aclose()


async def test_local_backend_loads_on_first_use():
    backend = LocalBackend()
    assert backend.loaded is False
    (vector,) = await backend.embed(["hello"])
    assert backend.loaded is True and len(vector) == DIMENSIONS


async def _embedder_counts(anon) -> tuple[float, float]:
    """(texts, model calls) of every embedder replica, from the gateway's merged /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body, _ = await anon.request("GET", "/metrics")
    assert status == 200
    totals = {"moltgrid_embedder_texts": 0.0, "moltgrid_embedder_batches": 0.0}
    for family in text_string_to_metric_families(body.decode() if isinstance(body, bytes) else str(body)):
        if family.name in totals:
            totals[family.name] += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return totals["moltgrid_embedder_texts"], totals["moltgrid_embedder_batches"]


async def test_embedder_service_embeds_and_batches_concurrent_requests(stack, anon):
    """svc.embedder.embed in the running stack: concurrent requests share model calls (micro-batching),
    each answered with its own vectors."""
    nc = await nats.connect(stack.infra.nats_url)
    try:
        info = (await call(nc, svc("embedder", "info"), {}, timeout=5)).unwrap()
        assert (info["backend"], info["model"], info["dimensions"]) == ("local", "all-MiniLM-L6-v2", 384)
        texts = [f"note {i}: agents share work through queues" for i in range(24)]
        await call(nc, svc("embedder", "embed"), {"texts": ["load the model first"]}, timeout=30)
        texts_before, calls_before = await _embedder_counts(anon)
        replies = await asyncio.gather(
            *(call(nc, svc("embedder", "embed"), {"texts": [t]}, timeout=30) for t in texts)
        )
        vectors = [r.unwrap()["vectors"][0] for r in replies]

        async def counted() -> tuple[float, float] | None:  # /metrics is a scrape cached for 2 s
            after = await _embedder_counts(anon)
            return after if after[0] - texts_before >= 24 else None

        texts_after, calls_after = await until("the embeds counted in /metrics", counted, every=0.5)
        assert texts_after - texts_before >= 24 and calls_after - calls_before < texts_after - texts_before
        together = (await call(nc, svc("embedder", "embed"), {"texts": texts}, timeout=30)).unwrap()[
            "vectors"
        ]
        assert all(cosine(a, b) > 0.9999 for a, b in zip(vectors, together, strict=False))
        assert cosine(vectors[0], vectors[1]) < 0.9999  # different texts, different vectors
        bad = await call(nc, svc("embedder", "embed"), {"texts": []}, timeout=5)
        too_many = await call(nc, svc("embedder", "embed"), {"texts": ["x"] * 65}, timeout=5)
        assert (bad.ok, bad.code, too_many.ok, too_many.code) == (False, "invalid", False, "invalid")
    finally:
        await nc.close()
