"""Summaries of session messages: extractive and deterministic by default, or by a language model behind any
OpenAI-compatible chat-completions endpoint (MOLTGRID_CHAT_URL, MOLTGRID_CHAT_MODEL, MOLTGRID_CHAT_API_KEY).

The extractive summary keeps whole sentences: each sentence scores the mean document frequency of its content
words (words that recur across the conversation are what it is about), the best ones are kept in their
original order until the token budget is spent. Same input, same summary.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import structlog

from services.memory import tokens

log = structlog.get_logger("summarizer")

HEADER = "Summary of earlier messages:"
EXTRACTIVE = "extractive"
MODEL = "model"
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yes",
        "ok",
        "okay",
        "hi",
        "hello",
        "thanks",
        "please",
    ]
)


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Summary:
    text: str
    summarizer: str  # "extractive" or "model"
    model: str | None = None
    fallback_reason: str | None = None  # why a configured model was not used


def words(text: str) -> list[str]:
    """Lower-case content words (stop words dropped): what keyword scoring compares."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def extractive(messages: Sequence[Message], max_tokens: int) -> str:
    """The highest-scoring sentences of `messages`, in order, within `max_tokens`."""
    sentences: list[tuple[int, str, str]] = []  # (position, role, sentence)
    for m in messages:
        for s in _SENTENCE.findall(m.content):
            if s.strip():
                sentences.append((len(sentences), m.role, " ".join(s.split())))
    frequency = Counter(w for _, _, s in sentences for w in set(words(s)))

    def score(item: tuple[int, str, str]) -> tuple[float, int]:
        content = words(item[2])
        return (sum(frequency[w] for w in content) / len(content) if content else 0.0, -item[0])

    header = HEADER
    budget = max_tokens - tokens.count(header) - 1
    chosen: list[tuple[int, str, str]] = []
    for item in sorted(sentences, key=score, reverse=True):
        line = f"- {item[1]}: {item[2]}"
        cost = tokens.count(line) + 1
        if cost > budget:
            continue
        chosen.append(item)
        budget -= cost
    lines = [f"- {role}: {text}" for _, role, text in sorted(chosen)]
    return "\n".join([header, *lines])


class Summarizer:
    """Asks the configured chat model, or summarizes extractively when none is configured or it fails."""

    def __init__(
        self, url: str | None, model: str | None, api_key: str | None, timeout: float = 30.0
    ) -> None:
        self.url = url.rstrip("/") + "/chat/completions" if url else None
        self.model, self.api_key, self.timeout = model, api_key, timeout

    @property
    def uses_model(self) -> bool:
        return bool(self.url and self.model)

    async def summarize(self, messages: Sequence[Message], max_tokens: int) -> Summary:
        if not self.uses_model:
            return Summary(await asyncio.to_thread(extractive, messages, max_tokens), EXTRACTIVE)
        try:
            text = await self._ask_model(messages, max_tokens)
        except Exception as exc:  # an unreachable or misbehaving model must not lose the conversation
            reason = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("summary_model_failed", error=reason)
            return Summary(
                await asyncio.to_thread(extractive, messages, max_tokens), EXTRACTIVE, fallback_reason=reason
            )
        return Summary(tokens.truncate(f"{HEADER}\n{text}", max_tokens), MODEL, self.model)

    async def _ask_model(self, messages: Sequence[Message], max_tokens: int) -> str:
        transcript = "\n".join(f"{m.role}: {m.content}" for m in messages)
        body = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": 0,
            "messages": [
                {
                    "role": "system",
                    "content": (
                        "Summarize this conversation for the agent that took part in it. Keep facts, decisions, names,"
                        " numbers and open questions. Answer with the summary only."
                    ),
                },
                {"role": "user", "content": transcript},
            ],
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
            async with http.post(self.url, json=body, headers=headers) as resp:  # type: ignore[arg-type]
                if resp.status != 200:
                    raise RuntimeError(f"chat endpoint answered {resp.status}: {(await resp.text())[:200]}")
                data = await resp.json(content_type=None)
        text = data["choices"][0]["message"]["content"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("chat endpoint returned no summary text")
        return text.strip()
