/* --pty: see pty-relay.h. Like a terminal emulator between the caller's terminal and
 * the sandbox's pty: raw mode outside, so ^C, ^Z and every other key reach the pty's
 * line discipline inside, which signals the foreground job there. */
#include "pty-relay.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* After the command is done, output still buffered in the pty is copied until the
 * pty has been quiet this long (a background job may keep it open forever). */
#define DRAIN_QUIET_MS 100
#define DRAIN_MAX_MS 2000

bool pty_usable(void)
{
    return isatty(0) && isatty(1) && tcgetpgrp(0) == getpgrp();
}

int pty_open_master(const char *ptmx)
{
    int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        die_with_error("--pty: open %s", ptmx);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        die_with_error("--pty: unlock");
    /* On a master these set the peer's settings (and size). */
    struct termios t;
    if (tcgetattr(0, &t) == 0)
        tcsetattr(master, TCSANOW, &t);
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0)
        ioctl(master, TIOCSWINSZ, &ws);
    return master;
}

void pty_attach(int master, unsigned long uid, unsigned long gid)
{
    if (setsid() < 0)
        die_with_error("--pty: setsid");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_CLOEXEC);
    if (slave < 0)
        die_with_error("--pty: open the terminal");
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        die_with_error("--pty: make it the controlling terminal");
    /* Programs that reopen their terminal by name (script, pinentry) need to own it;
     * an id that is not mapped keeps the opener's. */
    (void)!fchown(slave, (uid_t)uid, (gid_t)gid);
    close(master);
    for (int fd = 0; fd <= 2; fd++)
        if (dup2(slave, fd) < 0)
            die_with_error("--pty: dup2");
    if (slave > 2)
        close(slave);
}

void pty_relay_open(struct pty_relay *r)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        die_with_error("--pty: socketpair");
    r->pid = -1;
    r->give = sv[0];
    r->take = sv[1];
}

void pty_relay_give(const struct pty_relay *r, int master)
{
    char byte = 'm';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    ssize_t n;
    do
        n = sendmsg(r->give, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        die_with_error("--pty: hand the terminal to the relay");
}

/* The master, or -1 when every `give` was closed first (the sandbox failed to start). */
static int take_master(int sock)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

static void copy_size(int master)
{
    struct winsize ws;
    if (ioctl(0, TIOCGWINSZ, &ws) == 0)
        ioctl(master, TIOCSWINSZ, &ws);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void __attribute__((noreturn)) relay_main(int sock)
{
    int master = take_master(sock);
    if (master < 0)
        _exit(0);
    struct termios saved;
    bool raw = tcgetattr(0, &saved) == 0;
    if (raw) {
        struct termios t = saved;
        cfmakeraw(&t);
        raw = tcsetattr(0, TCSADRAIN, &t) == 0;
    }
    /* The size may have changed since the master was opened. */
    copy_size(master);
    if (fcntl(master, F_SETFL, O_NONBLOCK) < 0)
        _exit(EXIT_SETUP);
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, NULL);
    int sfd = signalfd(-1, &winch, SFD_CLOEXEC);

    char in[4096], out[8192];
    size_t in_len = 0, in_off = 0;
    bool stdin_open = true, done = false;
    long done_at = 0;
    for (;;) {
        bool pending = in_off < in_len;
        struct pollfd fds[4] = {
            {.fd = master, .events = POLLIN | (pending ? POLLOUT : 0)},
            /* Keystrokes typed after the command ended belong to the caller's shell. */
            {.fd = stdin_open && !pending && !done ? 0 : -1, .events = POLLIN},
            {.fd = sfd, .events = POLLIN},
            {.fd = done ? -1 : sock, .events = POLLIN},
        };
        int timeout = done ? DRAIN_QUIET_MS : -1;
        if (done && now_ms() - done_at > DRAIN_MAX_MS)
            break;
        int n = poll(fds, 4, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* drained (or poll failed) */
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(master, out, sizeof out);
            if (r > 0) {
                if (write_all(1, out, (size_t)r) < 0)
                    break; /* the caller's terminal is gone */
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                break; /* EIO: every process inside closed the terminal */
            }
        }
        if (pending && (fds[0].revents & POLLOUT)) {
            ssize_t w = write(master, in + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                in_off = in_len;
        }
        if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(0, in, sizeof in);
            if (r > 0) {
                in_len = (size_t)r;
                in_off = 0;
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                stdin_open = false;
            }
        }
        if (fds[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si)
                copy_size(master);
        }
        if (fds[3].revents) {
            char c;
            if (recv(sock, &c, 1, MSG_DONTWAIT) <= 0) {
                done = true;
                done_at = now_ms();
            }
        }
    }
    if (raw)
        tcsetattr(0, TCSADRAIN, &saved);
    _exit(0);
}

void pty_relay_start(struct pty_relay *r)
{
    pid_t pid = fork();
    if (pid < 0)
        die_with_error("--pty: fork the relay");
    if (pid == 0) {
        /* Only the terminal and our socket: a relay holding a status pipe or a sandbox
         * fd would keep them open past the launcher. */
        if (dup2(r->take, 3) < 0)
            _exit(EXIT_SETUP);
        close_range(4, ~0U, 0);
        relay_main(3);
    }
    close(r->take);
    r->take = -1;
    r->pid = pid;
}

void pty_relay_finish(struct pty_relay *r)
{
    if (r->give >= 0)
        close(r->give);
    r->give = -1;
    if (r->pid > 0)
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    r->pid = -1;
}
