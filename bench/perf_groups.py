#!/usr/bin/env python3
"""Groups a flat `perf report --sort dso,symbol` by crate (or library) and turns sample shares
into CPU microseconds per request: share of all samples (user and kernel) x the process's CPU
per request from /proc.
Usage: perf_groups.py ALL.txt REQUESTS CPU_TICKS USER_TICKS"""
import os
import re
import sys

path, requests, ticks, user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
clk = os.sysconf("SC_CLK_TCK")
line_re = re.compile(r"^\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$")

def crate(dso, symbol):
    if dso != "llm-proxy":
        if "libc" in dso:
            if re.search(r"malloc|free|realloc|calloc|_int_|cfree|tcache", symbol):
                return "libc malloc/free"
            if re.search(r"mem(cpy|move|set|cmp)|str", symbol):
                return "libc mem*/str*"
            return "libc other (syscall wrappers…)"
        return dso
    s = symbol.lstrip("<&*(")
    s = re.sub(r"^(dyn |impl |mut )", "", s)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)", s)
    name = m.group(1) if m else s[:30]
    if name in ("core", "alloc", "std"):
        # Generic std code is charged to what it is about when the symbol says so.
        inner = re.search(r"(proxy_node|llm_proxy_\w+|actix_\w+|awc|tokio|serde_json|redis|h2|http)::", symbol)
        return f"{name} (for {inner.group(1)})" if inner else name
    return name

groups = {}
total = 0.0
with open(path) as f:
    for line in f:
        m = line_re.match(line)
        if not m:
            continue
        pct, dso, _, symbol = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        groups[crate(dso, symbol)] = groups.get(crate(dso, symbol), 0.0) + pct
        total += pct
cpu_us = ticks / clk / max(requests, 1) * 1e6
user_us = user / clk / max(requests, 1) * 1e6
print(f"gateway CPU per request: {cpu_us:.1f} µs ({user_us:.1f} µs user, {cpu_us - user_us:.1f} µs kernel)")
print()
print("| crate / library (self time) | share of samples | ≈ µs per request |")
print("|---|--:|--:|")
for name, pct in sorted(groups.items(), key=lambda kv: -kv[1])[:25]:
    print(f"| {name} | {pct / max(total, 1e-9) * 100:.1f}% | {pct / max(total, 1e-9) * cpu_us:.1f} |")
