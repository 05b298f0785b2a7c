"""Text embeddings for vector memory, as its own queue group.

No tables and no database connection: it only turns texts into 384-dimensional unit vectors, with the local
all-MiniLM-L6-v2 (numpy; loaded on the first request) or an OpenAI-compatible endpoint. See docs/embeddings.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from services.embedder.backends import Backend, LocalBackend, RemoteBackend
from services.embedder.batching import MicroBatcher
from services.embedder.handlers import EmbedderHandlers
from services.embedder.models import MAX_TEXTS
from shared.config import Settings
from shared.service import Runtime
from shared.spec import Parts, Service


class EmbedderSettings(Settings):
    embedder_backend: Literal["local", "remote"] = "local"
    embedder_model_path: Path | None = (
        None  # local: a directory or zip with the model's files (default: the package)
    )
    embedder_preload: bool = False  # local: load the model at start instead of on the first request
    embedder_threads: int = 1  # local: BLAS threads per replica (scale with replicas rather than threads)
    embedder_url: str = ""  # remote: OpenAI-compatible base URL (…/v1) or the full …/v1/embeddings URL
    embedder_model: str = "all-MiniLM-L6-v2"  # remote: the model name sent to the endpoint
    embedder_api_key: SecretStr | None = None  # remote: sent as "Authorization: Bearer …"
    embedder_send_dimensions: bool = False  # remote: ask for 384 dimensions (OpenAI text-embedding-3-*)
    embedder_timeout: float = 30.0  # remote: seconds per call to the endpoint
    embedder_max_batch: int = MAX_TEXTS  # texts per backend call (micro-batch)
    embedder_batch_window_ms: float = 2.0  # how long a lone request waits for others to share its batch


def make_backend(s: EmbedderSettings) -> Backend:
    if s.embedder_backend == "remote":
        if not s.embedder_url:
            raise SystemExit("MOLTGRID_EMBEDDER_BACKEND=remote needs MOLTGRID_EMBEDDER_URL")
        key = s.embedder_api_key.get_secret_value() if s.embedder_api_key else None
        from services.embedder.minilm import DIMENSIONS

        return RemoteBackend(
            s.embedder_url, s.embedder_model, key, DIMENSIONS, s.embedder_timeout, s.embedder_send_dimensions
        )
    return LocalBackend(s.embedder_model_path, s.embedder_threads)


async def build(rt: Runtime[EmbedderSettings]) -> Parts:
    s = rt.settings
    backend = make_backend(s)
    # A remote endpoint serves several calls at once; the local model runs one pass at a time per replica.
    batcher = MicroBatcher(
        backend,
        s.embedder_max_batch,
        s.embedder_batch_window_ms / 1000,
        workers=4 if backend.name == "remote" else 1,
    )
    batcher.start()
    if s.embedder_preload:
        await backend.embed(["warm up"])
    return Parts(groups=[EmbedderHandlers(backend, batcher)], on_stop=[backend.aclose, batcher.stop])


SERVICE = Service(name="embedder", build=build, settings=EmbedderSettings)
