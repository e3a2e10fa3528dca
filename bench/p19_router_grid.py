#!/usr/bin/env python3
"""Router quality on multi-turn traffic (issue 19): `dynamo replay --workload conversation|agentic` on a simulated
cluster, every router at 1x, 2x and 3x load, as one table (bench/README.md, "Multi-turn workloads").

Load: the same sessions at every load, their whole timeline compressed by the multiplier (--rate-schedule 0:M: session
starts, reply estimates and think times all M times closer). Raising only --rate would not scale the load: a
conversation lasts minutes of think time, so a faster start packs the same turns into a window the tail dominates.
Columns: TTFT p50 / p90 / mean (ms), the router's prefix hit rate (kv_hit_rate), cluster_lru_hit_rate (one LRU cache of
the cluster's total KV on the same requests), hit ÷ LRU (the issue's goal: >= 90 %), worker_busy_max_over_mean,
the mean busy fraction, and the replay's wall seconds.

Router names are replay's --router values, plus kv-blocks: the KV router with the block cost (--kv-cost blocks), the
router before issue 19's predicted cost; and kv-busy0: the predicted cost without the busy cost (--busy-cost 0).
usage: python3 bench/p19_router_grid.py [--workers 16] [--profile h100-8b] [--routers kv,kv-busy0,kv-blocks,round-robin,least-loaded,oracle]
       [--loads 1,2,3] [--workloads conversation,agentic] [--conversation-rate 12 --conversation-sessions 1800]
       [--agentic-rate 0.8 --agentic-sessions 160] [--seed 0] [--out DIR] [--extra 'replay flags']
       [--dynamo "dotnet src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll"]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys


def router_flags(router):
    if router == "kv-blocks":
        return ["--router", "kv", "--kv-cost", "blocks"]
    if router == "kv-busy0":
        return ["--router", "kv", "--busy-cost", "0"]
    return ["--router", router]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--profile", default="h100-8b")
    ap.add_argument("--routers", default="kv,kv-busy0,kv-blocks,round-robin,least-loaded,oracle")
    ap.add_argument("--loads", default="1,2,3", help="load multipliers: --rate-schedule 0:M on the 1x workload")
    ap.add_argument("--workloads", default="conversation,agentic")
    ap.add_argument("--conversation-rate", type=float, default=12.0, help="1x: new conversations per second")
    ap.add_argument("--conversation-sessions", type=int, default=1800)
    ap.add_argument("--agentic-rate", type=float, default=0.8, help="1x: new agentic sessions per second")
    ap.add_argument("--agentic-sessions", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/p19", help="one replay JSON a run is kept here")
    ap.add_argument("--extra", default="", help="replay flags added to every run")
    ap.add_argument("--dynamo", default="dotnet src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for workload in args.workloads.split(","):
        base = getattr(args, f"{workload}_rate")
        sessions = getattr(args, f"{workload}_sessions")
        for load in args.loads.split(","):
            rate = base * float(load)  # the rate at which sessions start once compressed
            for router in args.routers.split(","):
                out = os.path.join(args.out, f"{workload}-{load}x-{router}.json")
                cmd = shlex.split(args.dynamo) + [
                    "replay", "--workload", workload, "--rate", f"{base:g}", "--rate-schedule", f"0:{load}", "--sessions", str(sessions),
                    "--workers", str(args.workers), "--profile", args.profile] + router_flags(router) + [
                    "--seed", str(args.seed), "--json", out, "--no-plots"] + shlex.split(args.extra)
                done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr}")
                with open(out) as f:
                    j = json.load(f)
                rows.append((workload, load, rate, router, j))
                print(f"{workload} {load}x {router}: {j['wall_s']:.1f} s", file=sys.stderr)

    print(f"{args.workers} workers, {args.profile}, seed {args.seed}\n")
    print("| workload | load (sessions/s) | router | requests | TTFT p50 / p90 / mean ms | hit rate | cluster LRU | hit ÷ LRU"
          " | busy max ÷ mean | busy mean | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for workload, load, rate, router, j in rows:
        t = j["ttft_ms"]
        hit, lru = j.get("kv_hit_rate"), j.get("cluster_lru_hit_rate")
        spread = j.get("worker_busy_max_over_mean")
        busy = [w["busy_fraction"] for w in j["per_worker"]]
        ratio = f"{hit / lru:.0%}" if hit is not None and lru else "n/a"
        print(f"| {workload} | {load}x ({rate:g}) | {router} | {j['requests']} | {t['p50']:.0f} / {t['p90']:.0f} / {t['mean']:.0f}"
              f" | {hit:.1%} | {lru:.1%} | {ratio} | {spread:.2f} | {sum(busy) / len(busy):.0%} | {j['wall_s']:.1f} |")


if __name__ == "__main__":
    main()
