/**
 * Promise forms of the node:fs calls the build and store paths await, made from fs's
 * callback API. Loading node:fs/promises costs a command ~10 M instructions (it brings
 * readline, the watchers and fs.Dir with it), a tenth of a second env build's own work
 * (issue 18), and these calls need none of it. Same calls, same results and errors.
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';

export const chmod = promisify(fs.chmod);
export const lstat = promisify(fs.lstat);
export const mkdir = promisify(fs.mkdir);
export const readdir = promisify(fs.readdir);
export const readFile = promisify(fs.readFile);
export const rename = promisify(fs.rename);
export const rm = promisify(fs.rm);
export const unlink = promisify(fs.unlink);
export const stat = promisify(fs.stat);
export const writeFile = promisify(fs.writeFile);
/** A file descriptor (not a FileHandle): close it with `close`. */
export const open = promisify(fs.open);
export const fsync = promisify(fs.fsync);
export const close = promisify(fs.close);
