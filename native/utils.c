#include "utils.h"

#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vmessage(const char *fmt, va_list ap, int errsv)
{
    /* One fprintf so concurrent writers don't interleave mid-line. */
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (errsv)
        fprintf(stderr, "%s: %s: %s\n", PROG, buf, strerror(errsv));
    else
        fprintf(stderr, "%s: %s\n", PROG, buf);
}

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, 0);
    va_end(ap);
    _exit(EXIT_SETUP);
}

void die_with_error(const char *fmt, ...)
{
    int errsv = errno;
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, errsv);
    va_end(ap);
    _exit(EXIT_SETUP);
}

void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, 0);
    va_end(ap);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p)
        die("out of memory");
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    char *p;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0)
        die("out of memory");
    return p;
}

void cleanup_closep(int *fd)
{
    if (*fd >= 0) {
        int errsv = errno;
        close(*fd);
        errno = errsv;
    }
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int write_file_at(const char *path, const char *content)
{
    autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* procfs map files must be written in a single write(2). */
    ssize_t len = (ssize_t)strlen(content);
    ssize_t n;
    do
        n = write(fd, content, (size_t)len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n != len) {
        errno = EIO;
        return -1;
    }
    return 0;
}

char *read_all(int fd, size_t *len)
{
    size_t cap = 4096, used = 0;
    autofree char *buf = xmalloc(cap);
    for (;;) {
        if (used + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + used, cap - used - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    return steal_pointer(&buf);
}

bool parse_u32(const char *s, unsigned long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > 0xffffffffUL)
        return false;
    *out = v;
    return true;
}

/* SIGTTOU blocked: a process outside the foreground group may not otherwise change it. */
static void set_foreground(pid_t group, bool must)
{
    sigset_t ttou;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, NULL);
    if (tcsetpgrp(0, group) < 0 && must)
        die_with_error("tcsetpgrp");
}

void own_process_group(bool tty)
{
    if (setpgid(0, 0) < 0)
        die_with_error("setpgid");
    if (tty)
        set_foreground(getpid(), true);
}

void reclaim_terminal(void)
{
    set_foreground(getpgrp(), false);
}
