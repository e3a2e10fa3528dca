#!/usr/bin/env python3
"""P8: the planner against static pools and a reactive autoscaler, in replay (virtual time, deterministic).

Runs, on one trace and load shape:
  1. the planner:    dynamo replay --planner FILE                   (Dynamo:Planner:Policy as in FILE, normally sla)
  2. the reactive baseline: the same with DYNAMO__PLANNER__POLICY=threshold (ThresholdAutoscaler, HPA-like)
  3. static pools:   dynamo replay --workers N / --prefill-workers P --decode-workers D, judged on the planner's SLA
then prints, side by side, SLA attainment, GPU-hours and the ratio to the smallest static configuration (by
GPU-hours) that reaches the attainment goal (default 0.95). Every run's JSON stays in --out.

  python3 bench/p8_planner.py --trace bench/traces/AzureLLMInferenceTrace_conv.csv --planner configs/planner.yaml \
      --profile h100-70b --rate-schedule 0:1,600:3,1200:1 --out bench/results/p8/azure [--start 2] [--agg 1-10]
      [--disagg 1:1,1:2,...] [--goal 0.95] [--set Mode=agg --set Sla:TtftMs=6000 ...] [--extra "--min-remote-prefill 0"]
      [--dynamo "dotnet src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll"]
--set KEY=VALUE overrides Dynamo:Planner:KEY of the file for the planner runs (as DYNAMO__PLANNER__KEY environment
variables, which every verb reads over the file); --extra adds replay flags to every run, static ones included.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys


def run(cmd, out_json, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    if not os.path.exists(out_json):
        p = subprocess.run(cmd + ["--json", out_json, "--no-plots"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    with open(out_json) as f:
        return json.load(f)


def span(text):
    a, _, b = text.partition("-")
    return range(int(a), int(b or a) + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--planner", required=True)
    ap.add_argument("--profile", default="h100-70b")
    ap.add_argument("--rate-schedule")
    ap.add_argument("--speedup")
    ap.add_argument("--router", default="kv")
    ap.add_argument("--start", help="starting size of the planner runs: N (agg) or P:D (disagg); default the file's minimums")
    ap.add_argument("--agg", default="1-12", help="aggregated static sizes, e.g. 1-12")
    ap.add_argument("--disagg", default="", help="disaggregated static P:D list, e.g. 1:2,2:2,2:3")
    ap.add_argument("--goal", type=float, default=0.95)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dynamo", default="dotnet src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE: Dynamo:Planner:KEY for the planner runs")
    ap.add_argument("--extra", default="", help="replay flags added to every run")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    base = shlex.split(a.dynamo) + ["replay", "--trace", a.trace, "--profile", a.profile, "--router", a.router]
    if a.rate_schedule:
        base += ["--rate-schedule", a.rate_schedule]
    if a.speedup:
        base += ["--speedup", a.speedup]
    base += shlex.split(a.extra)
    overrides = {}
    for kv in a.set:
        k, _, v = kv.partition("=")
        overrides["DYNAMO__PLANNER__" + k.replace(":", "__").upper()] = v

    start = []
    if a.start:
        if ":" in a.start:
            p, d = a.start.split(":")
            start = ["--prefill-workers", p, "--decode-workers", d]
        else:
            start = ["--workers", a.start]

    rows = []
    planner = run(base + ["--planner", a.planner] + start, os.path.join(a.out, "planner.json"), overrides)
    rows.append(("planner (" + planner["planner"]["policy"] + ")", planner))
    threshold = run(base + ["--planner", a.planner] + start, os.path.join(a.out, "threshold.json"), {**overrides, "DYNAMO__PLANNER__POLICY": "threshold"})
    rows.append(("reactive (threshold)", threshold))

    slo = planner["sla_attainment_targets"]
    judge = ["--slo-ttft-ms", str(slo["ttft_ms"]), "--slo-itl-ms", str(slo["itl_ms"])]
    statics = []
    for n in span(a.agg) if a.agg else []:
        j = run(base + ["--mode", "agg", "--workers", str(n)] + judge, os.path.join(a.out, f"static-agg{n}.json"))
        statics.append((f"static agg {n}", j))
        if j["sla_attainment"] >= a.goal + 0.03:
            break  # larger ones only cost more
    for pd in [x for x in a.disagg.split(",") if x]:
        p, d = pd.split(":")
        j = run(base + ["--mode", "disagg", "--prefill-workers", p, "--decode-workers", d] + judge, os.path.join(a.out, f"static-disagg{p}p{d}d.json"))
        statics.append((f"static disagg {p}P:{d}D", j))

    passing = [s for s in statics if s[1]["sla_attainment"] >= a.goal]
    best = min(passing, key=lambda s: s[1]["gpu_hours"]) if passing else None
    print(f"| run | mode | GPUs (mean / peak) | SLA attainment | GPU-hours | ÷ smallest static ≥ {a.goal:.0%} | TTFT p90 ms | ITL p90 ms | scaling changes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, j in rows + ([best] if best else []) + [s for s in statics if s is not best]:
        ratio = f"{j['gpu_hours'] / best[1]['gpu_hours']:.3f}" if best else "n/a"
        changes = len(j["scaling"]) - 1
        print(f"| {name}{' (smallest ≥ goal)' if best is not None and j is best[1] else ''} | {j['mode']} | {j['mean_gpus']:.1f} / {j['peak_gpus']} | "
              f"{j['sla_attainment']:.4f} | {j['gpu_hours']:.2f} | {ratio} | {j['ttft_ms']['p90']:.0f} | {j['itl_ms']['p90']:.1f} | {changes} |")
    if not best:
        print(f"no static configuration tried reached {a.goal:.0%}: widen --agg / --disagg")
    summary = {"goal": a.goal, "sla": slo, "smallest_static": best[0] if best else None,
               "runs": {name: {k: j[k] for k in ("mode", "sla_attainment", "gpu_hours", "mean_gpus", "peak_gpus")} for name, j in rows + statics}}
    with open(os.path.join(a.out, "p8.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
