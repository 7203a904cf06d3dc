/* Keeping a sandbox alive for joined commands (karapace-sandbox --join):
 * pid 1 outlives its own command while processes that joined from outside
 * still run, and the launcher returns the command's status without waiting
 * for them. */
#include "linger.h"
#include "pid1.h"
#include "utils.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* A process that joined from outside has its parent in an ancestor pid
 * namespace, so it shows parent pid 0 here; our own command's descendants
 * have real parents (or 1). Only meaningful when /proc is this namespace's. */
static bool joined_running(void)
{
    char self[16];
    ssize_t n = readlink("/proc/self", self, sizeof self - 1);
    if (n < 0)
        return false;
    self[n] = '\0';
    if (strcmp(self, "1") != 0)
        return false; /* the host's /proc was bound: can't tell, don't linger */
    DIR *d = opendir("/proc");
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9' || strcmp(e->d_name, "1") == 0)
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold anything, so parse after the last ')'. */
        char *rp = strrchr(buf, ')');
        char state;
        int ppid;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == 0 && state != 'Z')
            found = true;
    }
    closedir(d);
    return found;
}

int linger_supervise(pid_t cmd, int notify_fd)
{
    int code = supervise(cmd);
    if (!joined_running())
        return code;
    /* The launcher exits now with the command's status; we must survive it
     * and let go of its stderr (a caller reading it to EOF would hang). */
    if (prctl(PR_SET_PDEATHSIG, 0) < 0)
        die_with_error("prctl(PDEATHSIG)");
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 2);
        close(devnull);
    }
    char msg[16];
    int len = snprintf(msg, sizeof msg, "%c%d\n", NOTIFY_EXITED, code);
    write_all(notify_fd, msg, (size_t)len);
    close(notify_fd);

    sigset_t set;
    forwarded_signals(&set);
    autoclose int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        die_with_error("signalfd");
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        /* When we exit, the kernel ends whatever is left (orphans included). */
        if (!joined_running())
            return code;
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            struct signalfd_siginfo si;
            /* stop's SIGTERM reaches every process left in the sandbox. */
            if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD)
                kill(-1, (int)si.ssi_signo);
        }
    }
}

int launcher_supervise(pid_t pid1, int notify_fd, int status_fd)
{
    sigset_t set;
    forwarded_signals(&set);
    autoclose int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        die_with_error("signalfd");
    char msg[32];
    size_t have = 0;
    for (;;) {
        int code;
        if (reap_exited(pid1, &code))
            return code;

        struct pollfd pfds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = notify_fd, .events = POLLIN}};
        int n = poll(pfds, notify_fd >= 0 ? 2 : 1, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die_with_error("poll");
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) != sizeof si)
                die_with_error("read signalfd");
            if (si.ssi_signo != SIGCHLD)
                kill(pid1, (int)si.ssi_signo);
        }
        if (notify_fd >= 0 && (pfds[1].revents & (POLLIN | POLLHUP))) {
            ssize_t r = read(notify_fd, msg + have, sizeof msg - 1 - have);
            if (r <= 0) {
                /* pid 1 exec'd nothing more to say, or exited: wait for it. */
                close(notify_fd);
                notify_fd = -1;
                continue;
            }
            have += (size_t)r;
            msg[have] = '\0';
            while (have > 0 && msg[0] == NOTIFY_READY) {
                if (status_fd >= 0)
                    dprintf(status_fd, "{ \"sandbox-ready\": true }\n");
                memmove(msg, msg + 1, have--);
            }
            if (have > 0 && msg[0] == NOTIFY_EXITED && strchr(msg, '\n'))
                return atoi(msg + 1);
            if (have >= sizeof msg - 1)
                die("pid 1: unexpected message");
        }
    }
}
