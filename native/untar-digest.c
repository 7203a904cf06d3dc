/* The two tree digests an image needs, computed from what the native unpacker already
 * knows, so the JavaScript side does not rebuild the tree entry by entry to get them:
 *
 *   tree: plugins/image-sources/src/canonical.ts's digest of the archive's entries (what a
 *         faithful extraction gives, whoever extracts): implied directories 755 0:0, hard
 *         links as their target, symlinks 777, devices whether or not they could be made;
 *   disk: plugins/image-sources/src/digest.ts's digestRootfs over the recorded stats.
 *
 * Both are kernel/src/tree-digest.ts's lines in its order: a depth-first walk with each
 * directory's names sorted, which is the paths sorted with '/' below every other byte.
 * JavaScript sorts UTF-16 code units; UTF-8 bytes sort the same except for characters
 * above U+FFFF, so a path holding one (a 4-byte sequence) leaves the digests to the
 * TypeScript side. So does a recorded file whose size is not what the archive said. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "untar.h"

struct node {
    const char *path, *link, *hex;
    uint32_t len, link_len;
    char kind;
    uint32_t perm, uid, gid;
    uint64_t size, rdev;
    const struct stat *st;
};

struct nodes {
    struct node *items;
    size_t n, cap;
    struct path_set index;
    int unsortable;
};

/* The node for path (made, zeroed, when new); NULL when out of memory. */
static struct node *put(struct nodes *ns, const char *path, size_t len)
{
    struct path_slot *slot = paths_find(&ns->index, path, len);
    if (slot->key)
        return &ns->items[slot->value - 1];
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 4096;
        struct node *items = realloc(ns->items, cap * sizeof *items);
        if (!items)
            return NULL;
        ns->items = items;
        ns->cap = cap;
    }
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)path[i] >= 0xf0)
            ns->unsortable = 1;
    if (paths_claim(&ns->index, slot, path, len, K_FILE) < 0)
        return NULL;
    paths_find(&ns->index, path, len)->value = (uint32_t)++ns->n;
    struct node *n = &ns->items[ns->n - 1];
    memset(n, 0, sizeof *n);
    n->path = path;
    n->len = (uint32_t)len;
    return n;
}

static struct node *find(struct nodes *ns, const char *path, size_t len)
{
    struct path_slot *slot = paths_find(&ns->index, path, len);
    return slot->key ? &ns->items[slot->value - 1] : NULL;
}

/* canonical.ts's ensureParents: directories an entry implies are 755 0:0. */
static int ensure_parents(struct nodes *ns, const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    if (!slash)
        return 0;
    size_t parent = (size_t)(slash - path);
    if (find(ns, path, parent))
        return 0;
    if (ensure_parents(ns, path, parent) < 0)
        return -1;
    struct node *n = put(ns, path, parent);
    if (!n)
        return -1;
    n->kind = 'd';
    n->perm = 0755;
    return 0;
}

/* canonical.ts's makedev (Linux's, kept exact in 53 bits). */
static uint64_t makedev_exact(double major, double minor)
{
    uint64_t ma = (uint64_t)major, mi = (uint64_t)minor;
    return (mi & 0xff) + (ma & 0xfff) * 0x100 + (mi / 0x100) * 0x100000 + (ma / 0x1000) * 0x100000000ull;
}

static int add_entry(struct nodes *ns, const struct entry *e)
{
    if (e->path_len == 0)
        return 0;
    if (ensure_parents(ns, e->path, e->path_len) < 0)
        return -1;
    const struct node *target = NULL;
    if (e->flag == 1) {
        const char *t;
        size_t t_len;
        if (!plain_path(e->link, e->link_len, &t, &t_len) || !(target = find(ns, t, t_len)) || target->kind == 'd')
            return -1;
    }
    /* The target's index may move when put() grows the array: copied by value first. */
    struct node copy = target ? *target : (struct node){ 0 };
    struct node *n = put(ns, e->path, e->path_len);
    if (!n)
        return -1;
    uint32_t perm = (uint32_t)e->mode & 07777, uid = (uint32_t)e->uid, gid = (uint32_t)e->gid;
    const struct stat *st = n->st;
    switch (e->flag) {
    case 5:
        *n = (struct node){ .path = n->path, .len = n->len, .kind = 'd', .perm = perm, .uid = uid, .gid = gid };
        break;
    case 0:
    case 7:
        if (!e->job)
            return -1;
        *n = (struct node){ .path = n->path, .len = n->len, .kind = 'f', .perm = perm, .uid = uid, .gid = gid,
                            .size = (uint64_t)e->size, .hex = e->job->hex };
        break;
    case 1:
        copy.path = n->path;
        copy.len = n->len;
        *n = copy;
        break;
    case 2:
        *n = (struct node){ .path = n->path, .len = n->len, .kind = 'l', .perm = 0777, .uid = uid, .gid = gid,
                            .link = e->link, .link_len = e->link_len };
        break;
    default:
        *n = (struct node){ .path = n->path, .len = n->len, .kind = e->flag == 3 ? 'c' : e->flag == 4 ? 'b' : 'p',
                            .perm = perm, .uid = uid, .gid = gid,
                            .rdev = e->flag == 6 ? 0 : makedev_exact(e->devmajor, e->devminor) };
    }
    n->st = st;
    return 0;
}

static int compare_paths(const void *a, const void *b)
{
    const struct node *x = *(struct node *const *)a, *y = *(struct node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    for (size_t i = 0; i < n; i++) {
        unsigned cx = (uint8_t)x->path[i], cy = (uint8_t)y->path[i];
        if (cx == '/')
            cx = 0;
        if (cy == '/')
            cy = 0;
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Lines go to the hasher in large pieces. */
struct lines {
    blake3_hasher h;
    char buf[1 << 16];
    size_t used;
};

static void put_bytes(struct lines *l, const char *s, size_t n)
{
    if (l->used + n > sizeof l->buf) {
        blake3_hasher_update(&l->h, l->buf, l->used);
        l->used = 0;
    }
    if (n > sizeof l->buf) {
        blake3_hasher_update(&l->h, s, n);
        return;
    }
    memcpy(l->buf + l->used, s, n);
    l->used += n;
}

/* "<kind> <path> <perm> <uid>:<gid>" and what follows, as the TypeScript lines have it. */
static void put_line(struct lines *l, char kind, const struct node *n, uint32_t perm, uint32_t uid, uint32_t gid, const char *tail, size_t tail_len)
{
    char head[64];
    put_bytes(l, &kind, 1);
    put_bytes(l, " ", 1);
    put_bytes(l, n->path, n->len);
    put_bytes(l, head, (size_t)snprintf(head, sizeof head, " %o %u:%u", perm, uid, gid));
    put_bytes(l, tail, tail_len);
    put_bytes(l, "\n", 1);
}

static void finish_lines(struct lines *l, char *hex)
{
    uint8_t digest[32];
    blake3_hasher_update(&l->h, l->buf, l->used);
    blake3_hasher_finalize(&l->h, digest, 32);
    hex32(digest, hex);
}

static int tail_of(char kind, uint64_t size, const char *hex, uint64_t rdev, char *out, size_t cap)
{
    if (kind == 'f')
        return snprintf(out, cap, " %llu %.64s", (unsigned long long)size, hex);
    if (kind == 'd')
        return 0;
    return snprintf(out, cap, " %llu", (unsigned long long)rdev);
}

static char disk_kind(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR: return 'd';
    case S_IFLNK: return 'l';
    case S_IFREG: return 'f';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    default: return 's';
    }
}

static int digest_lines(int rootfd, struct node **sorted, size_t n, struct tree_digests *out)
{
    struct lines *t = malloc(sizeof *t), *d = malloc(sizeof *d);
    if (!t || !d) {
        free(t);
        free(d);
        return -1;
    }
    t->used = d->used = 0;
    blake3_hasher_init(&t->h);
    blake3_hasher_init(&d->h);
    char tail[PATH_MAX + 128];
    int rc = 0;
    out->count = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct node *nd = sorted[i];
        if (nd->kind == 'l') {
            size_t k = (size_t)snprintf(tail, sizeof tail, " -> ");
            memcpy(tail + k, nd->link, nd->link_len);
            put_line(t, 'l', nd, 0777, nd->uid, nd->gid, tail, k + nd->link_len);
        } else {
            put_line(t, nd->kind, nd, nd->perm, nd->uid, nd->gid, tail, (size_t)tail_of(nd->kind, nd->size, nd->hex, nd->rdev, tail, sizeof tail));
        }
        const struct stat *st = nd->st;
        if (!st)
            continue;
        char kind = disk_kind(st->st_mode);
        size_t tail_len;
        if (kind == 'l') {
            size_t k = (size_t)snprintf(tail, sizeof tail, " -> ");
            ssize_t got = readlinkat(rootfd, nd->path, tail + k, sizeof tail - k);
            if (got < 0 || (size_t)got >= sizeof tail - k) {
                rc = -1;
                break;
            }
            tail_len = k + (size_t)got;
        } else if (kind == 'f') {
            /* The content hash is the archive's (a hard link's: its target's); unless the size
             * on disk says the file is not what was written. */
            if (nd->kind != 'f' || !nd->hex || (uint64_t)st->st_size != nd->size) {
                rc = -1;
                break;
            }
            tail_len = (size_t)tail_of('f', (uint64_t)st->st_size, nd->hex, 0, tail, sizeof tail);
        } else {
            tail_len = (size_t)tail_of(kind, 0, NULL, (uint64_t)st->st_rdev, tail, sizeof tail);
        }
        put_line(d, kind, nd, st->st_mode & 07777, st->st_uid, st->st_gid, tail, tail_len);
        out->order[out->count++] = (struct disk_record){ nd->path, nd->len, st };
    }
    if (rc == 0) {
        finish_lines(t, out->tree);
        finish_lines(d, out->disk);
    }
    free(t);
    free(d);
    return rc;
}

int tree_digests(int rootfd, const struct entry *entries, size_t n_entries, const struct disk_record *disk, size_t n_disk,
                 struct tree_digests *out)
{
    struct nodes ns = { 0 };
    struct node **sorted = NULL;
    int rc = -1;
    out->order = NULL;
    if (paths_init(&ns.index) < 0)
        return -1;
    for (size_t i = 0; i < n_entries; i++)
        if (add_entry(&ns, &entries[i]) < 0)
            goto done;
    if (ns.unsortable)
        goto done;
    for (size_t i = 0; i < n_disk; i++) {
        struct node *n = find(&ns, disk[i].rel, disk[i].len);
        if (!n)
            goto done;
        n->st = disk[i].st;
    }
    sorted = malloc((ns.n ? ns.n : 1) * sizeof *sorted);
    out->order = malloc((ns.n ? ns.n : 1) * sizeof *out->order);
    if (!sorted || !out->order)
        goto done;
    for (size_t i = 0; i < ns.n; i++)
        sorted[i] = &ns.items[i];
    qsort(sorted, ns.n, sizeof *sorted, compare_paths);
    rc = digest_lines(rootfd, sorted, ns.n, out);
done:
    if (rc < 0) {
        free(out->order);
        out->order = NULL;
    }
    free(sorted);
    free(ns.items);
    paths_free(&ns.index);
    return rc;
}
