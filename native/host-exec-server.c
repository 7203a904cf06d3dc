/* --host-exec: see host-exec-server.h and the wire format in host-exec.h. One process
 * per request runs the host command and reports its status; the listening process only
 * accepts, and ends with the sandbox (a pidfd on its pid 1). */
#include "host-exec-server.h"
#include "host-exec.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The signals a client may forward: what a terminal or `kill` sends to a foreground job. */
static bool forwardable(int sig)
{
    return sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT ||
           sig == SIGUSR1 || sig == SIGUSR2 || sig == SIGWINCH || sig == SIGKILL;
}

static void reply(int conn, int code)
{
    char msg[16];
    int len = snprintf(msg, sizeof msg, "x%d", code);
    send(conn, msg, (size_t)len, MSG_NOSIGNAL);
}

/* The request's parts, pointing into the received buffer. */
struct request {
    const char *cwd;
    char **argv; /* NULL-terminated */
    char **env;  /* the client's NAME=VALUE entries, NULL-terminated */
};

static bool parse_request(char *buf, size_t len, struct request *r)
{
    if (len == 0 || buf[len - 1] != '\0')
        return false;
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += buf[i] == '\0';
    if (count < 4 || strcmp(buf, HOST_EXEC_MAGIC) != 0)
        return false;
    char *s = buf + strlen(buf) + 1;
    r->cwd = s;
    s += strlen(s) + 1;
    char *end;
    unsigned long argc = strtoul(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || argc < 1 || argc > count - 3)
        return false;
    s += strlen(s) + 1;
    r->argv = xcalloc(argc + 1, sizeof(char *));
    r->env = xcalloc(count - 3 - argc + 1, sizeof(char *));
    for (size_t n = 0; s < buf + len; s += strlen(s) + 1, n++) {
        if (n < argc)
            r->argv[n] = s;
        else
            r->env[n - argc] = s;
    }
    return true;
}

/* Variables of the client's environment the host command does not take: they describe the
 * environment (its home, PATH, shell, hostname, libraries, karapace's own), not what the
 * user asked for, and the host session's values are the right ones on the host. */
static const char *const host_side_names[] = {
    "HOME", "PATH", "SHELL", "USER", "LOGNAME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_",
    "container", "KARAPACE_ENV_ID", HOST_EXEC_SOCKET_VAR, NULL,
};

static bool host_side(const char *name, size_t len)
{
    if (len >= 3 && strncmp(name, "LD_", 3) == 0)
        return true; /* the dynamic loader's: paths and preloads of the env's libraries */
    for (const char *const *n = host_side_names; *n; n++)
        if (strlen(*n) == len && strncmp(name, *n, len) == 0)
            return true;
    return false;
}

/* The host session's environment (ours), with the client's variables on top but for
 * host_side() ones. */
static void take_client_environment(char **env)
{
    for (char **e = env; *e; e++) {
        char *eq = strchr(*e, '=');
        if (!eq || eq == *e || host_side(*e, (size_t)(eq - *e)))
            continue;
        *eq = '\0';
        setenv(*e, eq + 1, 1);
        *eq = '=';
    }
}

/* The directories bound into the sandbox (its --bind/--ro-bind/--dev-bind ops). */
static const struct mount_op *binds;
static int n_binds;

/* The host path of `cwd` inside: under a bound directory (your home, a mounted folder),
 * that directory's host path; NULL elsewhere (the env's own files have no host path).
 * The deepest destination wins, and of equal ones the last bound (it is on top). */
static char *host_path(const char *cwd)
{
    const struct mount_op *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < n_binds; i++) {
        const struct mount_op *op = &binds[i];
        if (op->kind != OP_BIND && op->kind != OP_RO_BIND && op->kind != OP_DEV_BIND)
            continue;
        size_t n = strlen(op->dest);
        while (n > 1 && op->dest[n - 1] == '/')
            n--;
        if (strncmp(cwd, op->dest, n) != 0 || (cwd[n] != '\0' && cwd[n] != '/'))
            continue;
        if (!best || n >= best_len) {
            best = op;
            best_len = n;
        }
    }
    return best ? xasprintf("%s%s", best->src, cwd + best_len) : NULL;
}

static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    autofree char *copy = xstrdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        autofree char *file = xasprintf("%s/%s", *dir ? dir : ".", name);
        struct stat st;
        if (stat(file, &st) == 0)
            return true;
    }
    return false;
}

static void __attribute__((noreturn)) run_command(const struct request *r, const int fds[3])
{
    char **argv = r->argv;
    setpgid(0, 0);
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            _exit(EXIT_SETUP);
    close_range(3, ~0U, 0);
    /* The host directory the client is in, else your home. */
    const char *home = getenv("HOME");
    autofree char *dir = host_path(r->cwd);
    if ((!dir || chdir(dir) < 0) && (!home || chdir(home) < 0))
        (void)!chdir("/");
    take_client_environment(r->env);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    int errsv = errno;
    /* execvp says EACCES when a PATH directory is unreadable even if no file exists
     * anywhere; a shell says "not found" then, and so do we. */
    if (errsv == EACCES && !strchr(argv[0], '/') && !on_path(argv[0]))
        errsv = ENOENT;
    dprintf(2, "karapace-host-exec: %s: %s\n", argv[0], strerror(errsv));
    _exit(errsv == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC);
}

static void __attribute__((noreturn)) handle(int conn)
{
    static char buf[HOST_EXEC_MAX_REQUEST];
    union {
        char buf[CMSG_SPACE(3 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    struct request req;
    bool parsed = n > 0 && !(msg.msg_flags & MSG_TRUNC) && parse_request(buf, (size_t)n, &req);
    if (!parsed || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int))) {
        reply(conn, EXIT_SETUP);
        _exit(0);
    }
    int fds[3];
    memcpy(fds, CMSG_DATA(c), sizeof fds);

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
    pid_t cmd = fork();
    if (cmd < 0) {
        reply(conn, EXIT_SETUP);
        _exit(0);
    }
    if (cmd == 0)
        run_command(&req, fds);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    bool client = true;
    for (;;) {
        int status;
        pid_t r = waitpid(cmd, &status, WNOHANG);
        if (r == cmd) {
            if (client)
                reply(conn, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            _exit(0);
        }
        struct pollfd pfds[2] = {{.fd = sfd, .events = POLLIN},
                                 {.fd = client ? conn : -1, .events = POLLIN}};
        if (poll(pfds, 2, -1) < 0 && errno != EINTR)
            _exit(EXIT_SETUP);
        if (pfds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            (void)!read(sfd, &si, sizeof si);
        }
        if (pfds[1].revents) {
            char m[16];
            ssize_t got = recv(conn, m, sizeof m - 1, MSG_DONTWAIT);
            if (got > 1 && m[0] == 's') {
                m[got] = '\0';
                int sig = atoi(m + 1);
                if (forwardable(sig) && kill(-cmd, sig) < 0)
                    kill(cmd, sig);
            } else if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
                /* The client is gone (killed, or its sandbox ended): hang the command up. */
                client = false;
                if (kill(-cmd, SIGHUP) < 0)
                    kill(cmd, SIGHUP);
            }
        }
    }
}

static void __attribute__((noreturn)) serve(int listener, int dirfd, const char *name, int pidfd)
{
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        struct pollfd pfds[3] = {{.fd = pidfd, .events = POLLIN},
                                 {.fd = listener, .events = POLLIN},
                                 {.fd = sfd, .events = POLLIN}};
        if (poll(pfds, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents)
            break; /* the sandbox has ended */
        if (pfds[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            (void)!read(sfd, &si, sizeof si);
        }
        if (pfds[1].revents & POLLIN) {
            int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0)
                continue;
            pid_t h = fork();
            if (h == 0) {
                close(listener);
                close(pidfd);
                close(sfd);
                handle(conn);
            }
            close(conn);
        }
    }
    unlinkat(dirfd, name, 0);
    _exit(0);
}

void host_exec_start(const char *socket_path, pid_t pid1, const struct mount_op *ops, int n_ops)
{
    binds = ops;
    n_binds = n_ops;
    autofree char *dcopy = xstrdup(socket_path), *ncopy = xstrdup(socket_path);
    const char *dir = dirname(dcopy), *name = basename(ncopy);
    autoclose int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        die_with_error("--host-exec: open %s", dir);
    /* Through the directory's fd: the store path may be longer than sun_path allows. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dirfd,
                         name) >= sizeof addr.sun_path)
        die("--host-exec: socket name too long: %s", name);
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        die_with_error("--host-exec: remove the stale %s", socket_path);
    autoclose int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (listener < 0)
        die_with_error("--host-exec: socket");
    mode_t old = umask(0077);
    int r = bind(listener, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    if (r < 0 || listen(listener, 16) < 0)
        die_with_error("--host-exec: listen on %s", socket_path);
    autoclose int pidfd = (int)syscall(SYS_pidfd_open, pid1, 0);
    if (pidfd < 0)
        die_with_error("--host-exec: pidfd_open");

    pid_t server = fork();
    if (server < 0)
        die_with_error("--host-exec: fork");
    if (server > 0)
        return;
    /* Not in the caller's terminal session or its pipes: a caller reading our stdout to
     * EOF must not wait for the sandbox's last joined command. */
    setsid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && devnull >= 0; fd++)
        dup2(devnull, fd);
    /* Out of the way first, so placing one never overwrites another. */
    int high[3] = {fcntl(listener, F_DUPFD, 100), fcntl(dirfd, F_DUPFD, 100),
                   fcntl(pidfd, F_DUPFD, 100)};
    for (int i = 0; i < 3; i++)
        if (high[i] < 0 || dup2(high[i], 3 + i) < 0)
            _exit(EXIT_SETUP);
    close_range(6, ~0U, 0);
    serve(3, 4, name, 5);
}
