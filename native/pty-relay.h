/* --pty: the command's terminal is a pty of the sandbox's own devpts (so `tty` names
 * /dev/pts/N inside), relayed to the caller's terminal by a process that stays on the
 * host side of every namespace. */
#ifndef KARAPACE_PTY_RELAY_H
#define KARAPACE_PTY_RELAY_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether a relay can serve the caller: stdin and stdout are its terminal and we are
 * the terminal's foreground job. */
bool pty_usable(void);

/* Opens a new pty master at ptmx (the sandbox's /dev/pts/ptmx, after pivot_root or
 * chroot), unlocked, with the caller's terminal's settings and size (taken from fd 0). */
int pty_open_master(const char *ptmx);

/* In the command's process, before exec: a new session whose controlling terminal and
 * stdin/stdout/stderr are the master's peer, owned by the command's ids (best effort). */
void pty_attach(int master, unsigned long uid, unsigned long gid);

/* The relay: a child of the caller, outside the sandbox's pid namespace (its end would
 * kill the relay before it restores the terminal). It receives the master over the
 * socket pair it is created with, puts the caller's terminal in raw mode, copies bytes
 * both ways and the window size on SIGWINCH, and when told the command is done drains
 * the master and restores the terminal. */
struct pty_relay {
    pid_t pid;
    int give; /* the master is sent over it; when every copy is closed the relay ends */
    int take; /* the relay's end */
};

/* The socket pair (close-on-exec), before the sandbox's pid 1 is cloned: it inherits
 * `give`. */
void pty_relay_open(struct pty_relay *r);
/* Forks the relay (with the forwarded signals blocked, outside the sandbox's pid
 * namespace); the caller keeps `give`. */
void pty_relay_start(struct pty_relay *r);
/* Sends the master to the relay (the caller keeps its own copy). */
void pty_relay_give(const struct pty_relay *r, int master);
/* The command is done: close our end and wait for the relay to drain and restore. */
void pty_relay_finish(struct pty_relay *r);

#endif
