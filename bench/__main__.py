"""python -m bench (or `python3 run.py bench`): start a stack, drive it with loadgen, print a table.

    python3 run.py bench                                   # memory_set + memory_get at concurrency 16 and 64
    python3 run.py bench --scenarios all --replicas gateway=2,memory=2
    python3 run.py bench --scenarios mixed,ws_latency --concurrency 64 --duration 15
    python3 run.py bench --scenarios mixed --tracing both   # the cost of OpenTelemetry tracing (off, then on)
    python3 run.py bench vectors    # vector memory: retrieval quality, embed throughput, search latency
    python3 run.py bench a2a        # A2A: send → hosted agent completes → caller's stream, p50/p99
    python3 run.py bench queue-peers     # durable jobs/s beside PgQueuer and Celery+Redis (bench/queue_peers.py)
    python3 run.py bench pubsub_fanout   # one publication to 10 … 10,000 subscribers (bench/pubsub_fanout.py)
    python3 run.py bench --scenarios all --concurrency 64 --against http://127.0.0.1:18000 [--against-pid PID]

Every row also gives the server's CPU milliseconds per request (bench/measure.py) and the stack's memory
(PSS); the footprint is printed at idle, before any load, and at the end. `--against URL` drives a second
MoltGrid-compatible server with the same scenarios in the same run (ours, then theirs, scenario by
scenario, so both see the same machine) and ends with a ratio table; `--against-pid` names the root
process of that server (e.g. its `moltgrid up`) so its CPU per request and memory are measured too.

bench/loadgen.py is the shared load generator (a verbatim copy of the one the original was measured with),
run as its own process on the same machine. The stack uses the embedded NATS and a durable embedded
PostgreSQL (fsync on), with the rate limit raised so the load is not refused.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import measure, profile, pushdelay, tracesink
from shared.runtime.embedded import free_port
from shared.runtime.stack import LAYOUTS, SHARED, Infra, Stack
from shared.runtime.supervisor import components, parse_replicas

HERE = Path(__file__).resolve().parent
ALL = ("health", "memory_set", "memory_get", "queue_cycle", "relay_send", "inbox", "mixed", "ws_latency")
NEEDS = {
    "queue_cycle": {"queue"},
    "relay_send": {"relay"},
    "inbox": {"relay"},
    "ws_latency": {"relay"},
    "mixed": {"queue", "relay"},
}


@dataclass
class Target:
    """A server to drive: ours (the stack started here) or another at --against."""

    label: str
    base: str
    pids: Callable[[], list[int]]  # root processes whose trees are the server ([] = not measured)

    def pss_mb(self) -> int | None:
        pids = self.pids()
        return round(measure.pss_bytes(pids) / 2**20) if pids else None


def run_loadgen(
    base: str,
    scenario: str,
    concurrency: int,
    duration: float,
    agents: int,
    server: dict[str, list[int]] | None = None,
) -> dict:
    """One loadgen run; with `server` (process groups), also the server's CPU ms per request by group."""
    args = [
        sys.executable,
        str(HERE / "loadgen.py"),
        "--base",
        base,
        "--scenario",
        scenario,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--agents",
        str(agents),
    ]
    if scenario == "ws_latency":
        args += ["--messages", "0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with measure.CpuTimeline(server or {}) as timeline:
        out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 300)
        exited_at = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator's own CPU (it has exited)
    loadgen_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"scenario": scenario, "concurrency": concurrency, "error": out.stderr[-500:]}
    result = {**json.loads(lines[-1]), "loadgen_cpu_s": round(loadgen_cpu, 2)}
    per = (
        measure.cpu_ms_per_request(timeline, exited_at, result["elapsed_s"], result["rps"])
        if server
        else None
    )
    if per:
        result["cpu_ms_per_req"], result["cpu_ms_per_req_by_group"] = per.pop("all"), per
    return result


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vectors"]:  # a sub-command with its own stack and options (bench/vectors.py)
        from bench import vectors

        return vectors.main(argv[1:])
    if argv[:1] == ["a2a"]:  # the A2A round trip (bench/a2a.py)
        from bench import a2a

        return a2a.main(argv[1:])
    if argv[:1] == ["queue-peers"]:  # ours beside PgQueuer and Celery+Redis (bench/queue_peers.py)
        from bench import queue_peers

        return queue_peers.main(argv[1:])
    if argv[:1] == ["pubsub_fanout"]:  # publication to 10 … 100,000 subscribers (bench/pubsub_fanout.py)
        from bench import pubsub_fanout

        return pubsub_fanout.main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenarios", default="memory_set,memory_get", help=f"comma list or 'all' ({', '.join(ALL)})"
    )
    p.add_argument("--concurrency", default="16,64")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--agents", type=int, default=16)
    p.add_argument("--replicas", default="", help="e.g. gateway=2,memory=2")
    p.add_argument(
        "--layout",
        default=SHARED,
        choices=LAYOUTS,
        help="services sharing a process (the default of `moltgrid up`) or one process each",
    )
    p.add_argument("--repeat", type=int, default=1, help="run each scenario this many times (memory growth)")
    p.add_argument("--against", default="", help="URL of a second MoltGrid-compatible server to drive alike")
    p.add_argument(
        "--against-pid", default="", help="its root process id(s), comma-separated, for CPU and PSS"
    )
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument(
        "--profile", default="", help="components to sample with py-spy during each run, e.g. gateway,queue"
    )
    p.add_argument(
        "--tracing",
        choices=("off", "on", "both"),
        default="off",
        help="OpenTelemetry tracing: on = every span exported over OTLP/HTTP to a local sink; "
        "both = each scenario on a stack without tracing, then on one with it",
    )
    a = p.parse_args(argv)
    built = set(components())
    wanted = ALL if a.scenarios == "all" else tuple(s.strip() for s in a.scenarios.split(",") if s.strip())
    scenarios = [s for s in wanted if NEEDS.get(s, set()) <= built]
    skipped = [s for s in wanted if s not in scenarios]
    replicas = parse_replicas(a.replicas)
    gateways = replicas.pop("gateway", 1)
    profiled = [c.strip() for c in a.profile.split(",") if c.strip()]
    their_pids = [int(x) for x in a.against_pid.split(",") if x.strip()]

    rows = []
    for traced in {"off": (False,), "on": (True,), "both": (False, True)}[a.tracing]:
        if a.tracing != "off":
            print(f"tracing {'on (every span exported over OTLP/HTTP)' if traced else 'off'}:", flush=True)
        rows += run_stack(scenarios, replicas, gateways, a, profiled, traced, their_pids)
    setup = f"layout {a.layout}; replicas: gateway={gateways} " + " ".join(
        f"{k}={v}" for k, v in replicas.items()
    )
    print(
        f"\n{setup}; duration {a.duration}s per run; skipped (not built yet): {', '.join(skipped) or 'none'}"
    )
    if a.json:
        a.json.write_text(json.dumps({"setup": setup, "at": time.time(), "results": rows}, indent=2))


def run_stack(
    scenarios: list[str],
    replicas: dict[str, int],
    gateways: int,
    a: argparse.Namespace,
    profiled: list[str],
    traced: bool,
    their_pids: list[int],
) -> list[dict]:
    """Start a private stack (tracing on or off), measure every scenario at every concurrency (and the --against
    server alike, scenario by scenario), print the footprints and the ratio table, stop it."""
    with tempfile.TemporaryDirectory(prefix="moltgrid-bench-") as tmp, tracesink.running(traced) as sink:
        infra = Infra.start(Path(tmp))
        env = {"MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000", "MOLTGRID_LOG_LEVEL": "warning"}
        if sink is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        stack = Stack(infra, infra.create_database_sync("bench"), log_dir=Path(tmp) / "logs", env=env)
        rows = []
        try:
            port = free_port()
            stack.start(replicas, gateways=gateways, ports=[port] * gateways, layout=a.layout)
            stack.wait_ready_blocking()
            ours = Target(
                "ours", stack.base_url, lambda: [p for ps in stack.process_groups().values() for p in ps]
            )
            targets = [ours] + (
                [Target("theirs", a.against.rstrip("/"), lambda: their_pids)] if a.against else []
            )
            time.sleep(3)  # let start-up work (migrations, JetStream set-up, first pool connections) settle
            print(footprint(stack, targets, "idle"), flush=True)
            for scenario in scenarios:
                for conc in (int(c) for c in a.concurrency.split(",")):
                    for _ in range(a.repeat):
                        for target in targets:
                            row = measure_one(
                                stack, target, scenario, conc, a, profiled, Path(tmp) / "profiles"
                            )
                            rows.append({**row, "tracing": traced})
                    if sink is not None:
                        print(f"  spans exported so far: {sink.spans_received}", flush=True)
            print(footprint(stack, targets, "after the runs"), flush=True)
            if a.against:
                print(ratio_table(rows), flush=True)
        finally:
            stack.stop()
            infra.stop()
        return rows


def footprint(stack: Stack, targets: list[Target], when: str) -> str:
    """Memory of every process of our stack (by component) and of the other server when its pid is known."""
    groups = stack.process_groups()
    parts = ", ".join(
        f"{label} {measure.pss_bytes(pids) / 2**20:.0f}" for label, pids in sorted(groups.items())
    )
    everything = [pid for pids in groups.values() for pid in pids]
    lines = [f"footprint {when}: ours {measure.pss_bytes(everything) / 2**20:.0f} MB PSS ({parts})"]
    for target in targets[1:]:
        mb = target.pss_mb()
        lines.append(
            f"footprint {when}: theirs " + (f"{mb} MB PSS" if mb is not None else "(no --against-pid)")
        )
    return "\n".join(lines)


def measure_one(
    stack: Stack,
    target: Target,
    scenario: str,
    conc: int,
    a: argparse.Namespace,
    profiled: list[str],
    profile_dir: Path,
) -> dict:
    """One load run: its loadgen figures, CPU per request and memory; for ours also the CPU by component and
    optional py-spy profiles."""
    mine = target.label == "ours"
    groups = stack.process_groups() if mine else {}
    samplers = (
        {
            c: profile.start(groups.get(c, []), a.duration, profile_dir, f"{scenario}-{conc}-{c}")
            for c in profiled
        }
        if mine
        else {}
    )
    pushes_before = pushdelay.buckets(target.base) if scenario == "ws_latency" and mine else None
    cpu_before, started = profile.cpu_seconds(groups), time.monotonic()
    server = groups if mine else ({"theirs": target.pids()} if target.pids() else {})
    result = run_loadgen(target.base, scenario, conc, a.duration, a.agents, server)
    wall = time.monotonic() - started
    result["target"] = target.label
    result["stack_pss_mb"] = target.pss_mb()
    print(_row(result), flush=True)
    if mine:
        result["cpu_cores"] = profile.cpu_split(cpu_before, profile.cpu_seconds(groups), wall)
        result["cpu_cores"] += f", loadgen {result.get('loadgen_cpu_s', 0) / wall:.2f}"
        print(f"  CPU cores (whole run incl. loadgen setup): {result['cpu_cores']}", flush=True)
        by_group = result.get("cpu_ms_per_req_by_group") or {}
        print(
            "  CPU ms per request (recorded window): "
            + ", ".join(f"{k} {v:.3f}" for k, v in sorted(by_group.items(), key=lambda kv: -kv[1])),
            flush=True,
        )
    if pushes_before is not None:
        result["push_delay"] = pushdelay.quantiles(pushes_before, pushdelay.buckets(target.base))
        print(
            f"  push alone (relay commit → socket write, gateway histogram): {result['push_delay']}",
            flush=True,
        )
    for component, runs in samplers.items():
        print(f"  profile of {component}:\n{profile.summarize(runs)}", flush=True)
    return result


def _row(r: dict) -> str:
    who = f"{r.get('target', ''):<6}"
    if "error" in r:
        return f"{who} {r['scenario']:<12} c={r['concurrency']:<3} FAILED: {r['error']}"
    errors = sum(r.get("errors", {}).values())
    cpu = r.get("cpu_ms_per_req")
    pss = r.get("stack_pss_mb")
    return (
        f"{who} {r['scenario']:<12} c={r['concurrency']:<3} {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:>7} ms  "
        f"p99 {r['p99_ms']:>7} ms  errors {errors:<5} "
        f"CPU {f'{cpu:.3f}' if cpu is not None else '?':>6} ms/req  "
        f"PSS {pss if pss is not None else '?'} MB"
    )


def ratio_table(rows: list[dict]) -> str:
    """Ours ÷ theirs per scenario and concurrency (medians when repeated): req/s, p99 and CPU per request."""
    from statistics import median

    runs: dict[tuple[str, int], dict[str, list[dict]]] = {}
    for r in rows:
        if "error" not in r:
            runs.setdefault((r["scenario"], r["concurrency"]), {}).setdefault(r["target"], []).append(r)
    out = [
        "",
        "side by side (ours ÷ theirs; req/s ratio > 1 and p99, CPU ratios < 1 favour ours)",
        f"{'scenario':<12} {'c':>3} {'ours req/s':>10} {'theirs':>8} {'ratio':>6} {'ours p99':>9} {'theirs':>8} "
        f"{'ratio':>6} {'ours CPU':>9} {'theirs':>8} {'ratio':>6}",
    ]

    def med(items: list[dict], key: str) -> float | None:
        values = [i[key] for i in items if i.get(key) is not None]
        return median(values) if values else None

    def ratio(x: float | None, y: float | None) -> str:
        return f"{x / y:.2f}" if x is not None and y else "?"

    def fmt(x: float | None, digits: int = 1) -> str:
        return f"{x:.{digits}f}" if x is not None else "?"

    for (scenario, conc), by in runs.items():
        ours, theirs = by.get("ours", []), by.get("theirs", [])
        if not ours or not theirs:
            continue
        values = [(med(ours, k), med(theirs, k)) for k in ("rps", "p99_ms", "cpu_ms_per_req")]
        (orps, trps), (op99, tp99), (ocpu, tcpu) = values
        out.append(
            f"{scenario:<12} {conc:>3} {fmt(orps):>10} {fmt(trps):>8} {ratio(orps, trps):>6} "
            f"{fmt(op99):>9} {fmt(tp99):>8} {ratio(op99, tp99):>6} {fmt(ocpu, 3):>9} {fmt(tcpu, 3):>8} "
            f"{ratio(ocpu, tcpu):>6}"
        )
    out.append("(CPU = server CPU ms per request, load generator excluded; `?` = not measured)")
    return "\n".join(out)


if __name__ == "__main__":
    main()
