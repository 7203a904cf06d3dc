/* The command's process: the last steps before exec, shared by a new sandbox (pid 2
 * inside, sandbox.c) and a command joining a running one (join.c). */
#include "ids.h"
#include "sandbox.h"
#include "seccomp.h"
#include "utils.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void apply_env(const struct plan *p)
{
    for (int i = 0; i < p->n_env; i++) {
        const struct env_op *e = &p->env[i];
        int r = e->kind == ENV_SET     ? setenv(e->key, e->value, 1)
                : e->kind == ENV_UNSET ? unsetenv(e->key)
                                       : clearenv();
        if (r != 0)
            die_with_error("environment");
    }
}

/* The command's process (pid 2 inside, or a joined command). */
void exec_command(const struct plan *p)
{
    /* Own process group; the terminal's foreground group if we have one, so
     * ^C/^Z and job control of an interactive shell behave as on the host.
     * With --pty, pty_attach() made it a session leader already. */
    if (!p->pty)
        own_process_group(p->tty);
    /* Drop to the requested ids; a non-zero uid loses all capabilities at exec. */
    ids_drop(p);
    apply_env(p);
    if (chdir(p->chdir ? p->chdir : "/") < 0)
        die_with_error("chdir %s", p->chdir);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Seccomp last: nothing above needs chown, and the filter must not see
     * our own setup. */
    if (p->fake_chown)
        seccomp_install_fake_chown();
    execvp(p->argv[0], p->argv);
    int errsv = errno;
    fprintf(stderr, "%s: exec %s: %s\n", PROG, p->argv[0], strerror(errsv));
    _exit(errsv == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}
