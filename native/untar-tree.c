/* A stored tree restored straight into an empty directory (issue 18: restore), without
 * making its tar: the entries are applied as untar-apply.c applies a tar's (so as
 * unpacker.ts does), while this thread hashes the tar the tree stands for: its bytes other
 * than contents (the skeleton, encoded by kernel/src/store/tree-restore.ts with the
 * packer's own encoder) with each file's content in between, read here from where its
 * object is (a loose file or a pack, as store/objects.ts locates it) and handed to a
 * writer thread, which writes exactly those bytes (a file over 8 MiB is copied here,
 * hashed as it is written). tree-restore.ts compares the hash with the
 * layer's recorded tar hash, which names every byte written: a damaged or hostile object
 * fails that check before any swap, as it fails treeTar's. Anything this code does not do
 * exactly as the TypeScript path would makes it bail, and that path takes over.
 *
 *   restoreTree(objects, target, plan, skeleton, flags, umask, threads, progress) -> Promise<Buffer>
 *
 * flags as untar's (untar.c), plus 32 (set here) and 64 (overlay: recreate overlayfs
 * markers). The result is untar's, without records; its archive size and blake3 are the
 * tar's. `objects` is the store's directory holding objects/ and packs/. The plan
 * (little-endian): u32 file count, then each file an object's bytes are in (a loose
 * object or a pack): u8 flags (1 shared: read for more than one entry, kept open; 2 whole:
 * a loose object, which must be exactly its entry's size), u16 path length, path relative
 * to `objects`; then one entry after another in tar order:
 *
 *   u8 kind (a tar type flag 0-6, 100 whiteout, 101 opaque), u8 has content, u16 path length,
 *   u16 link length, u16 xattr count, u32 xattr bytes, u32 0, f64 mode, uid, gid, size,
 *   devmajor, devminor, skeleton offset (where the content goes in the tar), path, link,
 *   with content u32 file index, u32 0, f64 offset in that file, xattrs (u16 name length,
 *   u32 value length, name, value). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "napi-errors.h"
#include "untar-state.h"

#define FIXED 72

struct plan_entry {
    uint8_t kind, has_object;
    uint16_t path_len, link_len, n_xattrs;
    uint32_t xattr_bytes;
    double mode, uid, gid, size, devmajor, devminor, skel_at;
    uint32_t source;
    double source_at;
    const uint8_t *path, *link, *xattrs;
};

/* The entry at *at, moved past; 0 when the plan ends or is malformed. */
static int next_plan(const uint8_t *plan, size_t len, size_t *at, struct plan_entry *p)
{
    if (*at + FIXED > len)
        return 0;
    const uint8_t *b = plan + *at;
    p->kind = b[0];
    p->has_object = b[1];
    memcpy(&p->path_len, b + 2, 2);
    memcpy(&p->link_len, b + 4, 2);
    memcpy(&p->n_xattrs, b + 6, 2);
    memcpy(&p->xattr_bytes, b + 8, 4);
    double *f[] = { &p->mode, &p->uid, &p->gid, &p->size, &p->devmajor, &p->devminor, &p->skel_at };
    for (int i = 0; i < 7; i++)
        memcpy(f[i], b + 16 + 8 * i, 8);
    size_t need = FIXED + (size_t)p->path_len + p->link_len + (p->has_object ? 16 : 0) + p->xattr_bytes;
    if (*at + need > len)
        return 0;
    p->path = b + FIXED;
    p->link = p->path + p->path_len;
    const uint8_t *content = p->link + p->link_len;
    p->source = 0;
    p->source_at = 0;
    if (p->has_object) {
        memcpy(&p->source, content, 4);
        memcpy(&p->source_at, content + 8, 8);
    }
    p->xattrs = content + (p->has_object ? 16 : 0);
    *at += need;
    return 1;
}

/* The tar's bytes other than contents, hashed up to `at` (in order: the contents go in between). */
static int hash_skeleton_to(struct untar *u, uint64_t at)
{
    if (at < u->skel_done || at > u->skeleton_len)
        return untar_bail(u, "a malformed plan%s", NULL);
    blake3_hasher_update(&u->tar, u->skeleton + u->skel_done, (size_t)(at - u->skel_done));
    u->skel_done = at;
    return 0;
}

int untar_tree_sources(struct untar *u)
{
    uint32_t n;
    if (u->plan_len < 4)
        return untar_bail(u, "a malformed plan%s", NULL);
    memcpy(&n, u->plan, 4);
    size_t at = 4;
    u->sources = calloc(n ? n : 1, sizeof *u->sources);
    if (!u->sources)
        return untar_bail(u, "out of memory%s", NULL);
    for (; u->n_sources < n; u->n_sources++) {
        struct tree_source *src = &u->sources[u->n_sources];
        src->fd = -1;
        if (at + 3 > u->plan_len)
            return untar_bail(u, "a malformed plan%s", NULL);
        src->flags = u->plan[at];
        memcpy(&src->len, u->plan + at + 1, 2);
        if (at + 3 + src->len > u->plan_len)
            return untar_bail(u, "a malformed plan%s", NULL);
        src->rel = arena_strndup(&u->arena, (const char *)u->plan + at + 3, src->len);
        if (!src->rel)
            return untar_bail(u, "out of memory%s", NULL);
        at += 3 + src->len;
    }
    u->plan_entries = at;
    return 0;
}

/* The open file of source `i` (kept open when shared). */
static int source_fd(struct untar *u, uint32_t i)
{
    if (i >= u->n_sources)
        return untar_bail(u, "a malformed plan%s", NULL);
    struct tree_source *src = &u->sources[i];
    if (src->fd < 0 && (src->fd = openat(u->objfd, src->rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return untar_bail_errno(u, "open", src->rel);
    return src->fd;
}

/* A loose object must be exactly its entry's size (as the tar path checks). */
static int whole_size(struct untar *u, uint32_t i, int fd, uint64_t size)
{
    struct stat st;
    if (!(u->sources[i].flags & 2))
        return 0;
    if (fstat(fd, &st) < 0)
        return untar_bail_errno(u, "fstat", u->sources[i].rel);
    return (uint64_t)st.st_size == size ? 0 : untar_bail(u, "an object of another size than its entry's: %s", u->sources[i].rel);
}

static void source_done(struct untar *u, uint32_t i)
{
    struct tree_source *src = &u->sources[i];
    if (!(src->flags & 1) && src->fd >= 0) {
        close(src->fd);
        src->fd = -1;
    }
}

/* Reads a file's content whole (exactly its size, from its object's place) into memory the job owns. */
static int read_content(struct untar *u, const struct entry *e, struct job *j)
{
    int fd = source_fd(u, e->source);
    if (fd < 0 || whole_size(u, e->source, fd, j->size) < 0)
        return -1;
    uint8_t *data = malloc(j->size ? (size_t)j->size : 1);
    uint64_t done = 0;
    while (data && done < j->size) {
        ssize_t n = pread(fd, data + done, (size_t)(j->size - done), (off_t)(e->source_at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (uint64_t)n;
    }
    source_done(u, e->source);
    if (!data || done != j->size) {
        free(data);
        return data ? untar_bail(u, "an object shorter than its entry: %s", e->path) : untar_bail(u, "out of memory%s", NULL);
    }
    j->data = data;
    return 0;
}

/* Below this a file's content is read here and handed to a writer; above, copied here. */
#define READ_WHOLE ((uint64_t)8 << 20)

int untar_tree_content(struct untar *u, struct entry *e, struct job *j)
{
    if (hash_skeleton_to(u, e->skel_at) < 0)
        return -1;
    u->tar_size += j->size;
    if (j->size > READ_WHOLE) {
        j->tar = &u->tar;
        if ((j->src_fd = source_fd(u, e->source)) < 0 || whole_size(u, e->source, j->src_fd, j->size) < 0)
            return -1;
        j->src_at = e->source_at;
        int done = writers_run_here(&u->writers, j);
        source_done(u, e->source);
        return done < 0 ? -1 : 0;
    }
    writers_reserve(&u->writers, (size_t)j->size);
    if (read_content(u, e, j) < 0) {
        pthread_mutex_lock(&u->writers.mu);
        u->writers.buffered -= (size_t)j->size;
        pthread_mutex_unlock(&u->writers.mu);
        return -1;
    }
    blake3_hasher_update(&u->tar, j->data, (size_t)j->size);
    return 1;
}

/* The main loop of a tree restore (untar.c's execute runs it in place of the tar's). */
void untar_tree_run(struct untar *u)
{
    blake3_hasher_init(&u->tar);
    u->tar_size = u->skeleton_len;
    size_t at = u->plan_entries;
    struct plan_entry p;
    while (at < u->plan_len) {
        if (atomic_load(&u->writers.failed))
            break;
        if (!next_plan(u->plan, u->plan_len, &at, &p)) {
            untar_bail(u, "a malformed plan%s", NULL);
            break;
        }
        const char *rel;
        size_t len;
        if (!plain_path((const char *)p.path, p.path_len, &rel, &len)) {
            untar_bail(u, "a path that is not plainly relative%s", NULL);
            break;
        }
        struct entry e = { 0 };
        e.flag = p.kind;
        e.path = arena_strndup(&u->arena, rel, len);
        e.path_len = (uint16_t)len;
        e.link = arena_strndup(&u->arena, (const char *)p.link, p.link_len);
        e.link_len = p.link_len;
        e.mode = p.mode, e.uid = p.uid, e.gid = p.gid, e.size = p.size, e.devmajor = p.devmajor, e.devminor = p.devminor;
        e.skel_at = (uint64_t)p.skel_at;
        e.stored = p.has_object;
        e.source = p.source;
        e.source_at = (uint64_t)p.source_at;
        e.xattrs = p.xattrs;
        e.n_xattrs = p.n_xattrs;
        if (!e.path || !e.link) {
            untar_bail(u, "out of memory%s", NULL);
            break;
        }
        /* A file's content is its object's; nothing else has any. */
        if (!whole(p.size, SAFE_INTEGER) || !whole(p.skel_at, SAFE_INTEGER) || !whole(p.source_at, SAFE_INTEGER) || (p.has_object ? p.kind != 0 || p.size == 0 : p.size != 0)) {
            untar_bail(u, "a file entry without its object%s", NULL);
            break;
        }
        u->count++;
        if (!PUSH(u->entries, e)) {
            untar_bail(u, "out of memory%s", NULL);
            break;
        }
        if (untar_apply(u, &u->entries.items[u->entries.n - 1]) < 0)
            break;
        memcpy(u->progress, &u->bytes, sizeof u->bytes);
    }
    if (u->status == UNTAR_OK && hash_skeleton_to(u, u->skeleton_len) == 0) {
        uint8_t digest[32];
        blake3_hasher_finalize(&u->tar, digest, 32);
        hex32(digest, u->archive_hex);
    }
}

static int copy_buffer(napi_env env, napi_value v, uint8_t **out, size_t *len)
{
    void *data;
    if (napi_get_buffer_info(env, v, &data, len) != napi_ok)
        return -1;
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return -1;
    memcpy(*out, data, *len);
    return 0;
}

napi_value untar_restore_tree(napi_env env, napi_callback_info info)
{
    size_t argc = 8;
    napi_value argv[8];
    if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
        return NULL;
    if (argc < 8)
        return throw_type(env, "restoreTree(objects, target, plan, skeleton, flags, umask, threads, progress) takes 8 arguments");
    struct untar *u = calloc(1, sizeof *u);
    if (!u)
        return throw_type(env, "out of memory");
    u->rootfd = -1;
    u->objfd = -1;
    u->srcfd = -1;
    char objects[PATH_MAX], target[PATH_MAX];
    size_t objects_len, target_len, progress_len;
    void *progress;
    if (napi_get_value_string_utf8(env, argv[0], objects, sizeof objects, &objects_len) != napi_ok || objects_len == 0 ||
        objects_len >= sizeof objects - 1 ||
        napi_get_value_string_utf8(env, argv[1], target, sizeof target, &target_len) != napi_ok || target_len == 0 ||
        target_len >= sizeof target - 1 || copy_buffer(env, argv[2], &u->plan, &u->plan_len) < 0 ||
        copy_buffer(env, argv[3], &u->skeleton, &u->skeleton_len) < 0 ||
        napi_get_value_uint32(env, argv[4], &u->flags) != napi_ok || napi_get_value_uint32(env, argv[5], &u->umask_bits) != napi_ok ||
        napi_get_value_uint32(env, argv[6], &u->threads) != napi_ok ||
        napi_get_buffer_info(env, argv[7], &progress, &progress_len) != napi_ok || progress_len < 8) {
        free(u->plan);
        free(u->skeleton);
        free(u);
        return throw_type(env, "restoreTree(objects: string, target: string, plan: Buffer, skeleton: Buffer, flags: number, umask: number, threads: number, progress: Buffer(8))");
    }
    u->flags = (u->flags & ~(uint32_t)F_DIGESTS) | F_TREE;
    u->objects = strdup(objects);
    u->target = strdup(target);
    u->progress = progress;
    napi_value promise, name;
    if (!u->objects || !u->target || napi_create_reference(env, argv[7], 1, &u->progress_ref) != napi_ok ||
        napi_create_promise(env, &u->deferred, &promise) != napi_ok ||
        napi_create_string_utf8(env, "karapace:restore-tree", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_create_async_work(env, NULL, name, untar_execute, untar_complete, u, &u->work) != napi_ok ||
        napi_queue_async_work(env, u->work) != napi_ok) {
        untar_release(env, u);
        return throw_type(env, "could not start the native restore");
    }
    return promise;
}
