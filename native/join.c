/* --join PID: run a command inside an already running sandbox (like
 * `podman exec`), instead of mounting the same overlay upper dir a second
 * time. The sandbox is named by its pid 1 on the host; a pidfd pins it, so a
 * recycled pid is never entered. */
#include "join.h"
#include "pid1.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

void join_validate(struct plan *p)
{
    if (p->rootfs || p->n_lowers || p->upper || p->work || p->fuse_overlayfs || p->n_ops ||
        p->unshare_net || p->hostname || p->pid_file || p->wait_joined || p->ro_root || p->host_exec)
        die("--join takes only process options (--uid --gid --chdir --setenv --unsetenv "
            "--clearenv --fake-chown --allow-setuid --pty --json-status-fd)");
    p->tty = isatty(0) && tcgetpgrp(0) == getpgrp();
    p->pty = p->pty && pty_usable();
    if (p->pty)
        p->tty = false;
    if (p->json_status_fd >= 0 && fcntl(p->json_status_fd, F_SETFD, FD_CLOEXEC) < 0)
        die_with_error("--json-status-fd");
}

static char *read_proc(pid_t pid, const char *what)
{
    autofree char *path = xasprintf("/proc/%d/%s", (int)pid, what);
    autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len;
    char *s = fd < 0 ? NULL : read_all(fd, &len);
    if (!s)
        die_with_error("--join %d: read %s", (int)pid, path);
    return s;
}

static bool same_ns(pid_t pid, const char *ns)
{
    autofree char *theirs = xasprintf("/proc/%d/ns/%s", (int)pid, ns);
    autofree char *ours = xasprintf("/proc/self/ns/%s", ns);
    struct stat a, b;
    if (stat(theirs, &a) < 0 || stat(ours, &b) < 0)
        die_with_error("--join %d: stat %s", (int)pid, theirs);
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int join_sandbox(struct plan *p)
{
    pid_t target = p->join_pid;
    autoclose int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
    if (pidfd < 0)
        die_with_error("--join %d: pidfd_open", (int)target);

    /* Everything read through /proc/PID below is checked to belong to the
     * pidfd's process by the liveness check after it. */
    autofree char *comm = read_proc(target, "comm");
    autofree char *self = read_proc(getpid(), "comm");
    if (strcmp(comm, self) != 0)
        die("--join %d: not a sandbox's pid 1 (it is %.*s)", (int)target,
            (int)strcspn(comm, "\n"), comm);
    autofree char *setgroups = read_proc(target, "setgroups");
    autofree char *root_path = xasprintf("/proc/%d/root", (int)target);
    autoclose int rootfd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        die_with_error("--join %d: open %s", (int)target, root_path);
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    /* Without --unshare-net the sandbox uses our network namespace. */
    if (!same_ns(target, "net"))
        flags |= CLONE_NEWNET;
    if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
        die_with_error("--join %d: the sandbox has ended", (int)target);
    /* The relay must stay out of the sandbox's pid namespace (see pty-relay.h). */
    if (p->pty) {
        pty_relay_open(&p->relay);
        pty_relay_start(&p->relay);
    }

    /* Single-id sandboxes deny setgroups; ids_drop() must not call it there. */
    p->map_mode = strncmp(setgroups, "deny", 4) == 0 ? MAP_SINGLE : MAP_FULL;

    /* All namespaces at once, then the sandbox's root: mount namespaces
     * have no usable "root" after pivot_root, /proc/PID/root is it. */
    if (setns(pidfd, flags) < 0)
        die_with_error("--join %d: setns", (int)target);
    if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
        die_with_error("--join %d: enter the sandbox's root", (int)target);
    /* As for every process in the sandbox: setuid binaries don't elevate
     * (unless --allow-setuid, see sandbox_child). */
    if (!p->allow_setuid && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("prctl(NO_NEW_PRIVS)");

    /* After setns(CLONE_NEWPID) only children enter the pid namespace: the
     * command is our child and we are its supervisor (the sandbox's pid 1
     * reaps its orphans). */
    int master = p->pty ? pty_open_master("/dev/pts/ptmx") : -1;
    pid_t cmd = fork();
    if (cmd < 0)
        die_with_error("--join %d: fork (the sandbox may have just ended)", (int)target);
    if (cmd == 0) {
        if (p->pty)
            pty_attach(master, p->uid, p->gid);
        exec_command(p);
    }
    if (p->pty) {
        pty_relay_give(&p->relay, master);
        close(master);
    }
    if (p->json_status_fd >= 0)
        dprintf(p->json_status_fd, "{ \"child-pid\": %d, \"launcher-pid\": %d }\n", (int)cmd,
                (int)getpid());
    int code = supervise(cmd);
    if (p->pty)
        pty_relay_finish(&p->relay);
    if (p->tty)
        reclaim_terminal();
    if (p->json_status_fd >= 0)
        dprintf(p->json_status_fd, "{ \"exit-code\": %d }\n", code);
    return code;
}
