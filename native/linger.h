#ifndef KARAPACE_LINGER_H
#define KARAPACE_LINGER_H
#include <stdbool.h>
#include <sys/types.h>

/* pid 1 -> launcher messages on the notify pipe (PROTOCOL.md "Joining"). */
#define NOTIFY_READY 'R'  /* the root is in place: commands may join */
#define NOTIFY_EXITED 'X' /* followed by "<code>\n": the command ended, joined ones still run */

/* pid 1 with --wait-joined: supervise the command; when it ends while joined
 * commands still run, hand its status to the launcher through notify_fd and
 * keep the sandbox until the last joined command has ended. */
int linger_supervise(pid_t cmd, int notify_fd);
/* The launcher: wait for pid 1 like supervise(), relaying pid 1's messages
 * (a "sandbox-ready" status line; an early exit status). */
int launcher_supervise(pid_t pid1, int notify_fd, int status_fd);
#endif
