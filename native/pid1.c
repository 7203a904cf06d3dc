/* Used twice: by the launcher outside (its one child is the sandbox's pid 1)
 * and by pid 1 inside (its child is the command). */
#include "pid1.h"
#include "utils.h"

#include <errno.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

void forwarded_signals(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(set, forwarded[i]);
    sigaddset(set, SIGCHLD);
}

int status_to_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return EXIT_SETUP;
}

bool reap_exited(pid_t child, int *code)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == child) {
            *code = status_to_code(status);
            return true;
        }
    }
    if (pid < 0 && errno == ECHILD) {
        *code = EXIT_SETUP;
        return true;
    }
    return false;
}

int supervise(pid_t child)
{
    sigset_t set;
    forwarded_signals(&set);
    autoclose int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        die_with_error("signalfd");
    for (;;) {
        /* Reap first: the child may have exited before signalfd existed. */
        int code;
        if (reap_exited(child, &code))
            return code;

        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != sizeof si)
            die_with_error("read signalfd");
        /* ESRCH (already gone) is fine: its SIGCHLD is queued. */
        if (si.ssi_signo != SIGCHLD)
            kill(child, (int)si.ssi_signo);
    }
}
