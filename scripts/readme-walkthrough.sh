#!/usr/bin/env bash
# Follows README.md literally: runs every shell block marked for the walk-through, in the README's order, each in a
# new shell from the repository root, and fails on the first that does not succeed. A block is marked by an HTML
# comment on the line before its opening fence:
#   <!-- walkthrough: run -->                       must exit 0
#   <!-- walkthrough: run expect="REGEX" -->        must exit 0 and print a line matching REGEX (grep -E)
#   <!-- walkthrough: background ready="REGEX" -->  a server: started in the background, must print REGEX within
#                                                  WALKTHROUGH_READY_TIMEOUT seconds (default 600); stopped with
#                                                  SIGTERM at the end, and must then exit within 60 s
# Blocks without a marker are not run (the test command itself, examples with placeholders, other machines' steps).
# Nothing outside a scratch folder is touched: DYNAMO_HOME and DYNAMO_BIN_DIR (scripts/install.sh) and the model
# cache point into it, and its bin folder is put first on PATH, as a user's PATH holds /usr/local/bin.
#   bash scripts/readme-walkthrough.sh [README]
set -euo pipefail
cd "$(dirname "$0")/.."
readme=${1:-README.md}
work=$(mktemp -d "${TMPDIR:-/tmp}/dynamo-walkthrough.XXXXXX")
export DYNAMO_HOME=$work/home DYNAMO_BIN_DIR=$work/bin DYNAMO_CACHE_DIR=$work/cache
export PATH=$work/bin:$PATH
mkdir -p "$work/bin" "$work/blocks"
ready_timeout=${WALKTHROUGH_READY_TIMEOUT:-600}

# Split the marked blocks out: blocks/N.sh, and blocks/N.mode holding the marker's words.
awk -v dir="$work/blocks" '
  /^<!-- walkthrough: .* -->$/ { marker = $0; sub(/^<!-- walkthrough: /, "", marker); sub(/ -->$/, "", marker); armed = 1; next }
  armed && /^```/ && !inside { inside = 1; n++; print marker > (dir "/" n ".mode"); close(dir "/" n ".mode"); printf "" > (dir "/" n ".sh"); next }
  inside && /^```/ { inside = 0; armed = 0; close(dir "/" n ".sh"); next }
  inside { print >> (dir "/" n ".sh"); next }
  armed && !/^[[:space:]]*$/ { armed = 0 }
' "$readme"

count=$(find "$work/blocks" -name '*.sh' | wc -l)
if [ "$count" -eq 0 ]; then
  echo "walkthrough: no block of $readme is marked <!-- walkthrough: ... -->" >&2
  exit 1
fi

servers=()
stop_servers() {
  local pid
  for pid in "${servers[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${servers[@]}"; do
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "walkthrough: a background block (pid $pid) did not stop within 60 s of SIGTERM" >&2
      kill -KILL -- "-$pid" 2>/dev/null || true
      return 1
    fi
  done
}
trap 'stop_servers || true' EXIT

value_of() { # value_of MODE KEY: the quoted value of KEY="..." in the marker
  sed -n "s/.*$2=\"\\(.*\\)\".*/\\1/p" <<<"$1"
}

for i in $(seq "$count"); do
  block=$work/blocks/$i.sh log=$work/blocks/$i.log mode=$(cat "$work/blocks/$i.mode")
  echo "walkthrough: block $i/$count ($mode):"
  sed 's/^/    /' "$block"
  case "$mode" in
    run*)
      if ! bash -euo pipefail "$block" > "$log" 2>&1; then
        echo "walkthrough: block $i failed; its output:" >&2
        cat "$log" >&2
        exit 1
      fi
      expect=$(value_of "$mode" expect)
      if [ -n "$expect" ] && ! grep -Eq -- "$expect" "$log"; then
        echo "walkthrough: block $i printed no line matching '$expect'; its output:" >&2
        cat "$log" >&2
        exit 1
      fi
      ;;
    background*)
      ready=$(value_of "$mode" ready)
      setsid bash -euo pipefail "$block" > "$log" 2>&1 < /dev/null &
      servers+=("$!")
      deadline=$((SECONDS + ready_timeout))
      until grep -Eq -- "$ready" "$log"; do
        if ! kill -0 "${servers[-1]}" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
          echo "walkthrough: block $i did not print '$ready' (exited, or $ready_timeout s passed); its output:" >&2
          cat "$log" >&2
          exit 1
        fi
        sleep 1
      done
      ;;
    *)
      echo "walkthrough: block $i: unknown marker '$mode' (expected run, run expect=\"...\" or background ready=\"...\")" >&2
      exit 1
      ;;
  esac
done

stop_servers
trap - EXIT
echo "walkthrough: all $count marked blocks of $readme succeeded"
rm -rf "$work"
