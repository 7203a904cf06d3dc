/* karapace_untar.node: the native tar unpacker (see untar.h for what it handles and what
 * it leaves to kernel/src/layers/unpacker.ts). This file is the N-API glue and the main
 * loop; the parser is untar-parse.c, the writing side untar-apply.c (with the writer
 * threads of untar-writers.c), the result encoder untar-result.c (state: untar-state.h).
 *
 *   untar(fd, target, flags, umask, threads, progress) -> Promise<Buffer>
 *
 * unpacks the plain tar file open at `fd` into the empty directory `target` on a thread of
 * its own plus `threads` writer threads. flags: 1 set owners from the archive, 2 running
 * as root:root, 4 what is created is born root:root (root, no setgid target), 8 hash the
 * archive, 16 compute the tree digests (untar-digest.c). `progress` (a Buffer of 8 bytes) gets the bytes of the archive passed so far, as
 * a double. The result is one Buffer (little-endian), decoded by
 * kernel/src/layers/native-unpack.ts:
 *
 *   u32 status (0 done, 1 bail: nothing decided, 2 the archive shrank), u32 entries,
 *   f64 bytes, f64 archive size, 64 hex archive blake3, u32 records, u32 disk records,
 *   u32 warnings, u32 why length, u32 has digests, 64 hex tree digest, 64 hex disk digest,
 *   why (UTF-8);
 *   records (none with the digests), one per entry in archive order: u8 type flag (0-7),
 *     u8 has hash, u16 path length, u16 link length, u16 0, f64 mode, uid, gid, size,
 *     devmajor, devminor, path, link, then 64 hex when it has a hash;
 *   disk records: u16 path length, path, 64 bytes of stat (mode, uid, gid, size, ino,
 *     mtimeMs, ctimeMs, rdev as doubles, as Node computes them) — with the digests, each
 *     path once in digestTree's order; without, as recorded (a later one replaces);
 *   warnings: u16 length, text. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "napi-errors.h"
#include "node-stat.h"
#include "untar-state.h"

int untar_grow_list(void **items, size_t *cap, size_t size)
{
    size_t next = *cap ? *cap * 2 : 256;
    void *p = realloc(*items, next * size);
    if (!p)
        return 0;
    *items = p;
    *cap = next;
    return 1;
}

/* Stops with "bail" (the TypeScript unpacker takes over); returns -1 for the caller to return. */
int untar_bail(struct untar *u, const char *fmt, const char *arg)
{
    if (u->status == UNTAR_OK) {
        u->status = UNTAR_BAIL;
        snprintf(u->why, sizeof u->why, fmt, arg ? arg : "");
    }
    return -1;
}

int untar_bail_errno(struct untar *u, const char *syscall, const char *rel)
{
    char what[80];
    snprintf(what, sizeof what, "%s: %s", syscall, strerror(errno));
    if (u->status == UNTAR_OK) {
        u->status = UNTAR_BAIL;
        snprintf(u->why, sizeof u->why, "%s (%s)", what, rel);
    }
    return -1;
}
static void run(struct untar *u)
{
    struct pending pending;
    memset(&pending, 0, sizeof pending);
    for (;;) {
        if (atomic_load(&u->writers.failed))
            break;
        struct entry e = { 0 };
        int got = untar_next_entry(u, &e, &pending);
        if (got <= 0)
            break;
        u->count++;
        if (!PUSH(u->entries, e)) {
            untar_bail(u, "out of memory%s", NULL);
            break;
        }
        if (untar_apply(u, &u->entries.items[u->entries.n - 1]) < 0)
            break;
        /* Links, devices, fifos and directories carry no content, whatever their size says. */
        if (untar_skip_content(u, e.flag == 0 || e.flag == 7 ? (uint64_t)e.size : 0) < 0)
            break;
        double at = (double)source_position(&u->src);
        memcpy(u->progress, &at, sizeof at);
    }
    if (u->status == UNTAR_OK && !source_drain(&u->src))
        u->src.shrank ? (u->status = UNTAR_SHRANK) : untar_bail(u, "reading the archive failed%s", NULL);
}
void untar_execute(napi_env env, void *data)
{
    (void)env;
    struct untar *u = data;
    u->rootfd = open(u->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u->rootfd < 0) {
        untar_bail_errno(u, "open", u->target);
        return;
    }
    int tree = (u->flags & F_TREE) != 0;
    if (tree && (u->objfd = open(u->objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        untar_bail_errno(u, "open", u->objects);
        return;
    }
    if (tree && untar_tree_sources(u) < 0)
        return;
    if ((!tree && source_open(&u->src, u->srcfd, (u->flags & F_HASH) != 0) < 0) || paths_init(&u->paths) < 0) {
        untar_bail(u, "out of memory%s", NULL);
        return;
    }
    if (writers_start(&u->writers, (int)u->threads, u->rootfd, u->srcfd) < 0) {
        untar_bail(u, "no writer threads%s", NULL);
        return;
    }
    u->writers_on = 1;
    u->writers.no_stats = tree;
    if (tree)
        untar_tree_run(u);
    else
        run(u);
    writers_finish(&u->writers);
    u->writers_on = 0;
    if (atomic_load(&u->writers.failed) && u->status != UNTAR_SHRANK) {
        if (u->writers.shrank)
            u->status = UNTAR_SHRANK;
        else
            untar_bail(u, "%s", u->writers.why);
    }
    if (u->status == UNTAR_OK)
        untar_finish(u);
    if (u->status == UNTAR_OK && (u->flags & F_HASH) && !tree) {
        uint8_t digest[32];
        blake3_hasher_finalize(&u->src.hasher, digest, 32);
        hex32(digest, u->archive_hex);
    }
    if (u->status == UNTAR_OK && (u->flags & F_DIGESTS))
        untar_digests(u);
}

void untar_release(napi_env env, struct untar *u)
{
    if (u->rootfd >= 0)
        close(u->rootfd);
    if (u->objfd >= 0)
        close(u->objfd);
    for (uint32_t i = 0; i < u->n_sources; i++)
        if (u->sources[i].fd >= 0)
            close(u->sources[i].fd);
    free(u->sources);
    free(u->plan);
    free(u->skeleton);
    free(u->objects);
    source_close(&u->src);
    paths_free(&u->paths);
    arena_free(&u->arena);
    free(u->entries.items);
    free(u->restat_names.items);
    free(u->made.items);
    free(u->dirs.items);
    free(u->links.items);
    free(u->warnings.items);
    free(u->restat.items);
    free(u->digests.order);
    free(u->target);
    if (u->progress_ref)
        napi_delete_reference(env, u->progress_ref);
    if (u->work)
        napi_delete_async_work(env, u->work);
    free(u);
}

void untar_complete(napi_env env, napi_status status, void *data)
{
    struct untar *u = data;
    napi_value result;
    void *bytes;
    if (status != napi_ok) {
        napi_value msg, err;
        napi_create_string_utf8(env, "the native unpack was cancelled", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &err);
        napi_reject_deferred(env, u->deferred, err);
    } else if (napi_create_buffer(env, untar_result_size(u), &bytes, &result) != napi_ok) {
        napi_value msg, err;
        napi_create_string_utf8(env, "out of memory for the unpack's result", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &err);
        napi_reject_deferred(env, u->deferred, err);
    } else {
        untar_write_result(u, bytes);
        napi_resolve_deferred(env, u->deferred, result);
    }
    untar_release(env, u);
}

static napi_value untar(napi_env env, napi_callback_info info)
{
    size_t argc = 6;
    napi_value argv[6];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 6)
        return throw_type(env, "untar(fd, target, flags, umask, threads, progress) takes 6 arguments");
    struct untar *u = calloc(1, sizeof *u);
    if (!u)
        return throw_type(env, "out of memory");
    u->rootfd = -1;
    u->objfd = -1;
    char target[PATH_MAX];
    size_t target_len;
    int32_t fd;
    void *progress;
    size_t progress_len;
    if (napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
        napi_get_value_string_utf8(env, argv[1], target, sizeof target, &target_len) != napi_ok || target_len == 0 ||
        target_len >= sizeof target - 1 || napi_get_value_uint32(env, argv[2], &u->flags) != napi_ok ||
        napi_get_value_uint32(env, argv[3], &u->umask_bits) != napi_ok || napi_get_value_uint32(env, argv[4], &u->threads) != napi_ok ||
        napi_get_buffer_info(env, argv[5], &progress, &progress_len) != napi_ok || progress_len < 8) {
        free(u);
        return throw_type(env, "untar(fd: number, target: string, flags: number, umask: number, threads: number, progress: Buffer(8))");
    }
    u->srcfd = fd;
    u->target = strdup(target);
    u->progress = progress;
    napi_value promise, name;
    if (!u->target || napi_create_reference(env, argv[5], 1, &u->progress_ref) != napi_ok ||
        napi_create_promise(env, &u->deferred, &promise) != napi_ok ||
        napi_create_string_utf8(env, "karapace:untar", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_async_work(env, NULL, name, untar_execute, untar_complete, u, &u->work) != napi_ok ||
        napi_queue_async_work(env, u->work) != napi_ok) {
        untar_release(env, u);
        return throw_type(env, "could not start the native unpack");
    }
    return promise;
}

NAPI_MODULE_INIT()
{
    napi_value fn, tree;
    if (napi_create_function(env, "untar", NAPI_AUTO_LENGTH, untar, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "untar", fn) != napi_ok ||
        napi_create_function(env, "restoreTree", NAPI_AUTO_LENGTH, untar_restore_tree, NULL, &tree) != napi_ok ||
        napi_set_named_property(env, exports, "restoreTree", tree) != napi_ok)
        return NULL;
    return exports;
}

