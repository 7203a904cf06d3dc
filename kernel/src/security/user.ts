import { userInfo, type UserInfo } from 'node:os';
import type { InvokingUser } from './environment.js';

// getpwuid once per process: several modules ask on every exec.
let info: UserInfo<string> | undefined;

/** The user running karapace: environments are entered as this uid/gid/name/home (like Toolbx). */
export function invokingUser(env: NodeJS.ProcessEnv = process.env): InvokingUser {
  info ??= userInfo();
  return { uid: info.uid, gid: info.gid, name: info.username, home: env.HOME || info.homedir };
}
