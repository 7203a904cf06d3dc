/*
 * karapace-front-door: the `karapace` executable's native front door. It runs a fresh
 * `karapace [--store S] exec ENV [--] CMD...` or `enter ENV [CMD...]` without starting Node,
 * from an exec plan the Node CLI wrote on an earlier run of the same command line
 * (plugins/runtime-namespace/src/exec-plan.ts: the launcher argv minus the command, and
 * every input the Node path consulted, with what it saw). This file only checks that the
 * plan is still true and then does what the Node path does for a fresh start
 * (plugins/runtime-namespace/src/backend.ts, process.ts): the env lock, the pid record, the
 * launcher's status fd, the running mark, the sandbox record once it is ready, signal forwarding. Anything
 * else — another option, no plan, a changed input, a sandbox already running (joining it),
 * the lock held, any error — execs the Node CLI, which does everything as it always has,
 * and tells it where to write the plan for next time (KARAPACE_FRONT_DOOR_PLAN/_KEY).
 *
 * Plan format: NUL-terminated strings; a tag, then its fields (exec-plan.ts writes it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PLAN_MAGIC "karapace-exec-plan-1"
/** Variables of the front door itself: never inputs of a plan (exec-plan.ts drops them too). */
#define OWN_PREFIX "KARAPACE_FRONT_DOOR"
#define MAX_PLAN (4u << 20)

static char **orig_argv;
/** Why the front door handed over ($KARAPACE_FRONT_DOOR_DEBUG=1 prints it). */
static char why[PATH_MAX + 64] = "not a command line the front door runs";

#define STALE(...) (snprintf(why, sizeof why, __VA_ARGS__), -1)
static const char *plan_path;
static char *plan_key;

/* ---- hand-over to the Node CLI ---------------------------------------------------- */

static const char *node_cli(void) {
    static char buf[PATH_MAX + 64];
    const char *env = getenv(OWN_PREFIX "_CLI");
    if (env && *env) return env;
    /* Installed: <cli>/bin/karapace.cjs is this binary; the CLI is <cli>/dist/bundle/karapace.cjs. */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return NULL;
    *slash = 0;
    snprintf(buf, sizeof buf, "%s/../dist/bundle/karapace.cjs", self);
    return buf;
}

/** Execs `node <cli> ARGS...`; with a plan path, the Node CLI writes the plan there. */
static void __attribute__((noreturn)) hand_over(int with_plan) {
    const char *cli = node_cli();
    const char *debug = getenv(OWN_PREFIX "_DEBUG");
    if (debug && strcmp(debug, "1") == 0) fprintf(stderr, "karapace front door: handing over to Node: %s\n", why);
    if (with_plan && plan_path && plan_key) {
        setenv(OWN_PREFIX "_PLAN", plan_path, 1);
        setenv(OWN_PREFIX "_KEY", plan_key, 1);
    }
    int argc = 0;
    while (orig_argv[argc]) argc++;
    char **argv = calloc((size_t)argc + 3, sizeof *argv);
    if (!argv || !cli) {
        fprintf(stderr, "karapace: cannot find the Node CLI (set " OWN_PREFIX "_CLI)\n");
        _exit(125);
    }
    argv[0] = "node";
    argv[1] = (char *)cli;
    for (int i = 1; i < argc; i++) argv[i + 1] = orig_argv[i];
    execvp("node", argv);
    fprintf(stderr, "karapace: cannot run node: %s\n", strerror(errno));
    _exit(127);
}

/* ---- the command line --------------------------------------------------------------- */

struct cmdline {
    const char *store; /* --store, or NULL */
    const char *verb;  /* exec | enter */
    const char *ref;
    char **command; /* the user's command (may be empty for enter) */
    int ncommand;
};

/**
 * The simple shapes only: `--store S`/`--store=S` anywhere before the command, `exec ENV
 * [--] CMD...`, `enter ENV [--] [CMD...]` with no option-like word in an enter's command.
 * The Node CLI's dispatcher (cli/src/fast-dispatch.cts) reads these alike; anything else
 * is for it alone.
 */
static int parse_cmdline(int argc, char **argv, struct cmdline *c) {
    memset(c, 0, sizeof *c);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--store") == 0) {
            if (c->store || i + 1 >= argc || argv[i + 1][0] == '-') return -1;
            c->store = argv[++i];
        } else if (strncmp(a, "--store=", 8) == 0) {
            if (c->store) return -1;
            c->store = a + 8;
        } else if (a[0] == '-') {
            return -1;
        } else if (!c->verb) {
            if (strcmp(a, "exec") != 0 && strcmp(a, "enter") != 0) return -1;
            c->verb = a;
        } else {
            c->ref = a;
            i++;
            break;
        }
    }
    if (!c->verb || !c->ref) return -1;
    int enter = strcmp(c->verb, "enter") == 0;
    /* Options between the env and the command: --store alone. */
    while (i < argc && (strcmp(argv[i], "--store") == 0 || strncmp(argv[i], "--store=", 8) == 0)) {
        if (c->store) return -1;
        if (argv[i][7] == '=') c->store = argv[i] + 8;
        else {
            if (i + 1 >= argc || argv[i + 1][0] == '-') return -1;
            c->store = argv[++i];
        }
        i++;
    }
    int dashdash = i < argc && strcmp(argv[i], "--") == 0;
    if (dashdash) i++;
    if (!dashdash && i < argc && argv[i][0] == '-') return -1;
    c->command = argv + i;
    c->ncommand = argc - i;
    if (enter && !dashdash)
        for (int k = 0; k < c->ncommand; k++)
            if (c->command[k][0] == '-') return -1;
    if (!enter && c->ncommand == 0) return -1;
    if (c->ncommand > 0 && c->command[0][0] == 0) return -1;
    if (c->ref[0] == 0) return -1;
    return 0;
}

/* ---- the plan's key and file ---------------------------------------------------------- */

static char *build_key(const struct cmdline *c) {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return NULL;
    char *key = NULL;
    if (asprintf(&key, "uid=%u gid=%u verb=%s command=%s store=%s%s ref=%s cwd=%s", (unsigned)getuid(),
                 (unsigned)getgid(), c->verb, c->ncommand ? "given" : "none", c->store ? "+" : "-",
                 c->store ? c->store : "", c->ref, cwd) < 0)
        return NULL;
    return key;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static char *plan_file(const char *key) {
    const char *base = getenv("XDG_CACHE_HOME");
    char *path = NULL;
    int r;
    if (base && base[0] == '/') r = asprintf(&path, "%s/karapace/exec-plans/%016llx", base, (unsigned long long)fnv1a(key));
    else {
        const char *home = getenv("HOME");
        if (!home || home[0] != '/') return NULL;
        r = asprintf(&path, "%s/.cache/karapace/exec-plans/%016llx", home, (unsigned long long)fnv1a(key));
    }
    return r < 0 ? NULL : path;
}

struct plan {
    char *buf;
    size_t len, pos;
};

static const char *next(struct plan *p) {
    if (p->pos >= p->len) return NULL;
    const char *s = p->buf + p->pos;
    const char *end = memchr(s, 0, p->len - p->pos);
    if (!end) return NULL;
    p->pos = (size_t)(end - p->buf) + 1;
    return s;
}

/** Reads the plan: ours (owned by us, written by no one else), NUL-terminated fields. */
static int read_plan(const char *path, struct plan *p) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 022) ||
        st.st_size <= 0 || (size_t)st.st_size > MAX_PLAN) {
        close(fd);
        return -1;
    }
    p->buf = malloc((size_t)st.st_size);
    p->len = 0;
    p->pos = 0;
    while (p->buf && p->len < (size_t)st.st_size) {
        ssize_t n = read(fd, p->buf + p->len, (size_t)st.st_size - p->len);
        if (n <= 0) break;
        p->len += (size_t)n;
    }
    close(fd);
    return p->buf && p->len == (size_t)st.st_size ? 0 : -1;
}

/* ---- freshness ------------------------------------------------------------------------ */

/**
 * What a path looks like, in the words exec-plan.ts uses: `-` absent, `!` not searchable, else the file type and
 * identity. Files count by device, inode, mode, owner, size, mtime and ctime (in ns: any
 * write or chmod changes ctime). A directory consulted by stat counts by device, inode, mode,
 * owner and birth time (its ctime moves whenever an entry in it does: each sandbox makes
 * and removes mount points in the upper dir); a directory whose listing was read (`D`)
 * counts by its mtime and ctime as well.
 */
static long long ns(struct statx_timestamp t) { return (long long)t.tv_sec * 1000000000ll + t.tv_nsec; }

static int fingerprint(const char *path, int follow, int listing, char *out, size_t size) {
    struct statx sx;
    int flags = AT_STATX_SYNC_AS_STAT | (follow ? 0 : AT_SYMLINK_NOFOLLOW);
    if (statx(AT_FDCWD, path, flags, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EACCES) {
            snprintf(out, size, errno == EACCES ? "!" : "-");
            return 0;
        }
        return -1;
    }
    unsigned long long dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    unsigned mode = sx.stx_mode;
    if (S_ISDIR(mode) && !listing)
        snprintf(out, size, "d:%llu:%llu:%o:%u:%u:%lld", dev, (unsigned long long)sx.stx_ino, mode, sx.stx_uid,
                 sx.stx_gid, ns(sx.stx_btime));
    else
        snprintf(out, size, "%c:%llu:%llu:%o:%u:%u:%llu:%lld:%lld", S_ISDIR(mode) ? 'l' : 'f', dev,
                 (unsigned long long)sx.stx_ino, mode, sx.stx_uid, sx.stx_gid, (unsigned long long)sx.stx_size,
                 ns(sx.stx_mtime), ns(sx.stx_ctime));
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/** Every variable name (but ours), sorted by code unit, one per line: what `N` records. */
static char *env_names(void) {
    size_t n = 0, total = 1;
    for (char **e = environ; *e; e++) n++;
    char **names = calloc(n + 1, sizeof *names);
    if (!names) return NULL;
    size_t k = 0;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
        if (strncmp(*e, OWN_PREFIX, strlen(OWN_PREFIX)) == 0) continue;
        names[k] = strndup(*e, len);
        if (!names[k]) return NULL;
        total += len + 1;
        k++;
    }
    qsort(names, k, sizeof *names, cmp_str);
    char *out = malloc(total);
    if (!out) return NULL;
    out[0] = 0;
    size_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        /* Duplicated names (a hand-made environ) read as one, as in Node. */
        if (i && strcmp(names[i], names[i - 1]) == 0) continue;
        if (pos) out[pos++] = '\n';
        size_t len = strlen(names[i]);
        memcpy(out + pos, names[i], len);
        pos += len;
        out[pos] = 0;
    }
    return out;
}

struct exec_plan {
    const char *launcher;
    const char **prefix;
    int nprefix;
    const char *path_env; /* the launcher's PATH */
    const char *runtime;  /* <env>/runtime: lock, sandbox.json, pids/ */
    const char *purpose;  /* exec | enter */
    const char *mark;     /* <root>/running/<env_id>: the store's running index */
};

/** 0 when every recorded input is as recorded and the plan is complete. */
static int check_plan(struct plan *p, const char *key, struct exec_plan *x) {
    const char *s = next(p);
    if (!s || strcmp(s, PLAN_MAGIC) != 0) return -1;
    char fp[256];
    char *names = NULL;
    memset(x, 0, sizeof *x);
    for (;;) {
        const char *tag = next(p);
        if (!tag) return -1;
        if (strcmp(tag, "Z") == 0) break;
        if (strcmp(tag, "K") == 0) {
            const char *k = next(p);
            if (!k || strcmp(k, key) != 0) return STALE("the plan is for another command line");
        } else if (strcmp(tag, "X") == 0) {
            x->launcher = next(p);
        } else if (strcmp(tag, "A") == 0) {
            const char *n = next(p);
            if (!n) return -1;
            x->nprefix = atoi(n);
            if (x->nprefix < 0 || x->nprefix > 100000) return -1;
            x->prefix = calloc((size_t)x->nprefix + 1, sizeof *x->prefix);
            if (!x->prefix) return -1;
            for (int i = 0; i < x->nprefix; i++)
                if (!(x->prefix[i] = next(p))) return -1;
        } else if (strcmp(tag, "P") == 0) {
            x->path_env = next(p);
        } else if (strcmp(tag, "R") == 0) {
            x->runtime = next(p);
        } else if (strcmp(tag, "W") == 0) {
            x->purpose = next(p);
        } else if (strcmp(tag, "M") == 0) {
            x->mark = next(p);
        } else if (strcmp(tag, "S") == 0 || strcmp(tag, "L") == 0 || strcmp(tag, "D") == 0) {
            const char *path = next(p), *want = next(p);
            if (!path || !want) return -1;
            if (fingerprint(path, tag[0] != 'L', tag[0] == 'D', fp, sizeof fp) < 0 || strcmp(fp, want) != 0)
                return STALE("%s changed", path);
        } else if (strcmp(tag, "V") == 0) {
            const char *name = next(p), *want = next(p);
            if (!name || !want) return -1;
            const char *have = getenv(name);
            if (!have || strcmp(have, want) != 0) return STALE("$%s changed", name);
        } else if (strcmp(tag, "U") == 0) {
            const char *name = next(p);
            if (!name || getenv(name)) return STALE("$%s is set", name ? name : "?");
        } else if (strcmp(tag, "N") == 0) {
            const char *want = next(p);
            if (!want) return -1;
            if (!names && !(names = env_names())) return -1;
            if (strcmp(names, want) != 0) return STALE("the set of environment variables changed");
        } else {
            return -1; /* a plan from another version */
        }
    }
    free(names);
    if (!x->launcher || !x->prefix || !x->path_env || !x->runtime || !x->purpose || !x->mark) return -1;
    if (strcmp(x->purpose, "exec") != 0 && strcmp(x->purpose, "enter") != 0) return -1;
    return 0;
}

/* ---- running: what process.ts and backend.ts do for a fresh sandbox -------------------- */

/** Field 22 of /proc/PID/stat (start time in ticks) and whether it is a zombie. */
static int start_time(pid_t pid, char *out, size_t size, int *zombie) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return -1;
    p += 2;
    /* Fields from 3 (state); the start time is field 22. */
    char *state = p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) return -1;
        p++;
    }
    size_t len = strcspn(p, " \n");
    if (len == 0 || len >= size) return -1;
    memcpy(out, p, len);
    out[len] = 0;
    if (zombie) *zombie = state[0] == 'Z';
    return 0;
}

/** pid-record.ts liveSandbox(): 1 when sandbox.json names a live process started when recorded. */
static int sandbox_live(const char *runtime) {
    char path[PATH_MAX], buf[256], start[64];
    snprintf(path, sizeof path, "%s/sandbox.json", runtime);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* Written by writeSandboxRecord: {"pid":N,"start":"S"}. Anything else: let Node read it. */
    long pid;
    char want[64];
    if (sscanf(buf, "{\"pid\":%ld,\"start\":\"%63[0-9]\"}", &pid, want) != 2) return -1;
    int zombie = 0;
    if (start_time((pid_t)pid, start, sizeof start, &zombie) < 0) return 0;
    return strcmp(start, want) == 0 && !zombie;
}

static int write_file(const char *path, const char *content) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return -1;
    size_t len = strlen(content);
    ssize_t n = write(fd, content, len);
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

static volatile sig_atomic_t launcher_pid;
static int wake_pipe[2] = {-1, -1};

static void forward(int sig) {
    if (launcher_pid > 0) kill(launcher_pid, sig);
}

static void on_child(int sig) {
    (void)sig;
    int e = errno;
    if (write(wake_pipe[1], "c", 1) < 0) { /* full: a wake-up is pending anyway */ }
    errno = e;
}

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

/** Reads status lines; returns the sandbox's pid 1 once `sandbox-ready` came, 0 before. */
static pid_t status_lines(char *buf, size_t *len, pid_t *child_pid) {
    pid_t ready = 0;
    char *line = buf;
    for (char *nl; (nl = memchr(line, '\n', *len - (size_t)(line - buf))); line = nl + 1) {
        *nl = 0;
        const char *c = strstr(line, "\"child-pid\":");
        if (c) *child_pid = (pid_t)strtol(c + 12, NULL, 10);
        if (strstr(line, "\"sandbox-ready\": true") || strstr(line, "\"sandbox-ready\":true")) ready = *child_pid;
    }
    size_t rest = *len - (size_t)(line - buf);
    memmove(buf, line, rest);
    *len = rest;
    return ready;
}

static int run(const struct exec_plan *x, const struct cmdline *c) {
    char lock_path[PATH_MAX], pids[PATH_MAX], record[PATH_MAX + 32], sandbox[PATH_MAX], tmp[PATH_MAX + 32];
    if (strlen(x->runtime) > PATH_MAX - 64) hand_over(1);
    snprintf(lock_path, sizeof lock_path, "%s/lock", x->runtime);
    snprintf(pids, sizeof pids, "%s/pids", x->runtime);
    snprintf(sandbox, sizeof sandbox, "%s/sandbox.json", x->runtime);
    snprintf(tmp, sizeof tmp, "%s/sandbox.json.%d.tmp", x->runtime, (int)getpid());
    if (access(x->launcher, X_OK) < 0) hand_over(1);

    /* env-lock.ts: one flock on <runtime>/lock; held by another command → Node waits for it. */
    int lock = open(lock_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (lock < 0) hand_over(1);
    if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
        close(lock);
        hand_over(1);
    }
    /* Running → Node joins it (backend.ts). */
    if (sandbox_live(x->runtime) != 0) {
        close(lock);
        hand_over(1);
    }

    int status[2];
    if (pipe2(status, O_CLOEXEC) < 0 || pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(lock);
        hand_over(1);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);

    int argc = 0;
    const char **argv = calloc((size_t)x->nprefix + (size_t)c->ncommand + 4, sizeof *argv);
    if (!argv) hand_over(1);
    argv[argc++] = x->launcher;
    argv[argc++] = "--json-status-fd";
    argv[argc++] = "3";
    for (int i = 0; i < x->nprefix; i++) argv[argc++] = x->prefix[i];
    for (int i = 0; i < c->ncommand; i++) argv[argc++] = c->command[i];
    argv[argc] = NULL;
    char *path_env = NULL;
    if (asprintf(&path_env, "PATH=%s", x->path_env) < 0) hand_over(1);
    char *envp[] = {path_env, NULL};

    /* Forwarded signals are blocked until the launcher's pid is known. */
    sigset_t fwd, old;
    sigemptyset(&fwd);
    for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++) sigaddset(&fwd, FORWARDED[i]);
    sigprocmask(SIG_BLOCK, &fwd, &old);
    pid_t pid = fork();
    if (pid < 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(lock);
        hand_over(1);
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGCHLD, SIG_DFL);
        if (dup2(status[1], 3) < 0) _exit(125);
        execve(x->launcher, (char *const *)argv, envp);
        fprintf(stderr, "karapace: could not start the sandbox launcher %s: %s\n", x->launcher, strerror(errno));
        _exit(125);
    }
    launcher_pid = pid;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++) sigaction(FORWARDED[i], &sa, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(status[1]);

    /* process.ts writes the pid record once the launcher runs. */
    char start[64], line[512];
    int recorded = 0;
    snprintf(record, sizeof record, "%s/%d", pids, (int)pid);
    if (start_time(pid, start, sizeof start, NULL) == 0) {
        mkdir(pids, 0777);
        snprintf(line, sizeof line, "{\"pid\":%d,\"start\":\"%s\",\"purpose\":\"%s\",\"kind\":\"launcher\",\"cli\":%d}\n",
                 (int)pid, start, x->purpose, (int)getpid());
        recorded = write_file(record, line) == 0;
    }
    /* store/running-index.ts: the mark follows the record (list asks only marked envs);
     * without the index directory the next list looks at every env. */
    if (recorded && write_file(x->mark, "") < 0 && errno != ENOENT)
        fprintf(stderr, "karapace: could not mark %s as running: %s\n", x->mark, strerror(errno));

    char buf[4096];
    size_t len = 0;
    pid_t child_pid = 0;
    int status_open = 1, wstatus = 0, exited = 0;
    while (!exited) {
        struct pollfd fds[2] = {{wake_pipe[0], POLLIN, 0}, {status_open ? status[0] : -1, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
        if (fds[0].revents) {
            char drain[16];
            while (read(wake_pipe[0], drain, sizeof drain) > 0) {}
        }
        if (status_open && fds[1].revents) {
            ssize_t n = read(status[0], buf + len, sizeof buf - 1 - len);
            if (n <= 0) {
                status_open = 0;
                close(status[0]);
            } else {
                len += (size_t)n;
                pid_t ready = status_lines(buf, &len, &child_pid);
                if (len == sizeof buf - 1) len = 0; /* not a status line */
                if (ready > 0 && lock >= 0) {
                    /* backend.ts: the sandbox record, then the lock goes. */
                    if (start_time(ready, start, sizeof start, NULL) == 0) {
                        snprintf(line, sizeof line, "{\"pid\":%d,\"start\":\"%s\"}\n", (int)ready, start);
                        if (write_file(tmp, line) == 0) rename(tmp, sandbox);
                    }
                    close(lock);
                    lock = -1;
                }
            }
        }
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid) exited = 1;
    }
    if (lock >= 0) close(lock);
    launcher_pid = 0;
    if (recorded) unlink(record);
    if (!exited) return 125;
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

int main(int argc, char **argv) {
    orig_argv = argv;
    /* The installer's check that this binary runs on this machine. */
    if (getenv(OWN_PREFIX "_CHECK")) {
        puts("karapace-front-door");
        return 0;
    }
    const char *off = getenv(OWN_PREFIX);
    if (off && strcmp(off, "0") == 0) hand_over(0);
    struct cmdline c;
    if (parse_cmdline(argc, argv, &c) < 0) hand_over(0);
    plan_key = build_key(&c);
    if (!plan_key || !(plan_path = plan_file(plan_key))) hand_over(0);
    struct plan p;
    struct exec_plan x;
    snprintf(why, sizeof why, "no usable plan at %s", plan_path);
    if (read_plan(plan_path, &p) < 0 || check_plan(&p, plan_key, &x) < 0) hand_over(1);
    snprintf(why, sizeof why, "the environment is running or locked (Node joins or waits)");
    return run(&x, &c);
}
