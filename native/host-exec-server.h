/* --host-exec SOCKET: the launcher's side of karapace-host-exec (host-exec.h). */
#ifndef KARAPACE_HOST_EXEC_SERVER_H
#define KARAPACE_HOST_EXEC_SERVER_H

#include "sandbox.h"

#include <sys/types.h>

/* Listens on the host path `socket` (mode 0600, a stale one replaced) and forks the
 * server: outside every namespace, in its own session, as the caller, with the
 * launcher's environment; it lives until the sandbox's pid 1 ends. Called after the id
 * maps are written and before pid 1 is released, so the socket exists when pid 1 binds
 * it and pid 1 never holds the listening fd. `ops` are the sandbox's mounts: a client's
 * working directory under a bound one runs the host command in its host path. */
void host_exec_start(const char *socket, pid_t pid1, const struct mount_op *ops, int n_ops);

#endif
