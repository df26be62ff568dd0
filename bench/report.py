#!/usr/bin/env python3
"""Turns one bench/run.sh output directory into the Markdown tables of bench/RESULTS.md.

Reads OUT/index.tsv (one line per measured cell), OUT/facts.tsv (profile, key, value) and
OUT/machine.tsv. Medians over repeats; "added" is the median of per-repeat (gateway - direct)
differences, direct and gateway having run back to back.
"""
import json
import os
import statistics
import sys

OUT = sys.argv[1]
CLK = os.sysconf("SC_CLK_TCK")


def rows(name):
    path = os.path.join(OUT, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def local(path):
    """Index entries name files by absolute path; the directory may have moved since."""
    return os.path.join(OUT, os.path.basename(path))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=3):
    return "–" if v is None else f"{v:.{digits}f}"


def oha(path):
    with open(path) as f:
        d = json.load(f)
    codes = d.get("statusCodeDistribution", {}) or {}
    errors = d.get("errorDistribution", {}) or {}
    ok = sum(n for code, n in codes.items() if str(code).startswith("2"))
    total = sum(codes.values()) + sum(errors.values())
    pct = d.get("latencyPercentiles", {}) or {}
    ms = lambda k: None if pct.get(k) is None else pct[k] * 1000
    return {
        "rps": d["summary"].get("requestsPerSec") or 0.0,
        "p50": ms("p50"), "p99": ms("p99"), "p999": ms("p99.9"),
        "errors": total - ok, "total": total,
        "error_kinds": list(errors)[:2] + [c for c in codes if not str(c).startswith("2")][:2],
    }


index = rows("index.tsv")
facts = {}
for profile, key, value in rows("facts.tsv"):
    facts.setdefault(profile, {})[key] = value
machine = dict(rows("machine.tsv"))

# ---- load cells -------------------------------------------------------------------------
cells = {}  # (profile, kind, c) -> {rep: {role: (result, ticks, redis_ticks)}}
for profile, test, kind, c, rep, role, path, ticks, rticks in index:
    if test != "load":
        continue
    cells.setdefault((profile, kind, int(c)), {}).setdefault(rep, {})[role] = (
        oha(local(path)), int(ticks), int(rticks))

load = {}
for key, reps in cells.items():
    pairs = [r for r in reps.values() if "direct" in r and "gateway" in r]
    g = [p["gateway"][0] for p in pairs]
    d = [p["direct"][0] for p in pairs]
    cpu = [p["gateway"][1] / CLK / max(p["gateway"][0]["total"], 1) * 1e6 for p in pairs]
    rcpu = [p["gateway"][2] / CLK / max(p["gateway"][0]["total"], 1) * 1e6 for p in pairs]
    load[key] = {
        "g_rps": med([x["rps"] for x in g]), "d_rps": med([x["rps"] for x in d]),
        "g50": med([x["p50"] for x in g]), "g99": med([x["p99"] for x in g]),
        "g999": med([x["p999"] for x in g]),
        "d50": med([x["p50"] for x in d]), "d99": med([x["p99"] for x in d]),
        "d999": med([x["p999"] for x in d]),
        "a50": med([a["p50"] - b["p50"] for a, b in zip(g, d)]),
        "a99": med([a["p99"] - b["p99"] for a, b in zip(g, d)]),
        "errors": sum(x["errors"] for x in g), "requests": sum(x["total"] for x in g),
        "kinds": sorted({k for x in g for k in x["error_kinds"]}),
        "cpu_us": med(cpu), "redis_us": med(rcpu), "n": len(pairs),
    }

out = []
p = out.append
p("### Load (oha; medians of %s repeats; latency in ms)" % machine.get("repeats", "?"))
p("")
p("| profile | body | c | gateway rps | direct rps | gw p50 | gw p99 | gw p99.9 | direct p50 | direct p99 | direct p99.9 | **added p50** | **added p99** | errors | gw CPU µs/req | Redis CPU µs/req |")
p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
order = {"passthrough": 0, "embedded": 1, "distributed": 2, "distributed-nopub": 3}
for (profile, kind, c), v in sorted(load.items(), key=lambda kv: (order.get(kv[0][0], 9), kv[0][1], kv[0][2])):
    redis = fmt(v["redis_us"], 0) if profile.startswith("distributed") else "–"
    err = f"{v['errors']}/{v['requests']}" + (f" ({', '.join(v['kinds'])})" if v["kinds"] else "")
    p(f"| {profile} | {kind} | {c} | {v['g_rps']:,.0f} | {v['d_rps']:,.0f} | {fmt(v['g50'])} | {fmt(v['g99'])} | {fmt(v['g999'])} | {fmt(v['d50'])} | {fmt(v['d99'])} | {fmt(v['d999'])} | **{fmt(v['a50'])}** | **{fmt(v['a99'])}** | {err} | {fmt(v['cpu_us'], 0)} | {redis} |")

# ---- memory ------------------------------------------------------------------------------
p("")
p("### Memory and concurrent streams")
p("")
p("| profile | idle RSS MiB | peak RSS (VmHWM) after c≤256 MiB | streams held | peak open at once | errors | RSS while held MiB |")
p("|---|--:|--:|--:|--:|--:|--:|")
hold = {}
for profile, test, kind, c, rep, role, path, ticks, _ in index:
    if test == "hold":
        with open(local(path)) as f:
            hold[profile] = json.load(f)
mib = lambda kb: None if kb is None else int(kb) / 1024
for profile in sorted(facts, key=lambda x: order.get(x, 9)):
    f = facts[profile]
    if "idle_rss_kb" not in f:
        continue
    h = hold.get(profile)
    held = f"{h['streams']}" if h else "–"
    p(f"| {profile} | {fmt(mib(f.get('idle_rss_kb')), 1)} | {fmt(mib(f.get('peak_rss_kb')), 1)} | {held} | {h['peak_open'] if h else '–'} | {(str(h['errors']) + ((' (' + str(h['first_error']) + ')') if h.get('first_error') else '')) if h else '–'} | {fmt(mib(f.get('hold_rss_kb')), 1)} |")

# ---- paced streams -----------------------------------------------------------------------
paced = {}
for profile, test, kind, c, rep, role, path, ticks, _ in index:
    for starts in ("paced", "spread"):
        if test.startswith(starts):
            with open(local(path)) as f:
                paced.setdefault((profile, starts), {}).setdefault(test, {})[role] = json.load(f)
if paced:
    p("")
    p("### Streaming: 64 chunks 20 ms apart (bench-stream; time to first `data:` event and gaps between events; ms; medians over repeats)")
    p("")
    p("Starts: *burst* = the streams open in the same instant (TTFB includes waiting behind the others' starts); *spread* = their starts spread over `PACED_RAMP_MS`.")
    p("")
    p("| profile | starts | streams | TTFB direct p50/p99 | TTFB gateway p50/p99 | **added TTFB p50/p99** | gap direct p50/p99/max | gap gateway p50/p99/max | coalesced reads gw (direct) | errors |")
    p("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for profile, starts in sorted(paced, key=lambda x: (order.get(x[0], 9), x[1])):
        runs = [r for r in paced[(profile, starts)].values() if "direct" in r and "gateway" in r]
        g = lambda role, part, q: med([r[role][part][q] for r in runs])
        a50 = med([r["gateway"]["ttfb_ms"]["p50"] - r["direct"]["ttfb_ms"]["p50"] for r in runs])
        a99 = med([r["gateway"]["ttfb_ms"]["p99"] - r["direct"]["ttfb_ms"]["p99"] for r in runs])
        errors = sum(r["gateway"]["errors"] for r in runs)
        streams = sum(r["gateway"]["streams"] for r in runs)
        co_g = sum(r["gateway"]["coalesced_reads"] for r in runs)
        co_d = sum(r["direct"]["coalesced_reads"] for r in runs)
        label = "burst" if starts == "paced" else "spread"
        p(f"| {profile} | {label} | {streams} | {fmt(g('direct','ttfb_ms','p50'))} / {fmt(g('direct','ttfb_ms','p99'))} | {fmt(g('gateway','ttfb_ms','p50'))} / {fmt(g('gateway','ttfb_ms','p99'))} | **{fmt(a50)} / {fmt(a99)}** | {fmt(g('direct','gap_ms','p50'),2)} / {fmt(g('direct','gap_ms','p99'),2)} / {fmt(g('direct','gap_ms','max'),2)} | {fmt(g('gateway','gap_ms','p50'),2)} / {fmt(g('gateway','gap_ms','p99'),2)} / {fmt(g('gateway','gap_ms','max'),2)} | {co_g} ({co_d}) | {errors} |")

# ---- issue 5 and 6 -----------------------------------------------------------------------
def delta(a, b, kind="json"):
    rows_ = []
    for c in (1, 64):
        x, y = load.get((a, kind, c)), load.get((b, kind, c))
        if x and y:
            rows_.append((c, x["a50"] - y["a50"], x["a99"] - y["a99"], x, y))
    return rows_

d5 = delta("distributed", "embedded")
if d5:
    p("")
    p("### Issue 5: distributed minus embedded added latency (json, ms)")
    p("")
    p("| c | embedded added p50/p99 | distributed added p50/p99 | **distributed − embedded p50/p99** |")
    p("|--:|--:|--:|--:|")
    for c, d50, d99, x, y in d5:
        p(f"| {c} | {fmt(y['a50'])} / {fmt(y['a99'])} | {fmt(x['a50'])} / {fmt(x['a99'])} | **{fmt(d50)} / {fmt(d99)}** |")

d6 = delta("distributed", "distributed-nopub")
ev = facts.get("distributed", {})
if d6 or "events_drained" in ev:
    p("")
    p("### Issue 6: event publishing and the pipeline")
    p("")
    if d6:
        p("| c | publishing off: added p50/p99 | on: added p50/p99 | **publishing cost p50/p99 (ms)** | CPU µs/req off → on |")
        p("|--:|--:|--:|--:|--:|")
        for c, d50, d99, x, y in d6:
            p(f"| {c} | {fmt(y['a50'])} / {fmt(y['a99'])} | {fmt(x['a50'])} / {fmt(x['a99'])} | **{fmt(d50)} / {fmt(d99)}** | {fmt(y['cpu_us'], 0)} → {fmt(x['cpu_us'], 0)} |")
        p("")
    if "events_drained" in ev:
        drained, secs = int(ev["events_drained"]), float(ev["events_drain_s"])
        timed = drained * float(ev.get("events_drain_fraction") or 1)
        p(f"- Drain: {ev.get('events_backlog')} events waiting in `{{prefix}}:events:0`; one dispatcher (file sink, daily JSONL) wrote {drained:,} lines; {timed:,.0f} of them between the first poll that saw the file and its last growth, {secs:.2f} s: **{timed / secs:,.0f} events/s** (dispatcher ready + first poll {float(ev['events_startup_s']):.2f} s after its start; dispatcher CPU {int(ev['dispatcher_cpu_ticks']) / CLK:.2f} s over drain + live).")
    if "live_delivered_total" in ev:
        live = oha(os.path.join(OUT, "events-live.json"))
        p(f"- Live: proxy at c=64 for {float(ev['live_load_s']):.1f} s answered {live['total']:,} calls ({live['rps']:,.0f}/s, {live['errors']} errors) with the dispatcher running; {int(ev['live_delivered_during_load']):,} lines reached the file during the load, {int(ev['live_delivered_total']):,} in all; the sink finished {float(ev['live_lag_after_load_s']):.2f} s after the load ended.")

# ---- what the nodes said -----------------------------------------------------------------
import glob
import re
notes = []
for path in sorted(glob.glob(os.path.join(OUT, "*-metrics.txt"))):
    profile = os.path.basename(path)[: -len("-metrics.txt")]
    dropped = {}
    for line in open(path):
        m = re.match(r"^(\S*dropped\S*?)(\{[^}]*\})?\s+([\d.e+]+)$", line.strip())
        if m and float(m.group(3)) > 0:
            dropped[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    if dropped:
        notes.append(f"- {profile}: " + ", ".join(f"`{k}` = {v:,.0f}" for k, v in dropped.items()))
ansi = re.compile(r"\x1b\[[0-9;]*m")
for path in sorted(glob.glob(os.path.join(OUT, "log-*.log"))):
    counts = {}
    for line in open(path, errors="replace"):
        line = ansi.sub("", line).strip()
        m = re.match(r"^\S+\s+(WARN|ERROR)\s+(\S+?):?\s+(.*)$", line)
        if not m:
            continue
        # Group by message, numeric fields (count=512) left out.
        message = re.sub(r"\s+\w+=[\d.]+\S*", "", m.group(3))[:120]
        key = f"{m.group(1)} {m.group(2)}: {message}"
        counts[key] = counts.get(key, 0) + 1
    if counts:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:3]
        notes.append(f"- {os.path.basename(path)[4:]}: " + "; ".join(f"{n}× `{k}`" for k, n in top))
if notes:
    p("")
    p("### Dropped events and node warnings during the run")
    p("")
    out.extend(notes)

print("\n".join(out))
