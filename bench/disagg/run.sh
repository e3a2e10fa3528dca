#!/usr/bin/env bash
# End to end, issue 6: TTFT and ITL of `serve --mode disagg` against `--mode agg` on the same engines and model,
# with long prompts and concurrent decodes, measured by `dynamo bench` against each, in interleaved rounds.
#
#   bash bench/disagg/run.sh [--model small] [--isl 1536] [--osl 64] [--concurrency 4] [--requests 24] [--threads 1]
#                            [--rounds 2]
#
# Both clusters have two engines: agg = 2 aggregated workers, disagg = 1 prefill + 1 decode worker with
# MinRemotePrefillTokens 512 (so every one of these prompts is prefilled remotely). Each engine gets --threads
# compute threads. The configurations alternate round by round (agg, disagg, then disagg, agg, ...) so drift in the
# neighbours' load falls on both. Results: bench/results/disagg-e2e/round-N/{agg,disagg}/summary.json (cleared at
# the start) and a table on stdout: each configuration's median over the rounds, and the median of the per-round
# ratios. Any failed step (a cluster that does not start, a failed or erroring bench run, a disagg run that did not
# prefill remotely) stops the script with a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=small isl=1536 osl=64 concurrency=4 requests=24 threads=1 rounds=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --isl) isl=$2; shift 2 ;;
    --osl) osl=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "bench/disagg/run.sh: unknown argument '$1'" >&2; exit 1 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench/disagg/run.sh: --rounds must be a whole number >= 1 (got '$rounds')" >&2; exit 1; }

out=bench/results/disagg-e2e
# Nothing from an earlier run may be read as this run's result.
rm -rf "$out"
mkdir -p "$out"
dotnet build src/Dynamo.Cli -c Release -v q -nologo >/dev/null
dll=src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll

serve_pid=
stop_serve() { if [[ -n "$serve_pid" ]] && kill -0 "$serve_pid" 2>/dev/null; then kill -TERM "$serve_pid"; wait "$serve_pid" || true; fi; serve_pid=; }
trap stop_serve EXIT
fail() { echo "bench/disagg/run.sh: $*" >&2; exit 1; }

run() { # dir mode port extra-flags...
  local dir=$1 mode=$2 port=$3; shift 3
  mkdir -p "$dir"
  DYNAMO__ENGINE__THREADS=$threads DYNAMO__GATEWAY__DISAGGREGATION__MINREMOTEPREFILLTOKENS=512 \
    dotnet "$dll" serve --model "$model" --port "$port" --mode "$mode" "$@" >"$dir/serve.log" 2>&1 &
  serve_pid=$!
  local ready=
  for _ in $(seq 1 240); do
    grep -q "Dynamo is serving" "$dir/serve.log" && { ready=1; break; }
    kill -0 "$serve_pid" 2>/dev/null || { cat "$dir/serve.log" >&2; fail "$mode cluster exited before serving"; }
    sleep 0.5
  done
  [[ -n "$ready" ]] || { cat "$dir/serve.log" >&2; fail "$mode cluster not serving after 120 s"; }
  # Warm-up (JIT, OpenBLAS threads, page faults in the KV pools) is excluded by --warmup.
  dotnet "$dll" bench --url "http://127.0.0.1:$port" --model "$model" --isl "$isl" --osl "$osl" --concurrency "$concurrency" \
    --requests "$requests" --warmup 2 --seed 1 --out "$dir" >"$dir/bench.log" 2>&1 \
    || { rc=$?; cat "$dir/bench.log" >&2; fail "dynamo bench against $mode failed (exit code $rc)"; }
  [[ -s "$dir/summary.json" ]] || fail "dynamo bench against $mode wrote no $dir/summary.json"
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["errors"] == 0 and s["requests"] > 0 else 1)' "$dir/summary.json" \
    || { cat "$dir/bench.log" >&2; fail "$mode: requests failed (see $dir/summary.json errors_by_kind)"; }
  curl -sf "http://127.0.0.1:$port/metrics" >"$dir/metrics.txt" || fail "could not read $mode's /metrics"
  grep -E '^dynamo_frontend_disagg_prefills_total' "$dir/metrics.txt" >"$dir/disagg-metrics.txt" || true
  if [[ "$mode" == disagg ]] && ! grep -qE 'path="remote",reason=""} [1-9]' "$dir/disagg-metrics.txt"; then
    fail "disagg: no prompt was prefilled remotely ($(tr '\n' ' ' <"$dir/disagg-metrics.txt")): not the path this compares"
  fi
  kill -TERM "$serve_pid"
  wait "$serve_pid" || fail "$mode cluster exited with code $? on SIGTERM (see $dir/serve.log)"
  serve_pid=
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
  if (( round % 2 == 1 )); then order="agg disagg"; else order="disagg agg"; fi
  for mode in $order; do
    if [[ $mode == agg ]]; then run "$out/round-$round/agg" agg 18411 --workers 2
    else run "$out/round-$round/disagg" disagg 18412 --prefill-workers 1 --decode-workers 1; fi
  done
  echo "round $round done ($order), load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = [(json.load(open(f"{out}/round-{r}/agg/summary.json")), json.load(open(f"{out}/round-{r}/disagg/summary.json"))) for r in range(1, rounds + 1)]
def value(s, key, p=None): return s[key][p] if p else s[key]
print(f"{rounds} interleaved round(s); agg and disagg columns: median over rounds; ratio: median of the per-round disagg / agg")
print("| metric | agg (2 workers) | disagg (1P+1D) | disagg / agg | per-round ratios |")
print("| --- | --- | --- | --- | --- |")
rows = [(k, n, p) for k, n in (("ttft_ms", "TTFT"), ("itl_ms", "ITL"), ("e2e_ms", "e2e")) for p in ("p50", "p90", "p99")]
rows += [(k, k, None) for k in ("output_tokens_per_s", "requests_per_s")]
for key, name, p in rows:
    a = [value(x, key, p) for x, _ in runs]; d = [value(y, key, p) for _, y in runs]
    ratios = [y / x for x, y in zip(a, d) if x]
    label = f"{name} {p} ms" if p else name
    ratio = f"{statistics.median(ratios):.2f}" if ratios else "-"
    print(f"| {label} | {statistics.median(a):.1f} | {statistics.median(d):.1f} | {ratio} | {', '.join(f'{r:.2f}' for r in ratios)} |")
print(f"| errors | {sum(x['errors'] for x, _ in runs)} | {sum(y['errors'] for _, y in runs)} | | |")
for r in range(1, rounds + 1):
    print(f"round {r} disagg prefill paths: " + open(f"{out}/round-{r}/disagg/disagg-metrics.txt").read().strip().replace("\n", "; "))
PY
