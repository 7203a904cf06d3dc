/* The stat fingerprint of a tree, for re-verifying a cached image on every use (issue 18).
 *
 * The reference is plugins/image-sources/src/digest.ts (`fingerprintRootfsReference`): a
 * blake3 over one line per entry, "<rel>\0<ino>\0<mode>\0<uid>:<gid>\0<size>\0<mtimeMs>\0<ctimeMs>\n",
 * the root first (rel ""), then a pre-order walk with each directory's names sorted as
 * JavaScript sorts strings. This walk writes the same bytes: numbers as JavaScript prints
 * them (the times are Node's doubles, sec * 1e3 + nsec / 1e6, printed shortest-round-trip as
 * V8 does), names sorted bytewise (the same order as UTF-16's for UTF-8 without 4-byte
 * sequences). Anything it cannot write exactly — such a name, invalid UTF-8, a number a
 * double does not hold, a time JavaScript would print otherwise — and any error hands the
 * tree back (undefined), and the TypeScript walk does it (test/plugins/image-sources/
 * fingerprint.test.ts holds the two to the same values).
 *
 * getdents64 + fstatat relative to each directory's fd, on two threads (the plan below):
 * what the fingerprint costs is the system calls, and Node's lstatSync spends several times
 * a call's own cost in libuv and in making a Stats object per entry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "blake3.h"

/* Why the walk stopped: an error, or something only the TypeScript walk writes exactly. */
enum { FP_OK = 0, FP_HAND_BACK = 1 };

/* Lines in order, in a growing buffer (a whole image's are under a megabyte). */
struct out {
    char *buf;
    size_t used, cap;
    int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->used + n > o->cap) {
        size_t cap = o->cap ? o->cap : 1 << 14;
        while (o->used + n > cap)
            cap *= 2;
        char *grown = realloc(o->buf, cap);
        if (!grown) {
            o->failed = 1;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
    memcpy(o->buf + o->used, s, n);
    o->used += n;
}

/* Decimal digits of `v` at `out` (at most 20); returns their count. */
static size_t put_u64(char *out, uint64_t v)
{
    /* Two digits a step from the end (a line has six numbers, an image thousands of lines). */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char tmp[20], *p = tmp + sizeof tmp;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, n);
    return n;
}

/* An integer as JavaScript prints the double it becomes; -1 when that double is not exact. */
static int put_exact(char *out, uint64_t v)
{
    if (v > (1ull << 53))
        return -1;
    return (int)put_u64(out, v);
}

/*
 * A double as JavaScript's Number.prototype.toString prints it (V8: the shortest digits that
 * read back as the same double, the nearest such when there are several, ties to an even
 * last digit; fixed notation from 1 to 1e21), for the values file times have. Returns the
 * length, or -1 for a value it does not print (below 1 but not 0, non-finite, at or above
 * 2^53, or needing more than 20 fraction digits), which the TypeScript walk then does.
 *
 * v = M / 2^n exactly (M the 53-bit significand). With k fraction digits the candidate is
 * q / 10^k, q = M·10^k / 2^n rounded to nearest, ties to even; it reads back as v when it is
 * within half an ulp (1 / 2^(n+1)) of v, the bound included when M is even (round-half-even
 * reading). The first k that works gives the shortest digits.
 */
static int put_js_number(char *out, double v)
{
    if (v == 0) {
        out[0] = '0';
        return 1;
    }
    int len = 0;
    if (v < 0) {
        out[len++] = '-';
        v = -v;
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int exp = (int)((bits >> 52) & 0x7ff);
    if (exp == 0 || exp == 0x7ff || v < 1)
        return -1;
    uint64_t m = (bits & ((1ull << 52) - 1)) | (1ull << 52);
    int e = exp - 1075;
    if (e > 0)
        return -1;
    if (e == 0)
        return len + (int)put_u64(out + len, m);
    int n = -e; /* 1..52, since v >= 1 */
    if (n <= 40) {
        /* File times (n = 12 today): the same steps on the fraction alone, in 64 bits. */
        uint64_t whole = m >> n, fraction = m & ((1ull << n) - 1), half = 1ull << (n - 1), p = 1;
        for (int k = 0; k <= 6; k++, p *= 10) {
            uint64_t x = fraction * p, q = x >> n, r = x & ((1ull << n) - 1);
            if (r > half || (r == half && (q & 1)))
                q++;
            uint64_t at = q << n, d = at > x ? at - x : x - at;
            if (2 * d < p || (2 * d == p && (m & 1) == 0)) {
                len += (int)put_u64(out + len, whole + q / p);
                if (k) {
                    uint64_t digits = q % p;
                    out[len++] = '.';
                    for (int i = k - 1; i >= 0; i--, digits /= 10)
                        out[len + i] = (char)('0' + digits % 10);
                    len += k;
                }
                return len;
            }
        }
    }
    unsigned __int128 p10 = 1;
    for (int k = 0; k <= 20; k++, p10 *= 10) {
        unsigned __int128 x = (unsigned __int128)m * p10;
        unsigned __int128 q = x >> n, r = x & (((unsigned __int128)1 << n) - 1), half = (unsigned __int128)1 << (n - 1);
        if (r > half || (r == half && (q & 1)))
            q++;
        unsigned __int128 at = q << n, d = at > x ? at - x : x - at;
        if (2 * d < p10 || (2 * d == p10 && (m & 1) == 0)) {
            /* File times need k <= 4 and q < 2^64: 64-bit division then. */
            uint64_t whole, frac;
            if (q >> 64 == 0 && p10 >> 64 == 0) {
                whole = (uint64_t)q / (uint64_t)p10;
                frac = (uint64_t)q % (uint64_t)p10;
            } else {
                whole = (uint64_t)(q / p10);
                frac = (uint64_t)(q % p10);
            }
            len += (int)put_u64(out + len, whole);
            if (k) {
                out[len++] = '.';
                for (int i = k - 1; i >= 0; i--, frac /= 10)
                    out[len + i] = (char)('0' + frac % 10);
                len += k;
            }
            return len;
        }
    }
    return -1;
}

/* Node's milliseconds: msFromTimeSpec(sec, nsec) = sec * 1e3 + nsec / 1e6, in doubles. */
static double node_ms(const struct timespec *t)
{
    return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

static int put_line(struct out *o, const char *rel, size_t rel_len, const struct stat *st)
{
    char line[160];
    int n = 0, w;
    line[n++] = '\0';
    if ((w = put_exact(line + n, st->st_ino)) < 0)
        return FP_HAND_BACK;
    n += w;
    line[n++] = '\0';
    n += (int)put_u64(line + n, st->st_mode);
    line[n++] = '\0';
    n += (int)put_u64(line + n, st->st_uid);
    line[n++] = ':';
    n += (int)put_u64(line + n, st->st_gid);
    line[n++] = '\0';
    if ((w = put_exact(line + n, (uint64_t)st->st_size)) < 0)
        return FP_HAND_BACK;
    n += w;
    line[n++] = '\0';
    if ((w = put_js_number(line + n, node_ms(&st->st_mtim))) < 0)
        return FP_HAND_BACK;
    n += w;
    line[n++] = '\0';
    if ((w = put_js_number(line + n, node_ms(&st->st_ctim))) < 0)
        return FP_HAND_BACK;
    n += w;
    line[n++] = '\n';
    put(o, rel, rel_len);
    put(o, line, (size_t)n);
    return FP_OK;
}

/* Valid UTF-8 without 4-byte sequences: bytewise order is then JavaScript's sort order, and
 * the name is the bytes Node would hash for it. */
static int plain_utf8(const unsigned char *s)
{
    while (*s) {
        if (*s < 0x80) {
            s++;
        } else if ((*s & 0xe0) == 0xc0 && *s >= 0xc2 && (s[1] & 0xc0) == 0x80) {
            s += 2;
        } else if ((*s & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
            unsigned cp = ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
            if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
            s += 3;
        } else {
            return 0;
        }
    }
    return 1;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory `fd`, sorted, in one allocation (`*names` → pointers, then the bytes). */
static int read_names(int fd, char ***names, size_t *count)
{
    size_t cap = 1 << 14, used = 0, n = 0;
    char *bytes = malloc(cap);
    char dents[1 << 15];
    if (!bytes)
        return -1;
    for (;;) {
        ssize_t got = getdents64(fd, dents, sizeof dents);
        if (got < 0) {
            free(bytes);
            return -1;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            struct dirent64 *d = (struct dirent64 *)(dents + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
                continue;
            size_t len = strlen(name) + 1;
            if (used + len > cap) {
                while (used + len > cap)
                    cap *= 2;
                char *grown = realloc(bytes, cap);
                if (!grown) {
                    free(bytes);
                    return -1;
                }
                bytes = grown;
            }
            memcpy(bytes + used, name, len);
            used += len;
            n++;
        }
    }
    char **list = malloc(n * sizeof *list + used);
    if (!list) {
        free(bytes);
        return -1;
    }
    char *copy = (char *)(list + n);
    memcpy(copy, bytes, used);
    free(bytes);
    for (size_t i = 0, at = 0; i < n; i++) {
        list[i] = copy + at;
        at += strlen(copy + at) + 1;
    }
    qsort(list, n, sizeof *list, by_bytes);
    *names = list;
    *count = n;
    return 0;
}

/*
 * Two threads share the walk: the calling thread walks the top levels itself, down to
 * directories SPLIT_DEPTH deep (usr/share/perl, usr/lib/x86_64-linux-gnu …), and each of
 * those is a task whose lines go to a piece of their own; both threads then take tasks in
 * turn, and the pieces are hashed in walk order. A Debian image's largest such subtree is a
 * fifth of its entries.
 */
#define SPLIT_DEPTH 3
#define MAX_TASKS 512

struct piece {
    struct out out;
    int fd;           /* a task: its directory, walked by a worker; -1 for lines written inline */
    size_t rel_len;
    char *rel;
    int rc;
};

struct plan {
    struct piece *pieces;
    size_t count, cap, tasks;
    _Atomic size_t next;
};

static struct piece *new_piece(struct plan *p)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct piece *grown = realloc(p->pieces, cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->pieces = grown;
        p->cap = cap;
    }
    struct piece *piece = &p->pieces[p->count++];
    memset(piece, 0, sizeof *piece);
    piece->fd = -1;
    return piece;
}

/* Lines for everything under directory `fd` (whose relative path is rel[0..rel_len)) into
 * `o`, or, with a plan and above SPLIT_DEPTH, into the plan's pieces; closes fd. */
static int walk(struct out *o, struct plan *plan, int depth, char *rel, int fd, size_t rel_len)
{
    char **names;
    size_t count;
    if (read_names(fd, &names, &count) < 0) {
        close(fd);
        return FP_HAND_BACK;
    }
    int rc = FP_OK;
    for (size_t i = 0; i < count && rc == FP_OK; i++) {
        const char *name = names[i];
        size_t len = strlen(name), at = rel_len ? rel_len + 1 : 0;
        if (!plain_utf8((const unsigned char *)name) || at + len >= PATH_MAX) {
            rc = FP_HAND_BACK;
            break;
        }
        if (rel_len)
            rel[rel_len] = '/';
        memcpy(rel + at, name, len);
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || put_line(o, rel, at + len, &st) != FP_OK) {
            rc = FP_HAND_BACK;
            break;
        }
        if (!S_ISDIR(st.st_mode))
            continue;
        int child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child < 0) {
            rc = FP_HAND_BACK;
        } else if (plan && depth + 1 == SPLIT_DEPTH && plan->tasks < MAX_TASKS) {
            /* This directory's subtree is a task; what follows goes to a new inline piece. */
            struct piece *task = new_piece(plan);
            char *copy = task ? malloc(at + len + 1) : NULL;
            struct piece *next = copy ? new_piece(plan) : NULL;
            if (!next) {
                free(copy);
                close(child);
                rc = FP_HAND_BACK;
                break;
            }
            task = next - 1;
            memcpy(copy, rel, at + len);
            task->rel = copy;
            task->rel_len = at + len;
            task->fd = child;
            plan->tasks++;
            o = &next->out;
        } else {
            rc = walk(o, plan, depth + 1, rel, child, at + len);
            /* The plan's pieces may have moved: go on in its last one. */
            if (plan && depth + 1 < SPLIT_DEPTH)
                o = &plan->pieces[plan->count - 1].out;
        }
    }
    free(names);
    close(fd);
    return rc;
}

static void run_tasks(struct plan *p)
{
    char rel[PATH_MAX];
    for (size_t i; (i = p->next++) < p->count;) {
        struct piece *task = &p->pieces[i];
        if (task->fd < 0)
            continue;
        memcpy(rel, task->rel, task->rel_len);
        int fd = task->fd;
        task->fd = -1;
        task->rc = walk(&task->out, NULL, SPLIT_DEPTH, rel, fd, task->rel_len);
    }
}

static void *worker(void *arg)
{
    run_tasks(arg);
    return NULL;
}

/* The fingerprint of `root` as hex, or FP_HAND_BACK. */
static int fingerprint_tree(const char *root, char hex[64])
{
    static const char HEX[] = "0123456789abcdef";
    struct plan plan = { 0 };
    char rel[PATH_MAX];
    struct stat st;
    int rc = FP_HAND_BACK;
    struct piece *first = new_piece(&plan);
    if (!first || fstatat(AT_FDCWD, root, &st, AT_SYMLINK_NOFOLLOW) < 0 || put_line(&first->out, "", 0, &st) != FP_OK || !S_ISDIR(st.st_mode))
        goto done;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || walk(&first->out, &plan, 0, rel, fd, 0) != FP_OK)
        goto done;
    pthread_t thread;
    int threaded = plan.tasks > 1 && pthread_create(&thread, NULL, worker, &plan) == 0;
    run_tasks(&plan);
    if (threaded)
        pthread_join(thread, NULL);
    blake3_hasher h;
    blake3_hasher_init(&h);
    rc = FP_OK;
    for (size_t i = 0; i < plan.count; i++) {
        struct piece *piece = &plan.pieces[i];
        if (piece->rc != FP_OK || piece->out.failed)
            rc = FP_HAND_BACK;
        blake3_hasher_update(&h, piece->out.buf, piece->out.used);
    }
    uint8_t digest[32];
    blake3_hasher_finalize(&h, digest, sizeof digest);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = HEX[digest[i] >> 4];
        hex[2 * i + 1] = HEX[digest[i] & 15];
    }
done:
    for (size_t i = 0; i < plan.count; i++) {
        if (plan.pieces[i].fd >= 0)
            close(plan.pieces[i].fd);
        free(plan.pieces[i].out.buf);
        free(plan.pieces[i].rel);
    }
    free(plan.pieces);
    return rc;
}

/* fingerprint(root: string): string | undefined */
static napi_value fingerprint(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], result;
    char root[PATH_MAX], hex[64];
    size_t root_len;
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
        napi_get_value_string_utf8(env, argv[0], root, sizeof root, &root_len) != napi_ok || root_len == 0 || root_len >= sizeof root - 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fingerprint(root: string)");
        return NULL;
    }
    if (fingerprint_tree(root, hex) == FP_OK)
        napi_create_string_latin1(env, hex, sizeof hex, &result);
    else
        napi_get_undefined(env, &result);
    return result;
}

/* One walk off the JavaScript thread (fingerprintAsync): a build goes on while it runs. */
struct async_walk {
    napi_async_work work;
    napi_deferred deferred;
    char root[PATH_MAX];
    char hex[64];
    int rc;
};

static void async_execute(napi_env env, void *data)
{
    (void)env;
    struct async_walk *w = data;
    w->rc = fingerprint_tree(w->root, w->hex);
}

static void async_complete(napi_env env, napi_status status, void *data)
{
    struct async_walk *w = data;
    napi_value result;
    /* Cancelled or not exact: undefined, and the TypeScript walk decides. */
    if (status == napi_ok && w->rc == FP_OK)
        napi_create_string_latin1(env, w->hex, sizeof w->hex, &result);
    else
        napi_get_undefined(env, &result);
    napi_resolve_deferred(env, w->deferred, result);
    napi_delete_async_work(env, w->work);
    free(w);
}

/* fingerprintAsync(root: string): Promise<string | undefined>, the same value as fingerprint(root). */
static napi_value fingerprint_async(napi_env env, napi_callback_info info)
{
    size_t argc = 1, root_len;
    napi_value argv[1], promise, name;
    struct async_walk *w = calloc(1, sizeof *w);
    if (!w || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
        napi_get_value_string_utf8(env, argv[0], w->root, sizeof w->root, &root_len) != napi_ok || root_len == 0 ||
        root_len >= sizeof w->root - 1) {
        free(w);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fingerprintAsync(root: string)");
        return NULL;
    }
    if (napi_create_promise(env, &w->deferred, &promise) != napi_ok ||
        napi_create_string_utf8(env, "karapace:fingerprint", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_async_work(env, NULL, name, async_execute, async_complete, w, &w->work) != napi_ok ||
        napi_queue_async_work(env, w->work) != napi_ok) {
        free(w);
        napi_throw_error(env, NULL, "could not start the native fingerprint walk");
        return NULL;
    }
    return promise;
}

NAPI_MODULE_INIT()
{
    napi_value fn, fn_async;
    if (napi_create_function(env, "fingerprint", NAPI_AUTO_LENGTH, fingerprint, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "fingerprint", fn) != napi_ok ||
        napi_create_function(env, "fingerprintAsync", NAPI_AUTO_LENGTH, fingerprint_async, NULL, &fn_async) != napi_ok ||
        napi_set_named_property(env, exports, "fingerprintAsync", fn_async) != napi_ok)
        return NULL;
    return exports;
}
