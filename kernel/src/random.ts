/**
 * Random hex for temporary names. node:crypto is required on first use: importing it
 * loads ~15 internal modules, a visible share of `exec` start-up, which never needs it.
 */
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';

const require = createRequire(import.meta.url);
let crypto: typeof Crypto | undefined;

export function randomHex(bytes: number): string {
  crypto ??= require('node:crypto') as typeof Crypto;
  return crypto.randomBytes(bytes).toString('hex');
}
