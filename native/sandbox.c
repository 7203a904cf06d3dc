/* karapace-sandbox: run a command in a rootless container.
 * parse (argv -> struct plan) -> plan (validate, compute id maps) -> execute.
 * The argv contract is PROTOCOL.md; keep the two in sync. */
#define KARAPACE_VERSION "1"

#include "ids.h"
#include "artefacts.h"
#include "host-exec-server.h"
#include "join.h"
#include "linger.h"
#include "init.h"
#include "mounts.h"
#include "net.h"
#include "pid1.h"
#include "sandbox.h"
#include "seccomp.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fputs("usage: " PROG " [OPTION...] -- COMMAND [ARG...]\n"
          "       " PROG " --init -- COMMAND [ARG...]   (only a reaping, forwarding pid 1)\n"
          "Root filesystem (one of):\n"
          "  --lower DIR            overlay lower layer, repeatable, first = topmost\n"
          "  --upper DIR --work DIR overlay upper and work dirs (else read-only)\n"
          "  --fuse-overlayfs PATH  mount the overlay with this fuse-overlayfs binary\n"
          "  --rootfs DIR           bind DIR as / (read-write)\n"
          "  --ro-rootfs DIR        bind DIR as / (read-only)\n"
          "Mounts, applied in order after /proc, /dev and /sys:\n"
          "  --bind SRC DEST  --ro-bind SRC DEST  --dev-bind SRC DEST\n"
          "  --tmpfs DEST  --dir DEST  --symlink TARGET DEST  --file-from SRC DEST\n"
          "  --perms OCTAL          mode for the next --tmpfs or --dir\n"
          "Process:\n"
          "  --uid N --gid N        ids inside (default: the caller's)\n"
          "  --map-mode single|full|root   (default single)\n"
          "  --hostname NAME  --chdir DIR  --setenv K V  --unsetenv K  --clearenv\n"
          "  --unshare-net  --fake-chown  --allow-setuid  --ro-root  --pty\n"
          "  --pid-file PATH  --json-status-fd FD  --args FD  --host-exec SOCKET\n"
          "Joining a running sandbox (see PROTOCOL.md):\n"
          "  --wait-joined          keep the sandbox while joined commands run\n"
          "  --join PID             run COMMAND in the sandbox whose pid 1 is PID\n"
          "  --help  --version\n",
          out);
}

/* --- parse ----------------------------------------------------------- */

struct argv_buf {
    char **v;
    int n;
};

/* Splice the NUL-separated arguments read from fd in place of "--args FD". */
static void splice_args_fd(struct argv_buf *a, int at, const char *fdstr)
{
    unsigned long fd;
    if (!parse_u32(fdstr, &fd) || fd > 0x7fffffff)
        die("--args: not a file descriptor: %s", fdstr);
    size_t len;
    char *data = read_all((int)fd, &len);
    if (!data)
        die_with_error("--args: read fd %lu", fd);
    close((int)fd);
    int count = 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\0')
            count++;
    if (len > 0 && data[len - 1] != '\0')
        count++; /* tolerate a missing final NUL */
    char **v = xcalloc((size_t)(a->n - 2 + count + 1), sizeof(char *));
    int k = 0;
    for (int i = 0; i < at; i++)
        v[k++] = a->v[i];
    for (size_t off = 0; off < len; off += strlen(data + off) + 1)
        v[k++] = data + off;
    for (int i = at + 2; i < a->n; i++)
        v[k++] = a->v[i];
    v[k] = NULL;
    a->v = v;
    a->n = k;
}

static const char *need(struct argv_buf *a, int i, int n, const char *opt)
{
    if (i + n >= a->n)
        die("%s needs %d argument%s", opt, n, n > 1 ? "s" : "");
    return a->v[i + 1];
}

static void add_op(struct plan *p, enum op_kind kind, const char *src, const char *dest,
                   mode_t *perms)
{
    if (dest[0] != '/')
        die("destination must be an absolute path: %s", dest);
    p->ops = xrealloc(p->ops, sizeof *p->ops * (size_t)(p->n_ops + 1));
    p->ops[p->n_ops++] = (struct mount_op){.kind = kind, .src = src, .dest = dest,
                                           .perms = *perms};
    *perms = 0;
}

static void add_env(struct plan *p, enum env_kind kind, const char *k, const char *v)
{
    if (k && (!*k || strchr(k, '=')))
        die("invalid environment variable name: %s", k);
    p->env = xrealloc(p->env, sizeof *p->env * (size_t)(p->n_env + 1));
    p->env[p->n_env++] = (struct env_op){kind, k, v};
}

static unsigned long parse_id(const char *opt, const char *s)
{
    unsigned long v;
    if (!parse_u32(s, &v) || v == 0xffffffffUL)
        die("%s: not a valid id: %s", opt, s);
    return v;
}

static void parse_args(struct plan *p, int argc, char **argv)
{
    struct argv_buf a = {argv, argc};
    bool have_uid = false, have_gid = false;
    mode_t perms = 0;
    int spliced = 0;
    int i;

    for (i = 1; i < a.n; i++) {
        const char *o = a.v[i];
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        } else if (strcmp(o, "--args") == 0) {
            if (++spliced > 16)
                die("--args nested too deeply");
            splice_args_fd(&a, i, need(&a, i, 1, o));
            i--;
        } else if (strcmp(o, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(o, "--version") == 0) {
            puts(PROG " " KARAPACE_VERSION);
            exit(0);
        } else if (strcmp(o, "--lower") == 0) {
            p->lowers = xrealloc(p->lowers, sizeof(char *) * (size_t)(p->n_lowers + 1));
            p->lowers[p->n_lowers++] = need(&a, i++, 1, o);
        } else if (strcmp(o, "--upper") == 0) {
            p->upper = need(&a, i++, 1, o);
        } else if (strcmp(o, "--work") == 0) {
            p->work = need(&a, i++, 1, o);
        } else if (strcmp(o, "--fuse-overlayfs") == 0) {
            p->fuse_overlayfs = need(&a, i++, 1, o);
        } else if (strcmp(o, "--rootfs") == 0 || strcmp(o, "--ro-rootfs") == 0) {
            if (p->rootfs)
                die("only one --rootfs/--ro-rootfs");
            p->rootfs = need(&a, i++, 1, o);
            p->ro_rootfs = strcmp(o, "--ro-rootfs") == 0;
        } else if (strcmp(o, "--bind") == 0 || strcmp(o, "--ro-bind") == 0 ||
                   strcmp(o, "--dev-bind") == 0 || strcmp(o, "--file-from") == 0 ||
                   strcmp(o, "--symlink") == 0) {
            enum op_kind k = o[2] == 'b'   ? OP_BIND
                             : o[2] == 'r' ? OP_RO_BIND
                             : o[2] == 'd' ? OP_DEV_BIND
                             : o[2] == 'f' ? OP_FILE_FROM
                                           : OP_SYMLINK;
            need(&a, i, 2, o);
            if (perms)
                die("--perms only applies to --tmpfs and --dir");
            add_op(p, k, a.v[i + 1], a.v[i + 2], &perms);
            i += 2;
        } else if (strcmp(o, "--tmpfs") == 0 || strcmp(o, "--dir") == 0) {
            add_op(p, o[2] == 't' ? OP_TMPFS : OP_DIR, NULL, need(&a, i++, 1, o), &perms);
        } else if (strcmp(o, "--perms") == 0) {
            const char *s = need(&a, i++, 1, o);
            char *end;
            unsigned long m = strtoul(s, &end, 8);
            if (!*s || *end || m > 07777)
                die("--perms: not an octal mode: %s", s);
            perms = (mode_t)m;
        } else if (strcmp(o, "--hostname") == 0) {
            p->hostname = need(&a, i++, 1, o);
        } else if (strcmp(o, "--chdir") == 0) {
            p->chdir = need(&a, i++, 1, o);
        } else if (strcmp(o, "--setenv") == 0) {
            need(&a, i, 2, o);
            add_env(p, ENV_SET, a.v[i + 1], a.v[i + 2]);
            i += 2;
        } else if (strcmp(o, "--unsetenv") == 0) {
            add_env(p, ENV_UNSET, need(&a, i++, 1, o), NULL);
        } else if (strcmp(o, "--clearenv") == 0) {
            add_env(p, ENV_CLEAR, NULL, NULL);
        } else if (strcmp(o, "--uid") == 0) {
            p->uid = parse_id(o, need(&a, i++, 1, o));
            have_uid = true;
        } else if (strcmp(o, "--gid") == 0) {
            p->gid = parse_id(o, need(&a, i++, 1, o));
            have_gid = true;
        } else if (strcmp(o, "--map-mode") == 0) {
            const char *m = need(&a, i++, 1, o);
            if (strcmp(m, "single") == 0)
                p->map_mode = MAP_SINGLE;
            else if (strcmp(m, "full") == 0)
                p->map_mode = MAP_FULL;
            else if (strcmp(m, "root") == 0)
                p->map_mode = MAP_ROOT;
            else
                die("--map-mode: expected single, full or root, got %s", m);
        } else if (strcmp(o, "--unshare-net") == 0) {
            p->unshare_net = true;
        } else if (strcmp(o, "--join") == 0) {
            unsigned long pid;
            const char *s = need(&a, i++, 1, o);
            if (!parse_u32(s, &pid) || pid < 2 || pid > 0x7fffffff)
                die("--join: not a process id: %s", s);
            p->join_pid = (pid_t)pid;
        } else if (strcmp(o, "--wait-joined") == 0) {
            p->wait_joined = true;
        } else if (strcmp(o, "--fake-chown") == 0) {
            p->fake_chown = true;
        } else if (strcmp(o, "--allow-setuid") == 0) {
            p->allow_setuid = true;
        } else if (strcmp(o, "--ro-root") == 0) {
            p->ro_root = true;
        } else if (strcmp(o, "--pty") == 0) {
            p->pty = true;
        } else if (strcmp(o, "--host-exec") == 0) {
            p->host_exec = need(&a, i++, 1, o);
        } else if (strcmp(o, "--pid-file") == 0) {
            p->pid_file = need(&a, i++, 1, o);
        } else if (strcmp(o, "--json-status-fd") == 0) {
            const char *s = need(&a, i++, 1, o);
            unsigned long fd;
            if (!parse_u32(s, &fd) || fd > 0x7fffffff || fcntl((int)fd, F_GETFD) < 0)
                die("--json-status-fd: not an open file descriptor: %s", s);
            p->json_status_fd = (int)fd;
        } else {
            die("unknown option: %s (see --help)", o);
        }
    }
    if (perms)
        die("--perms must be followed by --tmpfs or --dir");
    if (p->allow_setuid && p->fake_chown)
        die("--allow-setuid and --fake-chown exclude each other (seccomp needs no_new_privs)");
    if (i >= a.n)
        die("no command given (expected: [OPTION...] -- COMMAND [ARG...])");
    p->argv = &a.v[i];
    if (!have_uid)
        p->uid = p->host_uid;
    if (!have_gid)
        p->gid = p->host_gid;
}

/* --- plan -------------------------------------------------------------- */

static void validate(struct plan *p)
{
    if (!p->rootfs && p->n_lowers == 0)
        die("no root filesystem: give --lower or --rootfs");
    if (p->rootfs && (p->n_lowers || p->upper || p->work || p->fuse_overlayfs))
        die("--rootfs excludes --lower/--upper/--work/--fuse-overlayfs");
    if (!p->upper != !p->work)
        die("--upper and --work go together");
    if (p->hostname && strlen(p->hostname) > 64)
        die("--hostname: too long");
    ids_plan(p);
    /* --file-from reads on the host side, before any namespace exists. */
    for (int i = 0; i < p->n_ops; i++) {
        struct mount_op *op = &p->ops[i];
        if (op->kind != OP_FILE_FROM)
            continue;
        autoclose int fd = open(op->src, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !(op->content = read_all(fd, &op->content_len)))
            die_with_error("--file-from %s", op->src);
    }
    /* Only take over the terminal when we are its foreground job. */
    p->tty = isatty(0) && tcgetpgrp(0) == getpgrp();
    p->pty = p->pty && pty_usable();
    /* With a pty of its own the command never touches the caller's terminal. */
    if (p->pty)
        p->tty = false;
    if (p->tty && ttyname(0))
        p->tty_name = xstrdup(ttyname(0));
    if (p->json_status_fd >= 0 && fcntl(p->json_status_fd, F_SETFD, FD_CLOEXEC) < 0)
        die_with_error("--json-status-fd");
}

/* --- execute ------------------------------------------------------------ */

/* The sandbox's pid 1, from clone to supervising the command. */
static void __attribute__((noreturn)) sandbox_child(struct plan *p, int sync_fd, int notify_fd)
{
    /* No-new-privs first: nothing run inside can gain privileges through
     * setuid binaries or file capabilities; also required for seccomp. Set
     * here, not in the launcher, which still has to exec the setuid
     * newuidmap/newgidmap. --allow-setuid leaves it off (sudo inside): a
     * setuid binary then elevates only to the user namespace's root, whose
     * capabilities reach nothing the caller could not touch already. */
    if (!p->allow_setuid && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die_with_error("prctl(NO_NEW_PRIVS)");
    /* If the launcher dies, take the whole sandbox with us. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        die_with_error("prctl(PDEATHSIG)");
    if (p->json_status_fd >= 0)
        close(p->json_status_fd);

    /* Wait until the launcher has written our id maps. EOF: it failed and
     * has already said why. */
    char c;
    ssize_t n;
    do
        n = read(sync_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(EXIT_SETUP);
    close(sync_fd);

    /* Loopback of the new network namespace. */
    if (p->unshare_net)
        net_loopback_up();

    /* Filesystem: sources, private /, staging pivot, root fs, /proc /dev
     * /sys, user mounts, final pivot_root and detach of the old root. */
    mounts_open_sources(p);
    mounts_setup_root(p);
    mounts_setup_tree(p);
    mounts_enter_root();
    /* Frozen: the root read-only, after every mount point was created in it. */
    if (p->ro_root)
        mounts_root_readonly(true);

    /* UTS namespace. */
    if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
        die_with_error("sethostname");

    /* The command's terminal, from this sandbox's devpts. */
    int master = p->pty ? pty_open_master("/dev/pts/ptmx") : -1;

    /* Commands may join from now on (launcher: "sandbox-ready"). */
    write_all(notify_fd, (char[]){NOTIFY_READY}, 1);

    /* Fork the command; we stay as its pid 1. */
    pid_t cmd = fork();
    if (cmd < 0)
        die_with_error("fork");
    if (cmd == 0) {
        if (p->pty)
            pty_attach(master, p->uid, p->gid);
        exec_command(p);
    }
    if (p->pty) {
        pty_relay_give(&p->relay, master);
        close(master);
        close(p->relay.give);
        close(p->relay.take);
    }

    /* pid 1 keeps only stderr of the caller's fds open. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        close(devnull);
    }
    int code = p->wait_joined ? linger_supervise(cmd, notify_fd) : supervise(cmd);
    /* Not through fuse-overlayfs: its daemon resolves paths through the very mount we
     * would be waiting on, and the two deadlock (D state, unkillable). Mount points then
     * stay in the upper dir, as documented. */
    if (!p->fuse_overlayfs) {
        /* Mount points are removed from the upper dir even when it was read-only. */
        if (p->ro_root)
            mounts_root_readonly(false);
        artefacts_remove();
    }
    _exit(code);
}

static void json_status(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void json_status(int fd, const char *fmt, ...)
{
    if (fd < 0)
        return;
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write_all(fd, buf, (size_t)len);
}

static void write_pid_file(const char *path, pid_t pid)
{
    autofree char *tmp = xasprintf("%s.%d.tmp", path, (int)getpid());
    autofree char *content = xasprintf("%d\n", (int)pid);
    autoclose int fd = open(tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, content, strlen(content)) < 0 || rename(tmp, path) < 0) {
        int errsv = errno;
        unlink(tmp);
        errno = errsv;
        die_with_error("--pid-file %s", path);
    }
}

int main(int argc, char **argv)
{
    struct plan plan = {.json_status_fd = -1, .host_uid = geteuid(), .host_gid = getegid()};
    struct plan *p = &plan;

    /* --init: no sandbox, only a pid 1 for a container set up by someone else. */
    if (argc > 1 && strcmp(argv[1], "--init") == 0)
        return init_main(argv + 2);

    /* Parse and plan: everything that can be checked is checked before any
     * namespace exists. */
    parse_args(p, argc, argv);
    if (p->join_pid)
        join_validate(p);
    else
        validate(p);

    /* Signals to forward are blocked from now on and read from a signalfd,
     * so none is lost between clone and supervise(). */
    sigset_t fwd;
    forwarded_signals(&fwd);
    if (sigprocmask(SIG_BLOCK, &fwd, NULL) < 0)
        die_with_error("sigprocmask");

    if (p->join_pid)
        return join_sandbox(p);

    int sync_pipe[2], notify_pipe[2];
    if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(notify_pipe, O_CLOEXEC) < 0)
        die_with_error("pipe");
    if (p->pty)
        pty_relay_open(&p->relay);

    /* New user, mount, pid, uts, ipc (+net) namespaces in one clone; the
     * child is pid 1 of the new pid namespace. */
    unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
                          CLONE_NEWIPC | SIGCHLD;
    if (p->unshare_net)
        flags |= CLONE_NEWNET;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, NULL, NULL, NULL, NULL);
    if (pid < 0)
        die_with_error("clone (are unprivileged user namespaces enabled?)");
    if (pid == 0) {
        close(sync_pipe[1]);
        close(notify_pipe[0]);
        sandbox_child(p, sync_pipe[0], notify_pipe[1]);
    }
    close(sync_pipe[0]);
    close(notify_pipe[1]);

    /* Id maps, written from out here (newuidmap must run in the parent
     * namespace). If we die, the child sees EOF and exits. */
    ids_write_maps(p, pid);
    if (p->pid_file)
        write_pid_file(p->pid_file, pid);
    if (p->host_exec)
        host_exec_start(p->host_exec, pid, p->ops, p->n_ops);
    json_status(p->json_status_fd, "{ \"child-pid\": %d, \"launcher-pid\": %d }\n", (int)pid,
                (int)getpid());
    if (write_all(sync_pipe[1], "1", 1) < 0)
        die_with_error("start sandbox");
    close(sync_pipe[1]);
    if (p->pty)
        pty_relay_start(&p->relay);

    int code = launcher_supervise(pid, notify_pipe[0], p->json_status_fd);
    /* The terminal is restored before anyone else may use it. */
    if (p->pty)
        pty_relay_finish(&p->relay);

    /* Take the terminal back from the command's process group. */
    if (p->tty)
        reclaim_terminal();
    if (p->pid_file)
        unlink(p->pid_file);
    json_status(p->json_status_fd, "{ \"exit-code\": %d }\n", code);
    return code;
}
