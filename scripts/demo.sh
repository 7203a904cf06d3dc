#!/usr/bin/env bash
# The quick start's main job: set up the checkout, build an environment and run a command in it.
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/ensure-ready.mjs >/dev/null
KARAPACE="node $PWD/cli/dist/bundle/karapace.js"
work=$(mktemp -d "${TMPDIR:-/tmp}/karapace-demo.XXXXXX")
export KARAPACE_STORE="${KARAPACE_STORE:-$work/store}"
cp examples/mock/karapace.toml "$work/"
cd "$work"
echo "\$ karapace build --name demo"
$KARAPACE build --name demo
echo
echo "\$ karapace exec demo -- sh -c 'cat var/lib/karapace-mock/packages/*'"
$KARAPACE exec demo -- sh -c 'cat var/lib/karapace-mock/packages/*'
echo
echo "\$ karapace list"
$KARAPACE list
echo
echo "store: $KARAPACE_STORE (remove it with: rm -rf $work)"
