/** The errors a remote raises, with stable codes. Messages name the remote, never the token. */
import { RuntimeFailure, UsageError, type KarapaceError } from '@karapace/kernel';

export { safeUrl, integrityError } from '@karapace/kernel';

export function unauthorized(remote: string, hadToken: boolean): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_UNAUTHORIZED', `the remote ${remote} refused the request (401): ${hadToken ? 'the token was not accepted' : 'it needs a token and none was given'}`, {
    hint: hadToken
      ? 'check the token (config `remotes.<name>.tokenEnv`, or the variable named by --token-env)'
      : 'set KARAPACE_REMOTE_TOKEN, pass --token-env VAR, or configure `remotes.<name>.tokenEnv`',
    data: { remote, status: 401 },
  });
}

export function forbidden(remote: string, reason: string): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_FORBIDDEN', `the remote ${remote} refused the request (403): ${reason}`, {
    hint: 'this token may not do that: pushing needs a token with the write scope',
    data: { remote, status: 403 },
  });
}

export function unreachable(remote: string, cause: unknown): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_UNREACHABLE', `cannot reach the remote ${remote}: ${(cause as Error)?.message ?? cause}`, {
    hint: 'check the URL and that the server is running (`curl <url>/healthz`)',
    cause,
    data: { remote },
  });
}

export function protocolError(remote: string, status: number, message: string): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_ERROR', `the remote ${remote} answered ${status}: ${message}`, {
    hint: 'run with --verbose; if the server rejected the data, check its request log',
    data: { remote, status },
  });
}

export function refConflict(remote: string, ref: string, message: string): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_REF_CONFLICT', `${ref} on ${remote} changed while pushing: ${message}`, {
    hint: 'someone else pushed the same tag; pull it to see what it is, or push again to overwrite',
    data: { remote, ref },
  });
}

export function notFound(remote: string, what: string): KarapaceError {
  return new RuntimeFailure('KP_REMOTE_NOT_FOUND', `${what} is not on the remote ${remote}`, {
    hint: 'check the name and tag (`name@tag`); the remote lists references at /v1/refs',
    data: { remote, what },
  });
}

export { badReference } from '@karapace/kernel';
