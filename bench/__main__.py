"""python -m bench (or `python3 run.py bench`): start a stack, drive it with loadgen, print a table.

    python3 run.py bench                                   # memory_set + memory_get at concurrency 16 and 64
    python3 run.py bench --scenarios all --replicas gateway=2,memory=2
    python3 run.py bench --scenarios mixed,ws_latency --concurrency 64 --duration 15
    python3 run.py bench --scenarios mixed --tracing both   # the cost of OpenTelemetry tracing (off, then on)
    python3 run.py bench vectors    # vector memory: retrieval quality, embed throughput, search latency

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
from pathlib import Path

from bench import profile, pushdelay, tracesink
from shared.runtime.embedded import free_port
from shared.runtime.stack import Infra, Stack
from shared.runtime.supervisor import components, parse_replicas

HERE = Path(__file__).resolve().parent
ALL = ("health", "memory_set", "memory_get", "queue_cycle", "relay_send", "inbox", "mixed", "ws_latency")
NEEDS = {"queue_cycle": {"queue"}, "relay_send": {"relay"}, "inbox": {"relay"}, "ws_latency": {"relay"},
         "mixed": {"queue", "relay"}}


def run_loadgen(base: str, scenario: str, concurrency: int, duration: float, agents: int) -> dict:
    args = [sys.executable, str(HERE / "loadgen.py"), "--base", base, "--scenario", scenario,
            "--concurrency", str(concurrency), "--duration", str(duration), "--agents", str(agents)]
    if scenario == "ws_latency":
        args += ["--messages", "0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 300)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the load generator's own CPU (it has exited)
    loadgen_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"scenario": scenario, "concurrency": concurrency, "error": out.stderr[-500:]}
    return {**json.loads(lines[-1]), "loadgen_cpu_s": round(loadgen_cpu, 2)}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vectors"]:  # a sub-command with its own stack and options (bench/vectors.py)
        from bench import vectors

        return vectors.main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default="memory_set,memory_get", help=f"comma list or 'all' ({', '.join(ALL)})")
    p.add_argument("--concurrency", default="16,64")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--agents", type=int, default=16)
    p.add_argument("--replicas", default="", help="e.g. gateway=2,memory=2")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--profile", default="", help="components to sample with py-spy during each run, e.g. gateway,queue")
    p.add_argument("--tracing", choices=("off", "on", "both"), default="off",
                   help="OpenTelemetry tracing: on = every span exported over OTLP/HTTP to a local sink; "
                        "both = each scenario on a stack without tracing, then on one with it")
    a = p.parse_args(argv)
    built = set(components())
    wanted = ALL if a.scenarios == "all" else tuple(s.strip() for s in a.scenarios.split(",") if s.strip())
    scenarios = [s for s in wanted if NEEDS.get(s, set()) <= built]
    skipped = [s for s in wanted if s not in scenarios]
    replicas = parse_replicas(a.replicas)
    gateways = replicas.pop("gateway", 1)
    profiled = [c.strip() for c in a.profile.split(",") if c.strip()]

    rows = []
    for traced in {"off": (False,), "on": (True,), "both": (False, True)}[a.tracing]:
        if a.tracing != "off":
            print(f"tracing {'on (every span exported over OTLP/HTTP)' if traced else 'off'}:", flush=True)
        rows += run_stack(scenarios, replicas, gateways, a, profiled, traced)
    setup = f"replicas: gateway={gateways} " + " ".join(f"{k}={v}" for k, v in replicas.items())
    print(f"\n{setup}; duration {a.duration}s per run; skipped (not built yet): {', '.join(skipped) or 'none'}")
    if a.json:
        a.json.write_text(json.dumps({"setup": setup, "at": time.time(), "results": rows}, indent=2))


def run_stack(scenarios: list[str], replicas: dict[str, int], gateways: int, a: argparse.Namespace,
              profiled: list[str], traced: bool) -> list[dict]:
    """Start a private stack (tracing on or off), measure every scenario at every concurrency, stop it."""
    with tempfile.TemporaryDirectory(prefix="moltgrid-bench-") as tmp, tracesink.running(traced) as sink:
        infra = Infra.start(Path(tmp))
        env = {"MOLTGRID_RATE_LIMIT_PER_MINUTE": "100000000", "MOLTGRID_LOG_LEVEL": "warning"}
        if sink is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.endpoint
        stack = Stack(infra, infra.create_database_sync("bench"), log_dir=Path(tmp) / "logs", env=env)
        rows = []
        try:
            port = free_port()
            stack.start(replicas, gateways=gateways, ports=[port] * gateways)
            stack.wait_ready_blocking()
            for scenario in scenarios:
                for conc in (int(c) for c in a.concurrency.split(",")):
                    row = measure(stack, scenario, conc, a, profiled, Path(tmp) / "profiles")
                    rows.append({**row, "tracing": traced})
                    if sink is not None:
                        print(f"  spans exported so far: {sink.spans_received}", flush=True)
        finally:
            stack.stop()
            infra.stop()
        return rows


def measure(stack: Stack, scenario: str, conc: int, a: argparse.Namespace, profiled: list[str],
            profile_dir: Path) -> dict:
    """One load run: its loadgen figures, the stack's memory, CPU by component, optional py-spy profiles."""
    groups = stack.process_groups()
    samplers = {c: profile.start(groups.get(c, []), a.duration, profile_dir, f"{scenario}-{conc}-{c}")
                for c in profiled}
    pushes_before = pushdelay.buckets(stack.base_url) if scenario == "ws_latency" else None
    cpu_before, started = profile.cpu_seconds(groups), time.monotonic()
    result = run_loadgen(stack.base_url, scenario, conc, a.duration, a.agents)
    wall = time.monotonic() - started
    result["cpu_cores"] = profile.cpu_split(cpu_before, profile.cpu_seconds(groups), wall)
    result["cpu_cores"] += f", loadgen {result.get('loadgen_cpu_s', 0) / wall:.2f}"
    result["stack_pss_mb"] = round(stack.memory_bytes() / 2**20)
    print(_row(result), flush=True)
    print(f"  CPU cores (whole run incl. loadgen setup): {result['cpu_cores']}", flush=True)
    if pushes_before is not None:
        result["push_delay"] = pushdelay.quantiles(pushes_before, pushdelay.buckets(stack.base_url))
        print(f"  push alone (relay commit → socket write, gateway histogram): {result['push_delay']}", flush=True)
    for component, runs in samplers.items():
        print(f"  profile of {component}:\n{profile.summarize(runs)}", flush=True)
    return result


def _row(r: dict) -> str:
    if "error" in r:
        return f"{r['scenario']:<12} c={r['concurrency']:<3} FAILED: {r['error']}"
    errors = sum(r.get("errors", {}).values())
    return (f"{r['scenario']:<12} c={r['concurrency']:<3} {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:>7} ms  "
            f"p99 {r['p99_ms']:>7} ms  errors {errors:<5} stack PSS {r['stack_pss_mb']} MB")


if __name__ == "__main__":
    main()
