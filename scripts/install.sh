#!/usr/bin/env bash
# Builds the `dynamo` command from this clone and puts it on the PATH.
#   bash scripts/install.sh            # as root: /usr/local/bin/dynamo; otherwise ~/.local/bin/dynamo
# DYNAMO_HOME (default ~/.dynamo) holds the published build; DYNAMO_BIN_DIR overrides where the link goes.
# Run it again after `git pull` to update; `rm -r ~/.dynamo "$(command -v dynamo)"` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

home=${DYNAMO_HOME:-$HOME/.dynamo}
if [ -n "${DYNAMO_BIN_DIR:-}" ]; then
  bin=$DYNAMO_BIN_DIR
elif [ "$(id -u)" -eq 0 ]; then
  bin=/usr/local/bin
else
  bin=$HOME/.local/bin
fi

echo "Building the dynamo command (Release) into $home/app: the first build takes a few minutes ..."
dotnet publish src/Dynamo.Cli -c Release -o "$home/app" --nologo -v quiet -clp:ErrorsOnly
mkdir -p "$bin"
ln -sfn "$home/app/dynamo" "$bin/dynamo"
echo "Installed $bin/dynamo -> $home/app/dynamo ($("$bin/dynamo" --version))"

case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Note: $bin is not on your PATH; add it, e.g. echo 'export PATH=\"$bin:\$PATH\"' >> ~/.bashrc, then open a new shell." ;;
esac
