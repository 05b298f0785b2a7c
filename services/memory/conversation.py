"""The rules of a session's token budget: appending messages, and folding old messages into one summary.

Past `max_tokens`, an append folds the oldest messages into one summary message (a quarter of the budget at
most), keeping the newest messages that fit; an explicit summarize folds all but the 10 newest (1.0's rule).
System messages are never folded: a fold leaves them verbatim at the head, in order, then the summary, then
the newest messages (1.0's layout); the budget left for the others is what the system messages leave.
Handlers of sessions and of tiered memory both append and fold through `Conversations`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.memory import tokens
from services.memory.stores.sessions import SessionStore, Snapshot, StoredMessage
from services.memory.summarizer import Message, Summarizer, Summary
from shared.errors import found

NOT_FOUND = "Session not found"
ROLES = frozenset({"user", "assistant", "system", "agent"})
KEEP_ON_SUMMARIZE = 10  # messages an explicit summarize keeps as they are
SUMMARY_SHARE = 4  # an automatic summary gets at most 1/SUMMARY_SHARE of max_tokens…
SUMMARY_CAP = 4000  # …and never more than this many tokens
FOLD_ATTEMPTS = 3  # a fold planned on a stale snapshot is planned again this often
PrefixRule = Callable[[list[StoredMessage], int], int]  # (messages, max_tokens) → how many oldest to fold


@dataclass(frozen=True, slots=True)
class Folded:
    original_message_count: int
    message_count: int
    token_count: int
    summary: Summary | None  # None: nothing needed folding


def pinned(message: StoredMessage) -> bool:
    """A system message someone wrote (not a summary): kept verbatim at the head by every fold."""
    return message.role == "system" and not message.is_summary


def summary_budget(max_tokens: int) -> int:
    return min(max_tokens // SUMMARY_SHARE, SUMMARY_CAP)


def over_budget_prefix(messages: list[StoredMessage], max_tokens: int) -> int:
    """How many of the oldest messages to fold so that the rest plus a summary fit in `max_tokens` (the newest
    message is always kept, even alone over the budget)."""
    room = max_tokens - summary_budget(max_tokens)
    kept, used = 0, 0
    for m in reversed(messages):
        if kept and used + m.tokens > room:
            break
        kept, used = kept + 1, used + m.tokens
    return len(messages) - kept


def keep_newest_prefix(messages: list[StoredMessage], keep: int = KEEP_ON_SUMMARIZE) -> int:
    return max(len(messages) - keep, 0)


def unfold(message: StoredMessage) -> list[Message]:
    """What a message contributes to a new summary: a summary message gives back its lines (an extractive
    summary's "- role: sentence" lines with their roles), so summaries of summaries stay flat."""
    if not message.is_summary:
        return [Message(message.role, message.content)]
    out = []
    for line in message.content.splitlines()[1:]:  # the first line is the HEADER
        role, sep, text = line.removeprefix("- ").partition(": ")
        out.append(
            Message(role, text)
            if line.startswith("- ") and sep and role in ROLES
            else Message("system", line)
        )
    return out


def describe(summary: Summary | None) -> dict[str, Any]:
    """Which summarizer made the summary: "extractive" or "model" (with the model's name), "none" if none ran."""
    if summary is None:
        return {"summarizer": "none"}
    out: dict[str, Any] = {"summarizer": summary.summarizer}
    if summary.model:
        out["model"] = summary.model
    if summary.fallback_reason:
        out["fallback_reason"] = summary.fallback_reason
    return out


class Conversations:
    def __init__(self, store: SessionStore, summarizer: Summarizer) -> None:
        self.store, self.summarizer = store, summarizer

    async def summarize_messages(self, messages: list[StoredMessage], max_tokens: int) -> Summary:
        return await self.summarizer.summarize([part for m in messages for part in unfold(m)], max_tokens)

    async def fold(self, agent_id: str, session_id: str, how_many: PrefixRule) -> Folded:
        """Fold the prefix of the non-system messages that `how_many(messages, budget)` picks into a summary
        message, retrying on a concurrent fold. Raises NotFound when the session is not the agent's."""
        for _ in range(FOLD_ATTEMPTS):
            snap: Snapshot = found(await self.store.snapshot(agent_id, session_id), NOT_FOUND)
            others = [m for m in snap.messages if not pinned(m)]
            budget = max(snap.max_tokens - sum(m.tokens for m in snap.messages if pinned(m)), 0)
            total = sum(m.tokens for m in snap.messages)
            folded = others[: how_many(others, budget)]
            if not any(not m.is_summary for m in folded):  # nothing new to fold
                return Folded(len(snap.messages), len(snap.messages), total, None)
            summary = await self.summarize_messages(folded, summary_budget(budget))
            applied = await self.store.fold(
                agent_id,
                session_id,
                snap.folds,
                folded[-1].seq,
                summary.text,
                await tokens.count_async(summary.text),
            )
            if applied is not None:
                return Folded(len(snap.messages), applied["message_count"], applied["token_count"], summary)
        # others kept folding: report the state now
        snap = found(await self.store.snapshot(agent_id, session_id), NOT_FOUND)
        return Folded(len(snap.messages), len(snap.messages), sum(m.tokens for m in snap.messages), None)

    async def append_message(self, agent_id: str, session_id: str, role: str, content: str) -> dict[str, Any]:
        """Append, then fold if the session went over its budget (session append and tiered store_event)."""
        counts = found(
            await self.store.append(agent_id, session_id, role, content, await tokens.count_async(content)),
            NOT_FOUND,
        )
        out: dict[str, Any] = {
            "message_count": counts["message_count"],
            "token_count": counts["token_count"],
            "summarized": False,
        }
        if counts["token_count"] > counts["max_tokens"]:
            folded = await self.fold(agent_id, session_id, over_budget_prefix)
            if folded.summary is not None:
                out = {
                    "message_count": folded.message_count,
                    "token_count": folded.token_count,
                    "summarized": True,
                    **describe(folded.summary),
                }
        return out
