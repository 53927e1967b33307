"""The summary of one benches/side-by-side.sh run, as Markdown on stdout.

Reads the raw folder the script wrote: wrk's outputs, the twin's oracle and status
before and after the ingest, the harness run's summary.json, the machine and the
commands. Usage: python3 benches/side_by_side_summary.py RAW ROUNDS SECS
"""

import json
import re
import statistics
import sys
from pathlib import Path

raw, rounds, secs = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])


def wrk_rate(path):
    m = re.search(r"Requests/sec:\s+([\d.]+)", path.read_text())
    return float(m.group(1)) if m else None


def wrk_p99(path):
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", path.read_text(), re.M)
    if not m:
        return None
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return float(m.group(1)) * scale


def wrk_duration(path):
    m = re.search(r"requests in ([\d.]+)(ms|s|m),", path.read_text())
    if not m:
        return secs
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="{:,.0f}"):
    return "n/a" if x is None else spec.format(x)


rows = []
twin = [wrk_rate(raw / f"health-twin-{r}.txt") for r in range(1, rounds + 1)]
bare = [wrk_rate(raw / f"health-bare-{r}.txt") for r in range(1, rounds + 1)]
t, b = median(twin), median(bare)
share = t / b if t and b else None
rows.append(("`GET /health`, twin", f"{fmt(t)} req/s", "per round: " + ", ".join(fmt(x) for x in twin)))
rows.append(("`GET /health`, bare hyper", f"{fmt(b)} req/s", "per round: " + ", ".join(fmt(x) for x in bare)))
rows.append(("twin / bare", fmt(share, "{:.0%}"), "target: at least 80%"))

applied, per_round = 0, []
for r in range(1, rounds + 1):
    before = load(raw / f"ingest-oracle-before-{r}.json")
    after = load(raw / f"ingest-oracle-after-{r}.json")
    if not before or not after:
        per_round.append(None)
        continue
    n = after["oracle"]["actions"]["applies"] - before["oracle"]["actions"]["applies"]
    applied += n
    per_round.append(n / wrk_duration(raw / f"batch-{r}.txt"))
rate = median(per_round)
p99s = [wrk_p99(raw / f"batch-{r}.txt") for r in range(1, rounds + 1)]
rows.append((
    "batch ingest (twin's count of applied actions)",
    f"{fmt(rate)} actions/s",
    "per round: " + ", ".join(fmt(x) for x in per_round)
    + f"; batch p99 {fmt(median(p99s), '{:.1f}')} ms; target: 1,000,000",
))

s0, s1 = load(raw / "ingest-status-before.json"), load(raw / "ingest-status-after.json")
if s0 and s1 and s0.get("rss_bytes") and s1.get("rss_bytes") and applied:
    grown = s1["rss_bytes"] - s0["rss_bytes"]
    rows.append((
        "twin RSS through the ingest",
        f"{s0['rss_bytes'] / 2**20:,.0f} -> {s1['rss_bytes'] / 2**20:,.0f} MiB",
        f"{grown / applied:,.0f} bytes per action applied ({applied:,} applied; every store holding what its bound keeps)",
    ))

h = load(raw / "harness-run" / "summary.json")
if h:
    cpu = h.get("cpu", {}).get("process_s")
    dur = h.get("duration_s")
    rows.append((
        "harness CPU at 2,000 actions/s",
        fmt(cpu / dur if cpu and dur else None, "{:.1%}") + " of one core",
        f"{fmt(cpu, '{:.1f}')} CPU-s over {fmt(dur, '{:.0f}')} s; verdict {h.get('verdict', {}).get('pass', h.get('verdict'))}; target: at most 5%",
    ))

def read_int(path):
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


for who in ("twin", "anvil"):
    b0, b1 = read_int(raw / f"rpc-{who}-blocks-before.txt"), read_int(raw / f"rpc-{who}-blocks-after.txt")
    send = raw / f"rpc-{who}-send.txt"
    if b0 is None or b1 is None or not send.exists():
        continue
    mined = b1 - b0
    t0 = float((raw / f"rpc-{who}-time-before.txt").read_text())
    t1 = float((raw / f"rpc-{who}-time-after.txt").read_text())
    sent = wrk_duration(send)
    rows.append((
        f"`eth_sendRawTransaction`, {who} (a block per transaction)",
        f"{fmt(mined / (t1 - t0))} tx/s mined",
        f"{mined:,} blocks by its own eth_blockNumber over {t1 - t0:,.1f} s: {sent:.0f} s of load, "
        f"then {max(t1 - t0 - sent, 0):,.1f} s until it answered again; "
        f"{fmt(wrk_rate(send))} sends/s admitted, p99 {fmt(wrk_p99(send), '{:.1f}')} ms",
    ))
for who in ("twin", "anvil"):
    failed = raw / f"rpc-{who}-failed.txt"
    if failed.exists():
        detail = failed.read_text().strip()
        send = raw / f"rpc-{who}-send.txt"
        if send.exists():
            detail += (f"; while it answered, {fmt(wrk_rate(send))} sends/s admitted,"
                       f" p99 {fmt(wrk_p99(send), '{:.1f}')} ms")
        log = raw / f"{who}.log"
        said = [l for l in log.read_text(errors="replace").splitlines() if l.strip()] if log.exists() else []
        if said:
            detail += f"; its log's first line: `{said[0].strip()}`"
        rows.append((f"`eth_sendRawTransaction`, {who}", "none mined that it reported", detail))
for who in ("twin", "anvil"):
    logs = raw / f"rpc-{who}-getlogs.txt"
    if logs.exists():
        rows.append((
            f"`eth_getLogs` over the whole chain, {who}",
            f"{fmt(wrk_rate(logs))} req/s",
            f"p99 {fmt(wrk_p99(logs), '{:.1f}')} ms",
        ))
sub = raw / "subgraph-twin.txt"
if sub.exists():
    rows.append((
        "subgraph queries, twin (anvil has none)",
        f"{fmt(wrk_rate(sub))} req/s",
        f"offers and exchanges, first 10; p99 {fmt(wrk_p99(sub), '{:.1f}')} ms",
    ))

print("# Side by side\n")
print("Written by `benches/side-by-side.sh` (rerun it to reproduce). Raw output in")
print("[`raw/`](raw/): wrk's own reports, the twin's oracle and status, the harness's run.\n")
print("## Machine and versions\n")
print("```text")
print((raw / "machine.txt").read_text().strip())
print("```\n")
print("## Summary\n")
print("| measured | figure | detail |")
print("|---|---|---|")
for what, figure, detail in rows:
    print(f"| {what} | {figure} | {detail} |")
print("\n## Commands, in order\n")
print("```sh")
print((raw / "commands.txt").read_text().strip())
print("```")
