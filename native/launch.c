/*
 * karapace_launch.node: runs the sandbox launcher for `exec`/`enter` and waits for it,
 * blocking the calling (JS) thread, instead of child_process.spawn and an event loop. The
 * CLI has nothing else to do while the command runs; spawning through libuv (a socketpair
 * for the status fd, a net.Socket to read it, SIGCHLD through the loop) costs more start-up
 * time than the sandbox itself. What the TypeScript side does around the launcher stays in
 * TypeScript, called back from here at the same moments as with child_process:
 *
 *   launch(launcher, args, path, onSpawn(pid), onStatusLine(line)) -> exit code
 *
 * - the launcher runs as libuv would run it: `args` after argv[0], environment `PATH=path`
 *   only, stdin/stdout/stderr inherited (made blocking, as libuv does for fds 0-2), the
 *   status pipe's write end as fd 3, every signal at its default and none blocked;
 * - onSpawn(pid) once it runs (the pid record); if it throws, the launcher is killed
 *   (SIGKILL) and the exception is rethrown once it has been waited for;
 * - onStatusLine(line) for each line it writes to fd 3 (without the newline); an exception
 *   stops further calls and is rethrown when the launcher has exited;
 * - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to us meanwhile are
 *   forwarded to it (process.ts's FORWARDED); the previous handlers come back afterwards;
 * - the result is its exit status, or 128 + the signal that ended it.
 * A launcher that cannot be started throws a system error (syscall "spawn").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "napi-errors.h"

extern char **environ;

#define STATUS_FD 3
#define MAX_LINE 4096

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof FORWARDED / sizeof *FORWARDED)

static volatile sig_atomic_t launcher_pid;

static void forward(int sig)
{
    if (launcher_pid > 0)
        kill(launcher_pid, sig);
}

/* A JS string argument, malloc'd; NULL (with a TypeError thrown) when it is not one. */
static char *string_arg(napi_env env, napi_value v, const char *what)
{
    size_t len;
    if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
        throw_type(env, what);
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    return s;
}

struct call {
    napi_env env;
    napi_value on_spawn, on_line;
    napi_value error; /* the first exception a callback threw */
};

/* Calls back into JS; false (exception kept in c->error) when it threw. */
static bool call_back(struct call *c, napi_value fn, napi_value arg)
{
    if (c->error)
        return false;
    napi_value global, result;
    napi_get_global(c->env, &global);
    if (napi_call_function(c->env, global, fn, 1, &arg, &result) == napi_ok)
        return true;
    bool pending = false;
    napi_is_exception_pending(c->env, &pending);
    if (pending)
        napi_get_and_clear_last_exception(c->env, &c->error);
    else
        napi_get_undefined(c->env, &c->error);
    return false;
}

/* Hands each complete line in buf to onStatusLine; keeps the rest. */
static void status_lines(struct call *c, char *buf, size_t *len)
{
    char *line = buf, *nl;
    while ((nl = memchr(line, '\n', *len - (size_t)(line - buf)))) {
        napi_value s;
        if (napi_create_string_utf8(c->env, line, (size_t)(nl - line), &s) == napi_ok)
            call_back(c, c->on_line, s);
        line = nl + 1;
    }
    size_t rest = *len - (size_t)(line - buf);
    memmove(buf, line, rest);
    *len = rest;
    /* Not a status line (none is this long): dropped, as JSON.parse would drop it. */
    if (*len == MAX_LINE)
        *len = 0;
}

static napi_value do_launch(napi_env env, napi_callback_info info)
{
    size_t argc = 5;
    napi_value argv[5];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 5)
        return throw_type(env, "launch(launcher, args, path, onSpawn, onStatusLine) takes 5 arguments");
    uint32_t nargs;
    bool is_array;
    if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &nargs) != napi_ok)
        return throw_type(env, "args must be an array of strings");

    struct call c = {env, argv[3], argv[4], NULL};
    char *launcher = string_arg(env, argv[0], "launcher must be a string");
    char *path = launcher ? string_arg(env, argv[2], "path must be a string") : NULL;
    char **args = calloc((size_t)nargs + 2, sizeof *args);
    char *path_env = NULL;
    napi_value result = NULL;
    int status[2] = {-1, -1}, pidfd = -1;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool have_actions = false, have_attr = false;
    struct sigaction old[NFORWARDED];
    bool handlers = false;
    if (!launcher || !path || !args)
        goto out;
    args[0] = launcher;
    for (uint32_t i = 0; i < nargs; i++) {
        napi_value v;
        if (napi_get_element(env, argv[1], i, &v) != napi_ok || !(args[i + 1] = string_arg(env, v, "args must be an array of strings")))
            goto out;
    }
    if (!(path_env = malloc(strlen(path) + 6)))
        goto out;
    strcpy(path_env, "PATH=");
    strcat(path_env, path);
    char *envp[] = {path_env, NULL};

    if (pipe2(status, O_CLOEXEC) < 0) {
        throw_system(env, errno, "pipe", NULL);
        goto out;
    }
    /* dup2 onto the same fd would keep its close-on-exec. */
    if (status[1] == STATUS_FD) {
        int fd = fcntl(status[1], F_DUPFD_CLOEXEC, STATUS_FD + 1);
        close(status[1]);
        status[1] = fd;
    }
    posix_spawn_file_actions_init(&actions);
    have_actions = true;
    for (int fd = 0; fd <= 2; fd++) {
        /* Node may hold them close-on-exec: a dup2 onto itself clears that in the child. */
        if (fcntl(fd, F_GETFD) >= 0)
            posix_spawn_file_actions_adddup2(&actions, fd, fd);
        /* libuv clears O_NONBLOCK on the fds 0-2 it passes on (shared with us: so do we). */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_NONBLOCK))
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    posix_spawn_file_actions_adddup2(&actions, status[1], STATUS_FD);
    posix_spawnattr_init(&attr);
    have_attr = true;
    sigset_t none, all, fwd, prev;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    /* Forwarded signals wait until the launcher's pid is known. */
    sigemptyset(&fwd);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&fwd, FORWARDED[i]);
    pthread_sigmask(SIG_BLOCK, &fwd, &prev);
    pid_t pid;
    int err = posix_spawn(&pid, launcher, &actions, &attr, args, envp);
    if (err) {
        pthread_sigmask(SIG_SETMASK, &prev, NULL);
        throw_system(env, err, "spawn", launcher);
        goto out;
    }
    launcher_pid = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(FORWARDED[i], &sa, &old[i]);
    handlers = true;
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    close(status[1]);
    status[1] = -1;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

    napi_value jpid;
    napi_create_int32(env, pid, &jpid);
    if (!call_back(&c, c.on_spawn, jpid))
        kill(pid, SIGKILL);

    char buf[MAX_LINE + 1];
    size_t len = 0;
    int wstatus = 0;
    bool exited = false, status_open = true;
    while (!exited) {
        struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {status_open ? status[0] : -1, POLLIN, 0}};
        /* Without a pidfd (an old kernel), look for the exit now and then. */
        int r = poll(fds, 2, pidfd >= 0 ? -1 : 20);
        if (r < 0 && errno != EINTR)
            break;
        if (status_open && r > 0 && fds[1].revents) {
            ssize_t n = read(status[0], buf + len, MAX_LINE - len);
            if (n > 0) {
                len += (size_t)n;
                status_lines(&c, buf, &len);
            } else if (n == 0 || errno != EINTR) {
                status_open = false;
            }
        }
        pid_t w;
        do
            w = waitpid(pid, &wstatus, WNOHANG);
        while (w < 0 && errno == EINTR);
        if (w == pid || (w < 0 && errno == ECHILD))
            exited = true;
    }
    launcher_pid = 0;
    int code = !exited ? 125 : WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    if (c.error)
        napi_throw(env, c.error);
    else
        napi_create_int32(env, code, &result);

out:
    if (handlers)
        for (size_t i = 0; i < NFORWARDED; i++)
            sigaction(FORWARDED[i], &old[i], NULL);
    if (have_actions)
        posix_spawn_file_actions_destroy(&actions);
    if (have_attr)
        posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 2; i++)
        if (status[i] >= 0)
            close(status[i]);
    if (pidfd >= 0)
        close(pidfd);
    if (args)
        for (uint32_t i = 1; i <= nargs; i++)
            free(args[i]);
    free(args);
    free(launcher);
    free(path);
    free(path_env);
    return result;
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "launch", NAPI_AUTO_LENGTH, do_launch, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "launch", fn) != napi_ok)
        return NULL;
    return exports;
}
