#!/usr/bin/env bash
# End to end, issue 6: TTFT and ITL of `serve --mode disagg` against `--mode agg` on the same engines and model,
# with long prompts and concurrent decodes, measured by `dynamo bench` against each in turn (one run, same seed).
#
#   bash bench/disagg/run.sh [--model small] [--isl 1536] [--osl 64] [--concurrency 4] [--requests 24] [--threads 1]
#
# Both clusters have two engines: agg = 2 aggregated workers, disagg = 1 prefill + 1 decode worker with
# MinRemotePrefillTokens 512 (so every one of these prompts is prefilled remotely). Each engine gets --threads
# compute threads. Results: bench/results/disagg-e2e/{agg,disagg}/summary.json and a ratio table on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=small isl=1536 osl=64 concurrency=4 requests=24 threads=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --isl) isl=$2; shift 2 ;;
    --osl) osl=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "bench/disagg/run.sh: unknown argument '$1'" >&2; exit 1 ;;
  esac
done

out=bench/results/disagg-e2e
mkdir -p "$out"
dotnet build src/Dynamo.Cli -c Release -v q -nologo >/dev/null
dll=src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll

run() { # mode port extra-flags...
  local mode=$1 port=$2; shift 2
  DYNAMO__ENGINE__THREADS=$threads DYNAMO__GATEWAY__DISAGGREGATION__MINREMOTEPREFILLTOKENS=512 \
    dotnet "$dll" serve --model "$model" --port "$port" --mode "$mode" "$@" >"$out/$mode.serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 240); do
    grep -q "Dynamo is serving" "$out/$mode.serve.log" && break
    kill -0 $pid 2>/dev/null || { cat "$out/$mode.serve.log" >&2; exit 1; }
    sleep 0.5
  done
  # Warm-up (JIT, OpenBLAS threads, page faults in the KV pools) is excluded by --warmup.
  dotnet "$dll" bench --url "http://127.0.0.1:$port" --model "$model" --isl "$isl" --osl "$osl" --concurrency "$concurrency" \
    --requests "$requests" --warmup 2 --seed 1 --out "$out/$mode" >"$out/$mode.bench.log" 2>&1 || { cat "$out/$mode.bench.log" >&2; }
  curl -s "http://127.0.0.1:$port/metrics" | grep -E '^dynamo_frontend_disagg_prefills_total' >"$out/$mode.disagg-metrics.txt" || true
  kill -TERM $pid; wait $pid || true
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run agg 18411 --workers 2
run disagg 18412 --prefill-workers 1 --decode-workers 1
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
a = json.load(open(f"{out}/agg/summary.json")); d = json.load(open(f"{out}/disagg/summary.json"))
print("| metric | agg (2 workers) | disagg (1P+1D) | disagg / agg |")
print("| --- | --- | --- | --- |")
for key, name in [("ttft_ms", "TTFT"), ("itl_ms", "ITL"), ("e2e_ms", "e2e")]:
    for p in ("p50", "p90", "p99"):
        x, y = a[key][p], d[key][p]
        print(f"| {name} {p} ms | {x:.0f} | {y:.0f} | {y / x:.2f} |" if x else f"| {name} {p} ms | {x} | {y} | - |")
for key in ("output_tokens_per_s", "requests_per_s"):
    x, y = a[key], d[key]
    print(f"| {key} | {x:.2f} | {y:.2f} | {y / x:.2f} |")
print(f"| errors | {a['errors']} | {d['errors']} | |")
print("disagg prefill paths: " + open(f"{out}/disagg.disagg-metrics.txt").read().replace("\n", "; "))
PY
