/* --init: a minimal pid 1 for containers someone else set up (the OCI backend
 * binds a static build of this into the container). No namespaces, no mounts:
 * fork the command, forward signals to it, reap every orphan, exit with the
 * command's status (128+N when a signal killed it). PROTOCOL.md "--init". */
#include "init.h"
#include "pid1.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

static void __attribute__((noreturn)) exec_child(char **argv, bool tty)
{
    /* Own process group, and the terminal's foreground group when we have one:
     * ^C on the terminal reaches the command, not its init. */
    own_process_group(tty);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    int errsv = errno;
    fprintf(stderr, "%s: exec %s: %s\n", PROG, argv[0], strerror(errsv));
    _exit(errsv == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

int init_main(char **args)
{
    if (args[0] && strcmp(args[0], "--") == 0)
        args++;
    if (!args[0])
        die("--init: no command given (expected: --init -- COMMAND [ARG...])");
    /* Orphans of the command come to us even when we are not pid 1. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        die_with_error("prctl(CHILD_SUBREAPER)");
    /* Block before fork so no signal slips past supervise()'s signalfd. A
     * blocked signal is also never discarded for lack of a handler, which is
     * what pid 1 of a pid namespace would otherwise do. */
    sigset_t fwd;
    forwarded_signals(&fwd);
    if (sigprocmask(SIG_BLOCK, &fwd, NULL) < 0)
        die_with_error("sigprocmask");
    bool tty = isatty(0) && tcgetpgrp(0) == getpgrp();
    pid_t cmd = fork();
    if (cmd < 0)
        die_with_error("fork");
    if (cmd == 0)
        exec_child(args, tty);
    /* Keep no reference to the command's stdin/stdout: a reader sees EOF
     * when the command (and its children) close them. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        close(devnull);
    }
    return supervise(cmd);
}
