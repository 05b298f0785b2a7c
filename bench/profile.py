"""Where the time goes: sample stack processes with py-spy while a load runs, print the hottest frames.

py-spy attaches to a running process from outside (no instrumentation, so the figures are the same as
without it, minus the sampler's own CPU); --nonblocking keeps it from pausing the target. The raw output is
collapsed stacks ("frame;frame;frame count"), aggregated here into self time (the innermost frame) and
inclusive time (every frame on the stack), both as a share of all samples of that component.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLE_RATE = 200  # per second; enough to rank frames over a 10 s run


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pids: list[int], duration: float, out_dir: Path, label: str) -> list[tuple[Path, subprocess.Popen]]:
    """One sampler per pid, for `duration` seconds, raw output in out_dir/<label>-<pid>.txt."""
    exe = py_spy()
    if exe is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for pid in pids:
        out = out_dir / f"{label}-{pid}.txt"
        proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(duration)),
                "--rate",
                str(SAMPLE_RATE),
                "--format",
                "raw",
                "--nonblocking",
                "--gil",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        runs.append((out, proc))
    return runs


def summarize(runs: list[tuple[Path, subprocess.Popen]], top: int = 12) -> str:
    """Wait for the samplers, then the `top` frames by self and by inclusive share, for all pids together."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for out, proc in runs:
        proc.wait()
        if not out.exists():
            continue
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = [_short(f) for f in stack.split(";")]
            total += n
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if not total:
        return "    (no samples)"
    lines = [f"    {total} samples; self time:"]
    lines += [f"      {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("    inclusive (frames on the stack):")
    lines += [
        f"      {100 * n / total:5.1f}%  {f}"
        for f, n in inclusive.most_common(top * 2)
        if not f.startswith(("<module>", "run (", "_run_once", "run_forever", "main ("))
    ][:top]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'func (path/to/file.py:12)' → 'func (file.py)': line numbers split one function into many rows."""
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.split(':')[0]).name})" if where else name


def cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system) used so far by each group of processes, their children included."""
    from bench.measure import cpu_seconds as tree_cpu_seconds

    return {label: tree_cpu_seconds(pids) for label, pids in groups.items()}


def cpu_split(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    """'gateway 0.82 core, postgres 0.41 core, …' for the busiest groups over a run of `wall` seconds."""
    used = sorted(((after[k] - before.get(k, 0.0)) / wall, k) for k in after)
    return ", ".join(f"{k} {v:.2f}" for v, k in reversed(used) if v >= 0.01)
