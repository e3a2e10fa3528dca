#!/usr/bin/env bash
# The live planner on dynamo serve --engine mocker --planner (bench/README.md, "Planner: serve --planner").
#   grow-shrink: load 2 -> 6 -> 2 req/s (dynamo bench, constant arrivals, ISL 100, OSL 64); pools sampled from
#                /metrics every second into OUT/pools.csv; bench summaries per phase.
#   predict:     a steady 3 req/s of ISL 2048 / OSL 64; the planner's expected TTFT/ITL (dynamo_planner_expected_*)
#                against what dynamo bench measures, after a warm-up.
# Usage: bench/planner/serve_planner.sh grow-shrink|predict [OUT]   (from the repository root, after a Release build)
set -euo pipefail
MODE=${1:?grow-shrink or predict}
OUT=${2:-bench/results/planner-$MODE}
DYNAMO=(dotnet src/Dynamo.Cli/bin/Release/net10.0/dynamo.dll)
mkdir -p "$OUT"
"${DYNAMO[@]}" serve --engine mocker --planner --config "bench/planner/$MODE.yaml" --port 0 > "$OUT/serve.log" 2>&1 &
SERVE=$!
POLL=
cleanup() { [ -n "$POLL" ] && kill "$POLL" 2>/dev/null; kill -TERM "$SERVE" 2>/dev/null || true; wait "$SERVE" 2>/dev/null || true; }
trap cleanup EXIT
URL=
for _ in $(seq 240); do
  URL=$(grep -oE 'at http://[^ ]+/v1' "$OUT/serve.log" | head -1 | sed -e 's/^at //' -e 's|/v1$||') || true
  [ -n "$URL" ] && break
  sleep 0.5
done
[ -n "$URL" ] || { echo "serve did not start:"; cat "$OUT/serve.log"; exit 1; }
metric() { grep -E "^$1 " <<<"$2" | awk '{print $2}' | head -1; }
(
  start=$(date +%s.%N)
  echo "t_s,prefill_actual,decode_actual,prefill_desired,decode_desired,expected_ttft_ms,expected_itl_ms,observed_rate" > "$OUT/pools.csv"
  while true; do
    m=$(curl -s "$URL/metrics" || true)
    t=$(echo "$(date +%s.%N) - $start" | bc)
    printf '%.1f,%s,%s,%s,%s,%s,%s,%s\n' "$t" \
      "$(metric 'dynamo_planner_actual_workers\{pool="prefill"\}' "$m")" "$(metric 'dynamo_planner_actual_workers\{pool="decode"\}' "$m")" \
      "$(metric 'dynamo_planner_desired_workers\{pool="prefill"\}' "$m")" "$(metric 'dynamo_planner_desired_workers\{pool="decode"\}' "$m")" \
      "$(echo "$(metric dynamo_planner_expected_time_to_first_token_seconds "$m") * 1000" | bc -l)" \
      "$(echo "$(metric dynamo_planner_expected_inter_token_latency_seconds "$m") * 1000" | bc -l)" \
      "$(metric dynamo_planner_observed_request_rate "$m")" >> "$OUT/pools.csv"
    sleep 1
  done
) &
POLL=$!
bench() { "${DYNAMO[@]}" bench --url "$URL" --model tiny --no-plots --seed "$RANDOM" "$@"; }
if [ "$MODE" = grow-shrink ]; then
  i=0
  for phase in "2 10" "6 14" "2 14"; do
    set -- $phase
    i=$((i + 1))
    bench --rate "$1" --arrival constant --duration "$2" --isl 100 --osl 64 --json "$OUT/phase$i-$1rps.json" > "$OUT/phase$i.txt" 2>&1
  done
else
  bench --rate 3 --arrival constant --duration 50 --warmup 20 --isl 2048 --osl 64 --json "$OUT/bench.json" > "$OUT/bench.txt" 2>&1
fi
sleep 4
curl -s "$URL/metrics" | grep '^dynamo_planner_' > "$OUT/planner-metrics.txt"
echo "done: $OUT"
