#!/usr/bin/env bash
# The quick start's main job: set up the checkout, build an environment and run a command
# in it. `npm run demo` builds a real Debian environment (namespace backend; ~1 minute the
# first time, instant afterwards); `npm run demo -- mock` uses the mock backend (anywhere, seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
node scripts/ensure-ready.mjs >/dev/null
KARAPACE="node $PWD/cli/dist/bundle/karapace.cjs"
example="${1:-debian}"
work="${XDG_CACHE_HOME:-$HOME/.cache}/karapace-demo/$example"
mkdir -p "$work"
cp "examples/$example/karapace.toml" "$work/karapace.toml"
cd "$work"
say() { printf '\n$ %s\n' "$*"; }
say karapace build --name "demo-$example"
$KARAPACE build --name "demo-$example"
if [ "$example" = mock ]; then
  say karapace exec demo-mock -- sh -c "'cat var/lib/karapace-mock/packages/*'"
  $KARAPACE exec demo-mock -- sh -c 'cat var/lib/karapace-mock/packages/*'
else
  say karapace exec "demo-$example" -- sh -c "'. /etc/os-release; echo \$PRETTY_NAME; id -un; hello'"
  $KARAPACE exec "demo-$example" -- sh -c '. /etc/os-release; echo $PRETTY_NAME; id -un; hello'
fi
say karapace list
$KARAPACE list
printf '\nmanifest and lock: %s\n' "$work"
