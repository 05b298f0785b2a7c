"""Durable jobs/s end to end, MoltGrid's queue beside PgQueuer and Celery+Redis, in one run on one machine.

    python3 run.py bench queue-peers                       # 10 s per system, 4 worker processes each
    python3 run.py bench queue-peers --duration 20 --workers 8 --in-flight 20 --systems moltgrid,pgqueuer

Every system gets the same load, one system at a time on the same machine:

- **producers**: `--producers` coroutines in this process submit batches of `--batch` jobs, each job carrying its
  submit time; together they keep at most `--backlog` jobs submitted and not yet completed (a bounded queue,
  so the latency is that of a loaded system, not of a backlog that grows for as long as the run lasts);
- **workers**: `--workers` processes, each holding up to `--in-flight` jobs at a time; a job is done when its
  worker has acknowledged it, and its latency is submit → that moment (all clocks are this machine's).

The systems:

- **moltgrid**: a private stack (embedded NATS, the durable embedded PostgreSQL with fsync and synchronous
  commit on, one gateway, the directory and `--queue-replicas` queue replicas). Submit is `POST /v1/queue/batch`
  (100 a request); a worker claims with `POST /v1/queue/claim?max_jobs=N` and completes with `POST
  /v1/queue/complete {"items": [...]}` when the server has them (tried once at start; the line "moltgrid verbs"
  says which were found), claiming as many jobs as it has free slots while its previous batch completes; else
  `--in-flight` coroutines per worker each claim one job and complete it.
- **pgqueuer**: PgQueuer's QueueManager in each worker (`batch_size` = `--in-flight`, LISTEN/NOTIFY wake-ups),
  its schema installed in its own database on the same PostgreSQL server; batched `Queries.enqueue`. A job is
  done when its entrypoint returns (PgQueuer then acknowledges it in buffered batches, so this favours it).
- **celery**: a Celery worker with `--workers` prefork processes, `worker_prefetch_multiplier` = `--in-flight`,
  `task_acks_late` (the message is acknowledged after the task ran, as a lease would), no result backend, on a
  private `redis-server` with its append-only file (`appendfsync everysec` by default, `--redis-fsync`; Redis's
  own durable setting; `always` fsyncs every write). A job is done when its task returns.

PgQueuer, Celery and redis-py are bench-only: `python3 run.py bench queue-peers` installs the versions pinned in
bench/requirements-peers.lock into .venv/bench-peers (never into the project's environment) and Debian's
redis-server when it is missing and it runs as root. A system whose pieces are missing is skipped with a message.
Prints jobs/s, p50 and p99 job latency and CPU per job per system and MoltGrid's ratios to the others; for
MoltGrid also the CPU cores each component used over the window (gateway, services, postgres, nats, workers),
and with `--profile gateway,services` their hottest functions (py-spy, as `bench --profile`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import profile

ROOT = Path(__file__).resolve().parents[1]
PEERS_ENV = "MOLTGRID_BENCH_PEERS"  # where run.py installed the peers (default .venv/bench-peers)
SYSTEMS = ("moltgrid", "pgqueuer", "celery")
QUEUE = "bench"


def peers_dir() -> Path:
    return Path(os.environ.get(PEERS_ENV) or ROOT / ".venv" / "bench-peers")


def use_peers() -> None:
    """Make the bench-only packages importable, after the project's own (they never shadow them)."""
    path = str(peers_dir())
    if path not in sys.path:
        sys.path.append(path)


def peer(module: str) -> Any:
    """A bench-only package (untyped here: it is outside the project's environment)."""
    import importlib

    use_peers()
    return importlib.import_module(module)


def missing(system: str) -> str | None:
    """Why a system cannot run here, or None."""
    if system == "moltgrid":
        return None
    use_peers()
    import importlib.util

    module = {"pgqueuer": "pgqueuer", "celery": "celery"}[system]
    if importlib.util.find_spec(module) is None or (
        system == "celery" and importlib.util.find_spec("redis") is None
    ):
        return (
            f"{module} is not installed in {peers_dir()}: run `python3 run.py bench queue-peers`, which installs "
            "bench/requirements-peers.lock there"
        )
    if system == "celery" and not shutil.which("redis-server"):
        return "no redis-server on PATH: install it (Debian: apt-get install redis-server) to bench Celery"
    return None


# ------------------------------------------------------------------ completions: workers → this process


class Done:
    """Completions reported by the workers over a Unix datagram socket: one datagram per batch of latencies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.samples: list[tuple[float, float]] = []  # (when received, latency ms)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
        self.sock.bind(str(path))
        self.sock.setblocking(False)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._read()  # whatever a previous system's workers sent late
        self.count, self.samples = 0, []
        loop.add_reader(self.sock.fileno(), self._read)

    def detach(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_reader(self.sock.fileno())

    def _read(self) -> None:
        now = time.perf_counter()
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            latencies = orjson.loads(data)
            self.count += len(latencies)
            self.samples.extend((now, ms) for ms in latencies)

    def close(self) -> None:
        self.sock.close()


class Reporter:
    """The worker side: sends latencies (ms, from the submit time in the job) to the bench."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def done(self, submitted_at: list[float]) -> None:
        now = time.time()
        for i in range(0, len(submitted_at), 1000):
            chunk = [round((now - t) * 1000, 3) for t in submitted_at[i : i + 1000]]
            self.sock.sendto(orjson.dumps(chunk), self.path)


# ------------------------------------------------------------------ one measured run


@dataclass
class Settings:
    duration: float
    warmup: float
    workers: int
    in_flight: int
    producers: int
    batch: int
    backlog: int
    tmp: Path
    profile: list[str] = field(default_factory=list)  # MoltGrid components to sample with py-spy


@dataclass
class Result:
    system: str
    jobs: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    note: str = ""
    cpu_s: float = 0.0  # CPU of every process of the system (servers, workers, this producer) in the window

    @property
    def cpu_ms_per_job(self) -> float | None:
        return self.cpu_s * 1000 / self.jobs if self.jobs else None

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


Submit = Callable[[list[bytes]], Awaitable[None]]


def pg_pids(infra: Any) -> list[int]:
    """The embedded PostgreSQL's postmaster (its backends are its children)."""
    from shared.runtime.embedded import EmbeddedPostgres

    return [
        srv.child.proc.pid
        for srv in infra.servers
        if isinstance(srv, EmbeddedPostgres) and srv.child and srv.child.alive()
    ]


def cpu_now(roots: list[int]) -> float:
    from bench import measure

    return measure.cpu_seconds(roots) + time.process_time()


async def drive(
    system: str,
    s: Settings,
    done: Done,
    submit: Submit,
    roots: Callable[[], list[int]],
    groups: Callable[[], dict[str, list[int]]] | None = None,
) -> Result:
    """Producers submit until warm-up + duration have passed; jobs done inside the window are counted, and
    the CPU of `roots` (process trees: servers and workers) plus this process's over the window."""
    submitted = 0
    stop = False

    async def producer() -> None:
        nonlocal submitted
        while not stop:
            if submitted - done.count + s.batch > s.backlog:
                await asyncio.sleep(0.001)
                continue
            submitted += s.batch
            now = time.time()
            payloads = [orjson.dumps({"t": now, "n": submitted + i}) for i in range(s.batch)]
            try:
                await submit(payloads)
            except Exception:
                submitted -= s.batch
                raise

    loop = asyncio.get_running_loop()
    done.attach(loop)
    tasks = [asyncio.create_task(producer()) for _ in range(s.producers)]
    try:
        await asyncio.sleep(s.warmup)
        for t in tasks:
            if t.done():
                t.result()  # a producer failed: raise its error
        pids = roots()
        by_group = groups() if groups else {}
        split_before = profile.cpu_seconds(by_group)
        samplers = (
            {
                c: profile.start(by_group.get(c, []), s.duration, s.tmp / "profiles", f"{system}-{c}")
                for c in s.profile
            }
            if groups
            else {}
        )
        start, start_count, cpu_start = time.perf_counter(), done.count, cpu_now(pids)
        await asyncio.sleep(s.duration)
        end, end_count, cpu_end = time.perf_counter(), done.count, cpu_now(pids)
        if by_group:
            split = profile.cpu_split(split_before, profile.cpu_seconds(by_group), end - start)
            print(f"  CPU cores by component over the window: {split}", flush=True)
        for component, runs in samplers.items():
            print(f"  profile of {component}:\n{profile.summarize(runs)}", flush=True)
        for t in tasks:
            if t.done():
                t.result()
    finally:
        stop = True
        await asyncio.gather(*tasks, return_exceptions=True)
        done.detach(loop)
    window = [ms for at, ms in done.samples if start <= at <= end]
    return Result(system, end_count - start_count, end - start, window, cpu_s=cpu_end - cpu_start)


def spawn_workers(
    kind: str, n: int, s: Settings, done: Done, extra: list[str]
) -> list[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "bench.queue_peers", "--worker", kind, "--report", str(done.path)]
    args += ["--in-flight", str(s.in_flight), *extra]
    log = open(s.tmp / f"{kind}-workers.log", "ab")  # noqa: SIM115 (kept open for the children)
    return [
        subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(n)
    ]


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)  # its own session: anything it left (Celery's pool children)


# ------------------------------------------------------------------ MoltGrid


async def probe_moltgrid(base: str, key: str, in_flight: int) -> tuple[bool, bool]:
    """Which fleet verbs the server has: claim-many (a list for max_jobs > 1) and batch complete."""
    import aiohttp

    async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:
        async with http.post(
            f"{base}/v1/queue/batch", json={"items": [{"payload": {"t": 0}, "queue_name": "probe"}]}
        ) as r:
            assert r.status == 200, await r.text()
        async with http.post(
            f"{base}/v1/queue/claim",
            params={"queue_name": "probe"},
            json={"queue_name": "probe", "max_jobs": max(2, in_flight)},
        ) as r:
            body = await r.json()
        many = isinstance(body, list)
        job = (body[0] if body else None) if many else (body if "job_id" in body else None)
        assert job is not None, body
        async with http.post(
            f"{base}/v1/queue/complete",
            json={"items": [{"job_id": job["job_id"], "attempt": job["attempt"]}]},
        ) as r:
            batch = r.status == 200
        if not batch:
            async with http.post(
                f"{base}/v1/queue/{job['job_id']}/complete", params={"attempt": str(job["attempt"])}
            ) as r:
                assert r.status == 200, await r.text()
    return many, batch


async def moltgrid_worker(
    base: str, key: str, in_flight: int, many: bool, batch: bool, report: Reporter
) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=in_flight + 4)
    async with aiohttp.ClientSession(headers={"X-API-Key": key}, connector=connector) as http:

        async def complete(jobs: list[dict[str, Any]]) -> None:
            if batch:
                items = [{"job_id": j["job_id"], "attempt": j["attempt"]} for j in jobs]
                async with http.post(f"{base}/v1/queue/complete", json={"items": items}) as r:
                    answer = await r.json()
                    assert r.status == 200 and answer["succeeded"] == len(items), answer
            else:
                for j in jobs:
                    async with http.post(
                        f"{base}/v1/queue/{j['job_id']}/complete", params={"attempt": str(j["attempt"])}
                    ) as r:
                        assert r.status == 200, await r.text()
            report.done([j["payload"]["t"] for j in jobs])

        async def claimer() -> None:
            params = {"queue_name": QUEUE}
            while True:
                async with http.post(f"{base}/v1/queue/claim", params=params) as r:
                    body = await r.json()
                jobs = [body] if "job_id" in body else []
                if not jobs:
                    await asyncio.sleep(0.005)
                    continue
                await complete(jobs)

        async def fleet() -> None:
            """Claim-many with prefetch: claim as many as there are free slots (once at least half are free),
            complete each batch in the background, so a claim and a complete overlap as in PgQueuer and
            Celery, and never more than in_flight jobs are held."""
            free, changed = in_flight, asyncio.Condition()
            pending: set[asyncio.Task[None]] = set()

            async def finish(jobs: list[dict[str, Any]]) -> None:
                nonlocal free
                try:
                    await complete(jobs)
                finally:
                    async with changed:
                        free += len(jobs)
                        changed.notify_all()

            def enough() -> bool:
                return free >= max(1, in_flight // 2)

            while True:
                async with changed:
                    await changed.wait_for(enough)
                    n, free = free, 0
                async with http.post(
                    f"{base}/v1/queue/claim",
                    params={"queue_name": QUEUE},
                    json={"queue_name": QUEUE, "max_jobs": max(2, n)},
                ) as r:
                    body = await r.json()
                jobs = body[:n] if isinstance(body, list) else []
                async with changed:
                    free += n - len(jobs)
                if not jobs:
                    await asyncio.sleep(0.005)
                    continue
                task = asyncio.create_task(finish(jobs))
                pending.add(task)
                task.add_done_callback(pending.discard)

        if many:
            await fleet()
        else:
            await asyncio.gather(*(claimer() for _ in range(in_flight)))


async def register(base: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(f"{base}/v1/register", json={"name": "bench"}) as r:
        return str((await r.json())["api_key"])


async def bench_moltgrid(s: Settings, done: Done, infra: Any, replicas: int) -> Result:
    import aiohttp

    from shared.runtime.embedded import free_port
    from shared.runtime.stack import Stack

    stack = Stack(
        infra,
        await infra.create_database("moltgrid"),
        log_dir=s.tmp / "logs",
        env={
            "MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000",
            "MOLTGRID_LOG_LEVEL": "warning",
            "MOLTGRID_SERVICES": "directory,queue",
        },
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        stack.start({"queue": replicas}, gateways=1, ports=[free_port()], only={"directory", "queue"})
        try:
            await stack.wait_ready()
        except TimeoutError:
            stack.dump_logs()
            raise
        base = stack.base_url
        key = await register(base)
        many, batch = await probe_moltgrid(base, key, s.in_flight)
        note = (
            f"claim-many {'yes' if many else 'no (one claim per job)'}, "
            f"batch complete {'yes' if batch else 'no (one complete per job)'}"
        )
        print(f"  moltgrid verbs: {note}", flush=True)
        flags = (
            ["--base", base, "--key", key]
            + (["--many"] if many else [])
            + (["--batch-complete"] if batch else [])
        )
        workers = spawn_workers("moltgrid", s.workers, s, done, flags)
        async with aiohttp.ClientSession(headers={"X-API-Key": key}) as http:

            async def submit(payloads: list[bytes]) -> None:
                for i in range(0, len(payloads), 100):
                    items = [{"payload": orjson.loads(p), "queue_name": QUEUE} for p in payloads[i : i + 100]]
                    async with http.post(f"{base}/v1/queue/batch", json={"items": items}) as r:
                        assert r.status == 200, await r.text()

            def by_group() -> dict[str, list[int]]:
                return {**stack.process_groups(), "workers": [w.pid for w in workers]}

            def roots() -> list[int]:
                return [p for ps in by_group().values() for p in ps]

            result = await drive("moltgrid", s, done, submit, roots, by_group)
        result.note = note
        return result
    finally:
        stop_processes(workers)
        stack.stop()


# ------------------------------------------------------------------ PgQueuer


async def bench_pgqueuer(s: Settings, done: Done, infra: Any) -> Result:
    import asyncpg

    Queries = peer("pgqueuer").Queries

    dsn = await infra.create_database("pgqueuer")
    conn = await asyncpg.connect(dsn)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        queries = Queries.from_asyncpg_connection(conn)
        await queries.install()
        workers = spawn_workers("pgqueuer", s.workers, s, done, ["--dsn", dsn])
        await asyncio.sleep(2)  # the workers connect and LISTEN
        pool = await asyncpg.create_pool(dsn, min_size=s.producers, max_size=s.producers)
        try:

            async def submit(payloads: list[bytes]) -> None:
                async with pool.acquire() as c:
                    await Queries.from_asyncpg_connection(c).enqueue(
                        ["bench"] * len(payloads), list(payloads), [0] * len(payloads)
                    )

            return await drive("pgqueuer", s, done, submit, lambda: pg_pids(infra) + [w.pid for w in workers])
        finally:
            await pool.close()
    finally:
        stop_processes(workers)
        await conn.close()


async def pgqueuer_worker(dsn: str, in_flight: int, report: Reporter) -> None:
    import asyncpg

    pgqueuer = peer("pgqueuer")
    conn = await asyncpg.connect(dsn)
    qm = pgqueuer.QueueManager(pgqueuer.Queries.from_asyncpg_connection(conn))

    async def job(j: Any) -> None:
        report.done([orjson.loads(j.payload or b"{}")["t"]])

    qm.entrypoint("bench")(job)

    await qm.run(batch_size=in_flight)


# ------------------------------------------------------------------ Celery + Redis


def celery_app(broker: str, in_flight: int) -> Any:
    app = peer("celery").Celery("moltgrid_bench", broker=broker)
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=in_flight,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def start_redis(tmp: Path, fsync: str) -> tuple[subprocess.Popen[bytes], int]:
    from shared.runtime.embedded import free_port

    port = free_port()
    data = tmp / "redis"
    data.mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""),
            *("--appendonly", "yes", "--appendfsync", fsync, "--protected-mode", "no", "--daemonize", "no"),
        ],
        stdout=open(tmp / "redis.log", "ab"),  # noqa: SIM115 (kept open for the child)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as c:
            c.sendall(b"PING\r\n")
            if c.recv(16).startswith(b"+PONG"):
                return proc, port
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} (see {tmp / 'redis.log'})")


async def bench_celery(s: Settings, done: Done, fsync: str) -> Result:
    redis, port = start_redis(s.tmp, fsync)
    broker = f"redis://127.0.0.1:{port}/0"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        app = celery_app(broker, s.in_flight)
        workers = spawn_workers("celery", 1, s, done, ["--broker", broker, "--processes", str(s.workers)])
        await asyncio.sleep(4)  # the prefork pool starts and connects

        def publish(payloads: list[bytes]) -> None:
            with app.producer_or_acquire() as producer:
                for p in payloads:
                    app.send_task("bench.job", args=(orjson.loads(p)["t"],), producer=producer)

        async def submit(payloads: list[bytes]) -> None:
            await asyncio.to_thread(publish, payloads)

        result = await drive("celery", s, done, submit, lambda: [redis.pid] + [w.pid for w in workers])
        result.note = f"redis appendfsync {fsync}"
        return result
    finally:
        stop_processes(workers)
        stop_processes([redis])


def celery_worker(broker: str, processes: int, in_flight: int, report: Reporter) -> None:
    app = celery_app(broker, in_flight)

    def job(submitted_at: float) -> None:
        report.done([submitted_at])

    app.task(name="bench.job")(job)

    app.worker_main(
        [
            *("worker", "--pool", "prefork", "--concurrency", str(processes), "--loglevel", "warning"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ]
    )


# ------------------------------------------------------------------ the run


def table(results: list[Result], s: Settings) -> str:
    def fmt(x: float | None) -> str:
        return f"{x:.1f}" if x is not None else "?"

    out = [
        "",
        f"durable queue, end to end (submit → claim → complete), {s.workers} worker processes × "
        f"{s.in_flight} jobs in flight each, backlog ≤ {s.backlog}, {s.duration:g} s per system",
        f"{'system':<10} {'jobs/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms/job':>11}  notes",
    ]
    for r in results:
        cpu = r.cpu_ms_per_job
        out.append(
            f"{r.system:<10} {r.rate:>9.0f} {fmt(r.pct(0.5)):>9} {fmt(r.pct(0.99)):>9}"
            f" {f'{cpu:.2f}' if cpu is not None else '?':>11}  {r.note}"
        )
    ours = next((r for r in results if r.system == "moltgrid"), None)
    if ours:
        for r in results:
            if r is ours or not r.rate:
                continue
            p99, their99 = ours.pct(0.99), r.pct(0.99)
            lat = f"{p99 / their99:.2f}" if p99 is not None and their99 else "?"
            cpu, their_cpu = ours.cpu_ms_per_job, r.cpu_ms_per_job
            per = f"{cpu / their_cpu:.2f}" if cpu is not None and their_cpu else "?"
            out.append(
                f"moltgrid ÷ {r.system}: jobs/s ×{ours.rate / r.rate:.2f}, p99 latency ×{lat}, "
                f"CPU per job ×{per} (jobs/s > 1, latency and CPU < 1 favour moltgrid)"
            )
    out.append(
        "(CPU ms/job: user + system CPU of every process of that system — its servers, PostgreSQL or Redis, "
        "its workers and the producers — over the window, ÷ jobs done; on a busy machine, the fairer figure)"
    )
    return "\n".join(out)


async def run(a: argparse.Namespace) -> list[Result]:
    from shared.runtime.stack import Infra

    systems = [x.strip() for x in a.systems.split(",") if x.strip()]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="moltgrid-peers-") as tmp:
        profiled = [c.strip() for c in a.profile.split(",") if c.strip()]
        s = Settings(
            a.duration, a.warmup, a.workers, a.in_flight, a.producers, a.batch, a.backlog, Path(tmp), profiled
        )
        done = Done(Path(tmp) / "done.sock")
        infra = Infra.start(Path(tmp))  # embedded NATS + durable PostgreSQL (fsync on)
        try:
            for system in systems:
                why = missing(system)
                if why:
                    print(f"  {system}: skipped: {why}", flush=True)
                    results.append(Result(system, note=f"skipped: {why}"))
                    continue
                print(f"» {system}", flush=True)
                if system == "moltgrid":
                    r = await bench_moltgrid(s, done, infra, a.queue_replicas)
                elif system == "pgqueuer":
                    r = await bench_pgqueuer(s, done, infra)
                else:
                    r = await bench_celery(s, done, a.redis_fsync)
                print(
                    f"  {r.rate:.0f} jobs/s, p50 {r.pct(0.5)} ms, p99 {r.pct(0.99)} ms,"
                    f" CPU {r.cpu_ms_per_job} ms/job",
                    flush=True,
                )
                log = Path(tmp) / f"{system}-workers.log"
                if not r.jobs and log.exists():
                    print(f"  no job done; its workers said:\n{log.read_text()[-3000:]}", flush=True)
                results.append(r)
                await asyncio.sleep(1)
        finally:
            done.close()
            infra.stop()
        print(table(results, s), flush=True)
    return results


def worker_main(a: argparse.Namespace) -> None:
    report = Reporter(a.report)
    if a.worker == "moltgrid":
        asyncio.run(moltgrid_worker(a.base, a.key, a.in_flight, a.many, a.batch_complete, report))
    elif a.worker == "pgqueuer":
        asyncio.run(pgqueuer_worker(a.dsn, a.in_flight, report))
    else:
        celery_worker(a.broker, a.processes, a.in_flight, report)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma list of " + ", ".join(SYSTEMS))
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per system")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the measured window")
    p.add_argument("--workers", type=int, default=4, help="worker processes per system")
    p.add_argument("--in-flight", type=int, default=10, help="jobs each worker holds at once (1-100)")
    p.add_argument("--producers", type=int, default=2, help="concurrent submitting coroutines")
    p.add_argument("--batch", type=int, default=100, help="jobs per submit")
    p.add_argument("--backlog", type=int, default=1000, help="most jobs submitted and not yet completed")
    p.add_argument("--queue-replicas", type=int, default=1, help="MoltGrid queue service replicas")
    p.add_argument("--redis-fsync", default="everysec", choices=("always", "everysec", "no"))
    p.add_argument(
        "--profile",
        default="",
        help="MoltGrid components to sample with py-spy, e.g. gateway,services,workers",
    )
    # worker processes (started by the bench itself)
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--report", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--many", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch-complete", dest="batch_complete", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dsn", help=argparse.SUPPRESS)
    p.add_argument("--broker", help=argparse.SUPPRESS)
    p.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        return worker_main(a)
    asyncio.run(run(a))


if __name__ == "__main__":
    main()
