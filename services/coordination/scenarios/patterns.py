"""The five coordination patterns, each a real protocol between simulated agents over NATS."""

from __future__ import annotations

import asyncio
import random
import statistics
from collections import Counter
from typing import Any

import orjson
from nats.js.errors import KeyWrongLastSequenceError

from services.coordination.scenarios.protocol import Mailbox, Pattern, now_ms


class LeaderElection(Pattern):
    """Every agent tries to create the run's key in a JetStream key-value bucket (compare-and-set against
    "no value yet"); exactly one create can succeed. The others read the key to learn the winner. Each agent
    reports the leader it learned on coord.<run>.election.view. latency: start → an agent knows the leader."""

    name = "leader_election"

    async def run(self) -> None:
        self.claims: list[str] = []
        self.views: dict[str, str] = {}
        reported = Mailbox()
        t0 = now_ms()

        def on_view(d: dict[str, Any], _: Any) -> None:
            self.views[d["agent"]] = d["leader"]
            self.participants.add(d["agent"])
            self.latencies.append(now_ms() - t0)
            reported.put(d)

        await self.subscribe(self.subject("election", "view"), on_view)
        await self.ready()
        self.rounds = 1

        async def agent(name: str) -> None:
            self.messages += 1
            try:
                await self.kv.create(self.run_id, name.encode())
                leader = name
                self.claims.append(name)
            except KeyWrongLastSequenceError:
                self.messages += 1
                leader = ((await self.kv.get(self.run_id)).value or b"").decode()
            await self.publish(self.subject("election", "view"), {"agent": name, "leader": leader})

        await asyncio.gather(*(agent(a) for a in self.agents))
        await reported.wait_for(len(self.agents))

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        leader = self.claims[0] if len(self.claims) == 1 else None
        agreeing = sum(1 for v in self.views.values() if leader is not None and v == leader)
        failures = []
        if len(self.claims) != 1:
            failures.append(f"expected exactly one leader, {len(self.claims)} agents won the election")
        if agreeing < len(self.agents):
            failures.append(
                f"{len(self.agents) - agreeing} of {len(self.agents)} agents did not learn the leader"
            )
        return {
            "rounds": self.rounds,
            "elected_leader": leader,
            "leader_claims": len(self.claims),
            "agents_agreeing": agreeing,
        }, failures


def _most_common(values: list[int]) -> tuple[int, int]:
    """The most frequent value and its count; ties go to the smallest value (every agent decides alike)."""
    counts = Counter(values)
    best = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
    return best[0], best[1]


class Consensus(Pattern):
    """Rounds of propose / vote / commit on coord.<run>.consensus.<round>.<phase>. Each agent starts with a
    random proposal in 0..2 and broadcasts it; it votes for the most frequent proposal it received (ties →
    smallest), and commits a value once it sees a strict majority of votes for it, otherwise it proposes its
    vote in the next round. latency: start → an agent commits."""

    name = "consensus"

    async def run(self) -> None:
        n, max_rounds = len(self.agents), self.param("max_rounds", 5, 1)
        self.initial = {a: random.randint(0, 2) for a in self.agents}
        self.commits: dict[str, int] = {}
        boxes: dict[tuple[str, str, str], Mailbox] = {}
        committed = Mailbox()
        t0 = now_ms()

        def box(agent: str, rnd: str, phase: str) -> Mailbox:
            return boxes.setdefault((agent, rnd, phase), Mailbox())

        def inbox_of(agent: str):  # type: ignore[no-untyped-def]
            return lambda d, msg: box(agent, *msg.subject.split(".")[-2:]).put(d)

        def on_commit(d: dict[str, Any], _: Any) -> None:
            self.commits[d["agent"]] = d["value"]
            self.participants.add(d["agent"])
            self.latencies.append(now_ms() - t0)
            committed.put(d)

        for a in self.agents:
            await self.subscribe(self.subject("consensus", "*", "*"), inbox_of(a))
        await self.subscribe(self.subject("consensus", "*", "commit"), on_commit)
        await self.ready()

        async def agent(name: str) -> None:
            value = self.initial[name]
            for rnd in range(1, max_rounds + 1):
                self.rounds = max(self.rounds, rnd)
                await self.publish(
                    self.subject("consensus", str(rnd), "propose"), {"agent": name, "value": value}
                )
                proposals = (await box(name, str(rnd), "propose").wait_for(n))[:n]
                vote, _ = _most_common([p["value"] for p in proposals])
                await self.publish(
                    self.subject("consensus", str(rnd), "vote"), {"agent": name, "value": vote}
                )
                votes = (await box(name, str(rnd), "vote").wait_for(n))[:n]
                top, count = _most_common([v["value"] for v in votes])
                if count * 2 > n:
                    await self.publish(
                        self.subject("consensus", str(rnd), "commit"),
                        {"agent": name, "value": top, "round": rnd},
                    )
                    return
                value = vote

        await asyncio.gather(*(agent(a) for a in self.agents))
        await committed.wait_for(n)

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        values = set(self.commits.values())
        agreed = len(self.commits) == len(self.agents) and len(values) == 1
        failures = (
            []
            if agreed
            else [f"{len(self.commits)} of {len(self.agents)} agents committed, values {sorted(values)}"]
        )
        final = _most_common(list(self.commits.values()))[0] if self.commits else None
        return {
            "rounds": self.rounds,
            "final_value": final,
            "agreement_reached": agreed,
            "agents_committed": len(self.commits),
            "initial_proposals": {str(k): v for k, v in sorted(Counter(self.initial.values()).items())},
        }, failures


class LoadBalancing(Pattern):
    """The coordinator holds total_tasks (default 100, whatever the agent count, as in the original) and hands
    them out on request: each agent asks for work on coord.<run>.lb.next (request/reply), does it, reports it
    on coord.<run>.lb.done and asks again; the coordinator answers requests in arrival order, so idle agents
    are served in turn (the original's round-robin, earned by the agents instead of imposed). Balanced when
    the standard deviation of tasks per agent is below max_imbalance (default 20%) of the mean.
    latency: task handed out → its completion reported."""

    name = "load_balancing"

    async def run(self) -> None:
        self.total = self.param("total_tasks", 100, 1)
        self.per_agent = dict.fromkeys(self.agents, 0)
        self.completed = 0
        handed_out = 0
        all_done = asyncio.Event()

        async def on_next(d: dict[str, Any], msg: Any) -> None:
            nonlocal handed_out
            if handed_out < self.total:
                await self.publish(msg.reply, {"task": handed_out, "t0": now_ms()})
                handed_out += 1
            else:
                await self.publish(msg.reply, {"task": None})

        def on_done(d: dict[str, Any], _: Any) -> None:
            self.completed += 1
            self.latencies.append(now_ms() - d["t0"])
            if self.completed >= self.total:
                all_done.set()

        stopping = False

        async def worker(name: str) -> None:
            # The flag, not only cancel(): Python 3.11's wait_for (inside nc.request) swallows a cancellation that
            # arrives as the reply does, and the worker would ask for work again forever.
            while not stopping:
                self.messages += 1
                reply = await self.nc.request(
                    self.subject("lb", "next"), orjson.dumps({"agent": name}), timeout=5
                )
                task = orjson.loads(reply.data)
                if task["task"] is None:
                    return
                self.per_agent[name] += 1
                self.participants.add(name)
                await self.publish(self.subject("lb", "done"), {"agent": name, "t0": task["t0"]})

        await self.subscribe(self.subject("lb", "next"), on_next)
        await self.subscribe(self.subject("lb", "done"), on_done)
        await self.ready()
        self.rounds = 1
        workers = [asyncio.create_task(worker(a)) for a in self.agents]
        try:
            await all_done.wait()
        finally:
            stopping = True
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        loads = list(self.per_agent.values())
        mean = statistics.fmean(loads)
        std = statistics.pstdev(loads)
        imbalance = std / mean if mean else 1.0
        limit = float(self.criteria.get("max_imbalance", 0.2))
        failures = []
        if self.completed < self.total:
            failures.append(f"{self.completed} of {self.total} tasks completed")
        if imbalance >= limit:
            failures.append(f"standard deviation is {imbalance:.1%} of the mean (limit {limit:.0%})")
        # balance_score means what it meant in the original: the least loaded agent's share of the most loaded's
        balance = min(loads) / max(loads) if max(loads) else 0.0
        return {
            "total_tasks": self.total,
            "tasks_completed": self.completed,
            "tasks_per_agent": self.per_agent,
            "max_load": max(loads),
            "min_load": min(loads),
            "std_deviation": round(std, 3),
            "balance_score": round(balance, 4),
            "imbalance": round(imbalance, 4),
        }, failures


class PubSubFanout(Pattern):
    """test_agent_0 publishes `messages` (default 10) on coord.<run>.fanout.topic; every other agent is
    subscribed and acknowledges on coord.<run>.fanout.ack once it has received them all.
    latency: publish → receipt, per delivery."""

    name = "pub_sub_fanout"

    async def run(self) -> None:
        self.count = self.param("messages", 10, 1)
        self.publisher, self.subscribers = self.agents[0], self.agents[1:]
        self.received = dict.fromkeys(self.subscribers, 0)
        acks = Mailbox()

        def subscriber(name: str):  # type: ignore[no-untyped-def]
            async def on_message(d: dict[str, Any], _: Any) -> None:
                self.received[name] += 1
                self.latencies.append(now_ms() - d["t0"])
                if self.received[name] == self.count:
                    self.participants.add(name)
                    await self.publish(self.subject("fanout", "ack"), {"agent": name})

            return on_message

        for a in self.subscribers:
            await self.subscribe(self.subject("fanout", "topic"), subscriber(a))
        await self.subscribe(self.subject("fanout", "ack"), lambda d, _: acks.put(d))
        await self.ready()
        self.rounds = 1
        for seq in range(self.count):
            await self.publish(self.subject("fanout", "topic"), {"seq": seq, "t0": now_ms()})
        self.participants.add(self.publisher)
        await acks.wait_for(len(self.subscribers))

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        expected = self.count * len(self.subscribers)
        total = sum(self.received.values())
        rate = total / expected if expected else 0.0
        need = float(self.criteria.get("min_delivery_rate", 1.0))
        failures = [] if rate >= need else [f"delivery rate {rate:.3f} below {need}"]
        return {
            "publisher": self.publisher,
            "subscriber_count": len(self.subscribers),
            "messages_published": self.count,
            "total_deliveries": total,
            "failed_deliveries": expected - total,
            "delivery_rate": round(rate, 4),
        }, failures


class TaskAuction(Pattern):
    """For each of `tasks` (default 5, whatever the agent count, as in the original) the auctioneer calls for sealed bids on
    coord.<run>.auction.call with a private reply inbox (request-many: it collects every agent's reply
    within bid_window_ms); the lowest bid wins (ties: the earliest name, counted as collisions), the award
    is announced on coord.<run>.auction.award and only the winner accepts it. latency: call → accepted."""

    name = "task_auction"

    async def run(self) -> None:
        n, tasks = len(self.agents), self.param("tasks", 5, 1)
        window = self.param("bid_window_ms", 2000, 10) / 1000
        self.auctions: list[dict[str, Any]] = []
        self.bid_counts: Counter[str] = Counter()
        bids: dict[int, Mailbox] = {t: Mailbox() for t in range(tasks)}
        accepts: dict[int, Mailbox] = {t: Mailbox() for t in range(tasks)}
        inbox = self.nc.new_inbox()

        def bidder(name: str):  # type: ignore[no-untyped-def]
            async def on_call(d: dict[str, Any], msg: Any) -> None:
                await self.publish(
                    msg.reply, {"agent": name, "task": d["task"], "bid": random.randint(1, 100)}
                )

            return on_call

        def awardee(name: str):  # type: ignore[no-untyped-def]
            async def on_award(d: dict[str, Any], _: Any) -> None:
                if d["winner"] == name:
                    await self.publish(self.subject("auction", "accept"), {"agent": name, "task": d["task"]})

            return on_award

        for a in self.agents:
            await self.subscribe(self.subject("auction", "call"), bidder(a))
            await self.subscribe(self.subject("auction", "award"), awardee(a))
        await self.subscribe(f"{inbox}.*", lambda d, _: bids[d["task"]].put(d))
        await self.subscribe(self.subject("auction", "accept"), lambda d, _: accepts[d["task"]].put(d))
        await self.ready()
        for task in range(tasks):
            self.rounds = task + 1
            t0 = now_ms()
            await self.publish(self.subject("auction", "call"), {"task": task}, reply=f"{inbox}.{task}")
            try:
                await asyncio.wait_for(bids[task].wait_for(n), window)
            except TimeoutError:
                pass  # auction closes with the bids that arrived
            received = list(bids[task].items)
            self.bid_counts.update(b["agent"] for b in received)
            auction: dict[str, Any] = {
                "task": task,
                "winner": None,
                "winning_bid": None,
                "bids": len(received),
            }
            self.auctions.append(auction)
            if not received:
                continue
            low = min(b["bid"] for b in received)
            tied = sorted(b["agent"] for b in received if b["bid"] == low)
            auction.update(winner=tied[0], winning_bid=low, tied=len(tied))
            await self.publish(self.subject("auction", "award"), {"task": task, "winner": tied[0]})
            try:
                await asyncio.wait_for(accepts[task].wait_for(1), window)
            except TimeoutError:
                continue
            await asyncio.sleep(0)  # let a (wrong) second acceptance arrive before counting
            auction["accepted_by"] = [a["agent"] for a in accepts[task].items]
            self.latencies.append(now_ms() - t0)
        self.participants = {a for a in self.agents if self.bid_counts[a] == tasks}

    def outcome(self) -> tuple[dict[str, Any], list[str]]:
        failures = []
        for a in self.auctions:
            if a["winner"] is None:
                failures.append(f"task {a['task']}: no bids")
            elif a.get("accepted_by") != [a["winner"]]:
                failures.append(
                    f"task {a['task']}: accepted by {a.get('accepted_by', [])}, winner {a['winner']}"
                )
        return {
            "tasks_auctioned": len(self.auctions),
            "total_bids": sum(a["bids"] for a in self.auctions),
            "collisions": sum(1 for a in self.auctions if a.get("tied", 0) > 1),
            "auctions": [
                {k: a.get(k) for k in ("task", "winner", "winning_bid", "bids")} for a in self.auctions
            ],
            "single_winner": not failures,
        }, failures


PATTERNS: dict[str, type[Pattern]] = {
    p.name: p for p in (LeaderElection, Consensus, LoadBalancing, PubSubFanout, TaskAuction)
}
