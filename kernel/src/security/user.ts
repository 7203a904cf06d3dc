import { userInfo } from 'node:os';
import type { InvokingUser } from './environment.js';

/** The user running karapace: environments are entered as this uid/gid/name/home (like Toolbx). */
export function invokingUser(env: NodeJS.ProcessEnv = process.env): InvokingUser {
  const info = userInfo();
  return { uid: info.uid, gid: info.gid, name: info.username, home: env.HOME || info.homedir };
}
