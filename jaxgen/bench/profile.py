"""Per-op profile of a compiled XLA executable: which HLO ops a step spends its time in,
each with the JAX operation it comes from (HLO metadata `op_name`).

On CPU, XLA records one trace event per op only with ``--xla_cpu_enable_xprof_traceme=true``
in ``XLA_FLAGS`` before JAX starts (``harness.configure`` sets it when profiling is
asked for); GPU traces always have per-kernel events.
"""

import collections
import gzip
import json
import re
import tempfile
from pathlib import Path

import jax

TRACEME_FLAG = "--xla_cpu_enable_xprof_traceme=true"

_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s([a-z][\w\-]*)\(")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_NUMBERED = re.compile(r"[.]\d+$")


def hlo_ops(compiled):
    """{instruction name: (opcode, op_name)} of a compiled executable's optimized HLO."""
    ops = {}
    for line in compiled.as_text().splitlines():
        m = _INSTRUCTION.match(line)
        if m:
            op_name = _OP_NAME.search(line)
            ops[m.group(1)] = (m.group(3), op_name.group(1) if op_name else "")
    return ops


def trace_op_times(run, ops):
    """{instruction name: total microseconds} over a `run()` traced by jax.profiler, for
    the trace events named after an instruction of `ops`."""
    with tempfile.TemporaryDirectory() as d:
        jax.profiler.start_trace(d, create_perfetto_trace=True)
        try:
            run()
        finally:
            jax.profiler.stop_trace()
        traces = sorted(Path(d).rglob("*.trace.json.gz"))
        if not traces:
            return {}
        with gzip.open(traces[-1]) as f:
            events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    totals = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and e.get("name") in ops:
            totals[e["name"]] += float(e.get("dur", 0.0))
    return totals


def _primitive(op, opcode, source):
    """What an op computes: the JAX primitive of its source (the last element of op_name,
    e.g. conv_general_dilated, dot_general, reduce_sum), else the kind of op its name says
    (e.g. 'ynn_fusion' for XLA:CPU's YNNPACK calls, 'loop_fusion')."""
    name = source.rsplit("/", 1)[-1] if source else ""
    kind = _NUMBERED.sub("", op)
    return name or f"{kind} ({opcode}, no source)"


def profile(compiled, run, steps, top=15):
    """Where `steps` calls (`run()` does them) spend their time, per XLA op:
    {'ops': the `top` ops, each {'op', 'opcode', 'source', 'ms_per_step', 'share'},
     'by_primitive': every op's time summed by the JAX primitive it comes from, same keys
     less 'op', 'source'; 'traced_ms_per_step': the total}. Empty lists when the trace has
    no per-op events (on CPU: XLA_FLAGS lacks TRACEME_FLAG)."""
    ops = hlo_ops(compiled)
    totals = trace_op_times(run, ops)
    whole = sum(totals.values()) or 1.0
    rows = []
    for name, us in totals.most_common(top):
        opcode, source = ops[name]
        rows.append(
            {
                "op": name,
                "opcode": opcode,
                "source": source,
                "ms_per_step": us / 1e3 / steps,
                "share": us / whole,
            }
        )
    groups = collections.Counter()
    for name, us in totals.items():
        groups[_primitive(name, *ops[name])] += us
    by_primitive = [
        {"primitive": k, "ms_per_step": us / 1e3 / steps, "share": us / whole}
        for k, us in groups.most_common()
    ]
    traced = sum(totals.values()) / 1e3 / steps
    return {"ops": rows, "by_primitive": by_primitive, "traced_ms_per_step": traced}


def table(result, top=10):
    """Markdown tables of a `profile` result: time by primitive, then the top ops."""
    lines = [
        f"traced op time {result['traced_ms_per_step']:.1f} ms / step",
        "| primitive | ms / step | share |",
        "|---|---|---|",
    ]
    for r in result["by_primitive"][:top]:
        lines.append(f"| {r['primitive']} | {r['ms_per_step']:.1f} | {r['share']:.1%} |")
    lines += ["", "| op | opcode | ms / step | share | from |", "|---|---|---|---|---|"]
    for r in result["ops"][:top]:
        lines.append(
            f"| {r['op']} | {r['opcode']} | {r['ms_per_step']:.1f} | {r['share']:.1%} "
            f"| {r['source'][-90:]} |"
        )
    return "\n".join(lines)
