#!/usr/bin/env node
// The `karapace` executable as packed. Installing puts the native front door from
// @karapace/native here when this machine has one (scripts/install-front-door.cjs); it runs
// exec/enter without Node and hands everything else to the bundle, as this file does.
require('../dist/bundle/karapace.cjs');
