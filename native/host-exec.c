/* karapace-host-exec: run a command on the host from inside an environment whose
 * security policy allows it (hostIntegration.hostExec). Bound into the sandbox at
 * /usr/local/bin/karapace-host-exec; the wire format is host-exec.h. Static: the image
 * may have any libc. */
#include "host-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PROG_NAME "karapace-host-exec"

extern char **environ;
#define EXIT_SETUP 125

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void __attribute__((noreturn)) fail(const char *what, const char *hint)
{
    fprintf(stderr, PROG_NAME ": %s: %s%s%s\n", what, strerror(errno), hint ? "; " : "",
            hint ? hint : "");
    exit(EXIT_SETUP);
}

int main(int argc, char **argv)
{
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "--") == 0)
        first = 2;
    if (first >= argc || (first == 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))) {
        fprintf(first >= argc ? stderr : stdout,
                "usage: " PROG_NAME " [--] COMMAND [ARG...]\n"
                "Runs COMMAND on the host, as you, with this terminal (or these pipes) as its\n"
                "stdin, stdout and stderr; signals are passed on and its exit status is ours.\n"
                "It runs in the host directory this one is (your home, a mounted folder), else\n"
                "your home, with the host session's environment and your variables on top,\n"
                "except HOME, PATH, SHELL, USER, LOGNAME, HOSTNAME, LD_* and other variables\n"
                "that describe this environment (`" PROG_NAME " env NAME=VALUE CMD` sets any).\n");
        return first >= argc ? 2 : 0;
    }

    const char *path = getenv(HOST_EXEC_SOCKET_VAR);
    if (!path || !*path)
        path = HOST_EXEC_SOCKET_INSIDE;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        fail(path, NULL);
    }
    strcpy(addr.sun_path, path);
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0)
        fail("socket", NULL);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail(path, "running host commands is off for this environment unless the security "
                   "policy allows it (security.hostIntegration.hostExec)");

    /* The request: magic, cwd, argc, argv, environment, NUL-separated. */
    static char buf[HOST_EXEC_MAX_REQUEST];
    size_t len = 0;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        strcpy(cwd, "/");
    char count[16];
    snprintf(count, sizeof count, "%d", argc - first);
    const char *parts[3] = {HOST_EXEC_MAGIC, cwd, count};
    int nargs = 3 + argc - first;
    for (int i = 0; i < nargs; i++) {
        const char *s = i < 3 ? parts[i] : argv[first + i - 3];
        size_t n = strlen(s) + 1;
        if (len + n > sizeof buf) {
            errno = E2BIG;
            fail("the command line", "pass long arguments in a file");
        }
        memcpy(buf + len, s, n);
        len += n;
    }
    /* Then our variables, as many as fit: the host session's values stand for the rest. */
    int skipped = 0;
    for (char **e = environ; *e; e++) {
        size_t n = strlen(*e) + 1;
        if (len + n > sizeof buf) {
            skipped++;
            continue;
        }
        memcpy(buf + len, *e, n);
        len += n;
    }
    if (skipped)
        fprintf(stderr, PROG_NAME ": %d variable(s) not passed to the host command (a request holds %d KiB)\n",
                skipped, HOST_EXEC_MAX_REQUEST / 1024);
    /* Our stdio, passed as it is (a closed one as /dev/null). */
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = fcntl(i, F_GETFD) < 0 ? open("/dev/null", O_RDWR) : i;
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);

    /* Blocked before the request goes: none is lost while the command starts. */
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
        sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0)
        fail("signalfd", NULL);
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        fail("send the request", NULL);

    for (;;) {
        struct pollfd pfds[2] = {{.fd = sock, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pfds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("poll", NULL);
        }
        if (pfds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si) {
                char m[16];
                int n = snprintf(m, sizeof m, "s%u", si.ssi_signo);
                send(sock, m, (size_t)n, MSG_NOSIGNAL);
            }
        }
        if (pfds[0].revents) {
            char m[16];
            ssize_t n = recv(sock, m, sizeof m - 1, 0);
            if (n > 1 && m[0] == 'x') {
                m[n] = '\0';
                return atoi(m + 1);
            }
            if (n < 0 && errno == EINTR)
                continue;
            fprintf(stderr, PROG_NAME ": the host side went away before the command ended\n");
            return EXIT_SETUP;
        }
    }
}
