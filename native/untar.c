/* karapace_untar.node: the native tar unpacker (see untar.h for what it handles and what
 * it leaves to kernel/src/layers/unpacker.ts).
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
#include "untar.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the result is little-endian, written with memcpy"
#endif

enum { F_OWNERS = 1, F_AS_ROOT = 2, F_BORN_ROOT = 4, F_HASH = 8, F_DIGESTS = 16 };
#define MAX_PAX (1 << 20)
#define MAX_LONG_NAME 4097
#define SAFE_INTEGER 9007199254740991.0
/* The result's fixed part (see the top of this file). */
#define HEADER 236

struct named {
    const char *rel;
    size_t len;
};

struct dir_attrs {
    const char *rel;
    uint32_t mode, uid, gid;
    int chown;
};

struct hard_link {
    const char *rel, *target;
};

struct restat {
    const char *rel;
    size_t len;
    struct stat st;
};

/* A growable array of T (the parser's own lists; the writers never see them). */
#define LIST(T) struct { T *items; size_t n, cap; }
#define PUSH(list, value) (((list).n < (list).cap || grow_list((void **)&(list).items, &(list).cap, sizeof *(list).items)) \
    ? ((list).items[(list).n++] = (value), 1) : 0)

static int grow_list(void **items, size_t *cap, size_t size)
{
    size_t next = *cap ? *cap * 2 : 256;
    void *p = realloc(*items, next * size);
    if (!p)
        return 0;
    *items = p;
    *cap = next;
    return 1;
}

struct untar {
    /* In. */
    int srcfd;
    char *target;
    uint32_t flags, umask_bits, threads;
    char *progress; /* 8 bytes: a double, written with memcpy (any alignment) */
    napi_ref progress_ref;
    napi_deferred deferred;
    napi_async_work work;
    /* Work. */
    int rootfd;
    struct source src;
    struct path_set paths;
    struct arena arena;
    struct writers writers;
    int writers_on;
    /* Out. */
    int status;
    char why[600];
    uint32_t count;
    double bytes;
    char archive_hex[64];
    LIST(struct entry) entries;
    LIST(struct named) restat_names;
    LIST(struct named) made;
    LIST(struct dir_attrs) dirs;
    LIST(struct hard_link) links;
    LIST(const char *) warnings;
    LIST(struct restat) restat;
    int has_digests;
    struct tree_digests digests;
};

/* Stops with "bail" (the TypeScript unpacker takes over); returns -1 for the caller to return. */
static int bail(struct untar *u, const char *fmt, const char *arg)
{
    if (u->status == UNTAR_OK) {
        u->status = UNTAR_BAIL;
        snprintf(u->why, sizeof u->why, fmt, arg ? arg : "");
    }
    return -1;
}

static int bail_errno(struct untar *u, const char *syscall, const char *rel)
{
    char what[80];
    snprintf(what, sizeof what, "%s: %s", syscall, strerror(errno));
    if (u->status == UNTAR_OK) {
        u->status = UNTAR_BAIL;
        snprintf(u->why, sizeof u->why, "%s (%s)", what, rel);
    }
    return -1;
}

/* A source that ended: shorter than when it was opened, or a truncated archive. */
static int ended(struct untar *u)
{
    if (u->src.shrank) {
        u->status = UNTAR_SHRANK;
        return -1;
    }
    return bail(u, "the archive ends early%s", NULL);
}

/* tar-header.ts's num(): octal text or base-256; NAN when malformed. */
static double num(const uint8_t *b, size_t len)
{
    uint8_t first = b[0];
    if (first & 0x80) {
        if (first != 0x80 && first != 0xff)
            return NAN;
        double sum = 0, scale = 1;
        for (size_t i = len - 1; i > 0; i--, scale *= 256)
            sum += (first == 0x80 ? b[i] : 0xff - b[i]) * scale;
        return first == 0x80 ? sum : -sum;
    }
    size_t i = 0;
    while (i < len && b[i] == ' ')
        i++;
    while (i < len && b[i] == 0)
        i++;
    double value = 0;
    for (; i < len; i++) {
        uint8_t c = b[i];
        if (c == ' ' || c == 0)
            break;
        if (c < '0' || c > '7')
            return NAN;
        value = value * 8 + (c - '0');
    }
    return value;
}

static size_t field_len(const uint8_t *b, size_t max)
{
    const uint8_t *nul = memchr(b, 0, max);
    return nul ? (size_t)(nul - b) : max;
}

/* A non-negative whole number that fits `max`. */
static int whole(double v, double max)
{
    return v >= 0 && v <= max && v == floor(v);
}

static uint64_t padding(uint64_t size)
{
    return (512 - size % 512) % 512;
}

/* Decimal digits only (what Number() gives the same value for, and nothing odd). */
static int pax_number(const uint8_t *v, size_t len, double *out)
{
    if (len == 0 || len > 15)
        return 0;
    double value = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        value = value * 10 + (v[i] - '0');
    }
    *out = value;
    return 1;
}

struct pending {
    const char *pax_path, *pax_link, *long_name, *long_link;
    size_t pax_path_len, pax_link_len, long_name_len, long_link_len;
    int has_uid, has_gid, has_size;
    double uid, gid, size;
};

static int text_value(struct untar *u, const uint8_t *v, size_t len, const char **out, size_t *out_len)
{
    if (memchr(v, 0, len) || !valid_utf8(v, len))
        return bail(u, "a PAX path that is not plain UTF-8%s", NULL);
    *out = arena_strndup(&u->arena, (const char *)v, len);
    *out_len = len;
    return *out ? 0 : bail(u, "out of memory%s", NULL);
}

/* tar-format.ts's decodePax, keeping the keys the unpacker uses. */
static int decode_pax(struct untar *u, const uint8_t *buf, size_t len, struct pending *p)
{
    p->pax_path = p->pax_link = NULL;
    p->has_uid = p->has_gid = p->has_size = 0;
    for (size_t off = 0; off < len;) {
        if (buf[off] == 0)
            break;
        const uint8_t *space = memchr(buf + off, ' ', len - off);
        if (!space || (size_t)(space - (buf + off)) > 10)
            return bail(u, "malformed PAX record%s", NULL);
        size_t digits = (size_t)(space - (buf + off));
        double rec_len;
        if (!pax_number(buf + off, digits, &rec_len) || rec_len <= (double)digits + 1 || off + (size_t)rec_len > len)
            return bail(u, "malformed PAX record%s", NULL);
        size_t end = off + (size_t)rec_len;
        if (buf[end - 1] != '\n')
            return bail(u, "malformed PAX record%s", NULL);
        const uint8_t *rec = space + 1;
        size_t rec_n = (size_t)(buf + end - 1 - rec);
        const uint8_t *eq = memchr(rec, '=', rec_n);
        if (!eq)
            return bail(u, "malformed PAX record%s", NULL);
        size_t key_n = (size_t)(eq - rec);
        const uint8_t *v = eq + 1;
        size_t v_n = rec_n - key_n - 1;
#define KEY(s) (key_n == sizeof(s) - 1 && memcmp(rec, s, key_n) == 0)
        if (KEY("path")) {
            if (text_value(u, v, v_n, &p->pax_path, &p->pax_path_len) < 0)
                return -1;
        } else if (KEY("linkpath")) {
            if (text_value(u, v, v_n, &p->pax_link, &p->pax_link_len) < 0)
                return -1;
        } else if (KEY("uid") || KEY("gid") || KEY("size")) {
            double n;
            if (!pax_number(v, v_n, &n))
                return bail(u, "a PAX number that is not plain decimal%s", NULL);
            if (KEY("uid"))
                p->has_uid = 1, p->uid = n;
            else if (KEY("gid"))
                p->has_gid = 1, p->gid = n;
            else
                p->has_size = 1, p->size = n;
        } else if ((key_n >= 13 && memcmp(rec, "SCHILY.xattr.", 13) == 0) ||
                   (key_n >= 17 && memcmp(rec, "LIBARCHIVE.xattr.", 17) == 0)) {
            return bail(u, "an entry with xattrs%s", NULL);
        } else if (key_n >= 11 && memcmp(rec, "GNU.sparse.", 11) == 0) {
            return bail(u, "a GNU sparse file%s", NULL);
        }
#undef KEY
        off = end;
    }
    return 0;
}

static int skip_content(struct untar *u, uint64_t size)
{
    return source_skip(&u->src, size + padding(size)) ? 0 : ended(u);
}

/* A meta entry: PAX header or GNU long name, which describe the next entry. */
static int meta(struct untar *u, int flag, uint64_t size, struct pending *p)
{
    int long_name = flag == 28 || flag == 30, long_link = flag == 27;
    if (size > (long_name || long_link ? MAX_LONG_NAME : MAX_PAX))
        return bail(u, "an oversized meta entry%s", NULL);
    const uint8_t *data = size ? source_take(&u->src, (size_t)size) : (const uint8_t *)"";
    if (!data)
        return ended(u);
    if (flag == 'x' - '0') {
        if (decode_pax(u, data, (size_t)size, p) < 0)
            return -1;
    } else {
        size_t n = field_len(data, (size_t)size);
        if (!valid_utf8(data, n))
            return bail(u, "a long name that is not UTF-8%s", NULL);
        char *s = arena_strndup(&u->arena, (const char *)data, n);
        if (!s)
            return bail(u, "out of memory%s", NULL);
        if (long_link)
            p->long_link = s, p->long_link_len = n;
        else
            p->long_name = s, p->long_name_len = n;
    }
    return source_skip(&u->src, padding(size)) ? 0 : ended(u);
}

/* The directory `rel` (a prefix of an entry's path), made 0755 when the archive implies it. */
static int ensure_dir(struct untar *u, const char *rel, size_t len)
{
    if (len == 0)
        return 0;
    struct path_slot *slot = paths_find(&u->paths, rel, len);
    if (slot->kind == K_DIR)
        return 0;
    if (slot->kind != K_NONE)
        return bail(u, "an entry goes through a non-directory: %s", slot->key);
    const char *slash = memrchr(rel, '/', len);
    if (ensure_dir(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    char *key = arena_strndup(&u->arena, rel, len);
    if (!key)
        return bail(u, "out of memory%s", NULL);
    if (mkdirat(u->rootfd, key, 0755) < 0)
        return bail_errno(u, "mkdir", key);
    struct named made = { key, len };
    if (!PUSH(u->made, made))
        return bail(u, "out of memory%s", NULL);
    /* Found again: ensure_dir of the parents may have grown the table. */
    return paths_claim(&u->paths, paths_find(&u->paths, key, len), key, len, K_DIR) < 0 ? bail(u, "out of memory%s", NULL) : 0;
}

static int restat_later(struct untar *u, const char *rel, size_t len)
{
    struct named n = { rel, len };
    return PUSH(u->restat_names, n) ? 0 : bail(u, "out of memory%s", NULL);
}

static const char *device_type(int flag)
{
    return flag == 3 ? "character-device" : flag == 4 ? "block-device" : "fifo";
}

static int device(struct untar *u, int flag, const char *rel, size_t len, const struct entry *e)
{
    if (!whole(e->devmajor, 4294967295.0) || !whole(e->devminor, 4294967295.0))
        return bail(u, "a device number out of range%s", NULL);
    mode_t kind = flag == 3 ? S_IFCHR : flag == 4 ? S_IFBLK : S_IFIFO;
    mode_t mode = (mode_t)e->mode & 07777;
    dev_t dev = kind == S_IFIFO ? 0 : makedev((unsigned)e->devmajor, (unsigned)e->devminor);
    if (mknodat(u->rootfd, rel, kind | mode, dev) < 0) {
        /* Unprivileged: what unpacker.ts says, a warning. */
        size_t n = len + 64;
        char *w = arena_alloc(&u->arena, n);
        if (!w)
            return bail(u, "out of memory%s", NULL);
        snprintf(w, n, "%s: %s not created (needs privileges)", rel, device_type(flag));
        return PUSH(u->warnings, (const char *)w) ? 0 : bail(u, "out of memory%s", NULL);
    }
    if (fchmodat(u->rootfd, rel, mode, 0) < 0)
        return bail_errno(u, "chmod", rel);
    if ((u->flags & F_OWNERS) && fchownat(u->rootfd, rel, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return bail_errno(u, "lchown", rel);
    return restat_later(u, rel, len);
}

static int hard_link(struct untar *u, const char *rel, size_t len, const struct entry *e, struct path_slot *slot)
{
    const char *target;
    size_t target_len;
    if (!plain_path(e->link, e->link_len, &target, &target_len))
        return bail(u, "a hard link that is not plainly relative%s", NULL);
    const char *slash = memrchr(target, '/', target_len);
    if (slash && paths_find(&u->paths, target, (size_t)(slash - target))->kind != K_DIR)
        return bail(u, "a hard link into a directory not made%s", NULL);
    struct path_slot *t = paths_find(&u->paths, target, target_len);
    if (t->kind == K_NONE || t->kind == K_DIR)
        return bail(u, "a hard link to a missing path or a directory%s", NULL);
    uint8_t kind = t->kind;
    char *target_key = arena_strndup(&u->arena, target, target_len);
    if (!target_key || paths_claim(&u->paths, slot, rel, len, kind) < 0)
        return bail(u, "out of memory%s", NULL);
    struct hard_link l = { rel, target_key };
    if (!PUSH(u->links, l))
        return bail(u, "out of memory%s", NULL);
    /* Linking changes the inode's ctime: both names are stat'ed at the end. */
    if (restat_later(u, rel, len) < 0 || restat_later(u, target_key, target_len) < 0)
        return -1;
    return 0;
}

static int queue_job(struct untar *u, struct entry *e, uint8_t kind, const char *rel, uint32_t mode, int32_t chmod_to, int chown)
{
    struct job *j = arena_alloc(&u->arena, sizeof *j);
    if (!j)
        return bail(u, "out of memory%s", NULL);
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->rel = rel;
    j->link = e->link;
    j->offset = source_position(&u->src);
    j->size = kind == J_FILE ? (uint64_t)e->size : 0;
    j->mode = mode;
    j->chmod_to = chmod_to;
    j->chown = (uint8_t)chown;
    j->uid = (uint32_t)e->uid;
    j->gid = (uint32_t)e->gid;
    e->job = j;
    writers_push(&u->writers, j);
    return 0;
}

/* One entry (PAX and long names applied), as unpacker.ts's parallel mode applies it. */
static int apply(struct untar *u, struct entry *e)
{
    int flag = e->flag;
    const char *rel = e->path;
    size_t len = e->path_len;
    if (len == 0)
        return 0;
    const char *slash = memrchr(rel, '/', len);
    const char *base = slash ? slash + 1 : rel;
    if (strncmp(base, ".wh.", 4) == 0)
        return bail(u, "a whiteout%s", NULL);
    if (ensure_dir(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    struct path_slot *slot = paths_find(&u->paths, rel, len);
    int owners = (u->flags & F_OWNERS) != 0;
    int root_owned = e->uid == 0 && e->gid == 0;
    if (flag == 5) {
        if (slot->kind != K_NONE && slot->kind != K_DIR)
            return bail(u, "a directory replacing another entry: %s", rel);
        int is_new = slot->kind == K_NONE;
        if (is_new) {
            if (mkdirat(u->rootfd, rel, 0700) < 0)
                return bail_errno(u, "mkdir", rel);
            struct named made = { rel, len };
            if (!PUSH(u->made, made) || paths_claim(&u->paths, slot, rel, len, K_DIR) < 0)
                return bail(u, "out of memory%s", NULL);
        }
        struct dir_attrs d = {
            rel, (uint32_t)e->mode & 07777, (uint32_t)e->uid, (uint32_t)e->gid,
            owners && !((u->flags & F_BORN_ROOT) && is_new && root_owned),
        };
        return PUSH(u->dirs, d) ? 0 : bail(u, "out of memory%s", NULL);
    }
    if (slot->kind != K_NONE)
        return bail(u, "an entry replacing another: %s", rel);
    switch (flag) {
    case 0:
    case 7: {
        uint32_t mode = (uint32_t)e->mode & 07777;
        int32_t chmod_to = mode != (mode & 0777 & ~u->umask_bits) || (owners && !(u->flags & F_AS_ROOT)) ? (int32_t)mode : -1;
        int chown = owners && !((u->flags & F_AS_ROOT) && root_owned);
        if (paths_claim(&u->paths, slot, rel, len, K_FILE) < 0)
            return bail(u, "out of memory%s", NULL);
        u->bytes += e->size;
        return queue_job(u, e, J_FILE, rel, mode & 0777, chmod_to, chown);
    }
    case 2: {
        int chown = owners && !((u->flags & F_BORN_ROOT) && root_owned);
        if (paths_claim(&u->paths, slot, rel, len, K_SYMLINK) < 0)
            return bail(u, "out of memory%s", NULL);
        return queue_job(u, e, J_SYMLINK, rel, 0, -1, chown);
    }
    case 1:
        return hard_link(u, rel, len, e, slot);
    case 3:
    case 4:
    case 6:
        if (paths_claim(&u->paths, slot, rel, len, K_DEVICE) < 0)
            return bail(u, "out of memory%s", NULL);
        return device(u, flag, rel, len, e);
    default:
        return bail(u, "an entry of an unusual type%s", NULL);
    }
}

/* The next entry's header; 0 at the end of the archive, 1 for an entry, -1 to stop. */
static int next_entry(struct untar *u, struct entry *e, struct pending *p)
{
    for (;;) {
        uint64_t before = source_position(&u->src);
        const uint8_t *b = source_take(&u->src, 512);
        if (!b) {
            if (u->src.shrank)
                return ended(u);
            /* The file ends here, or mid-header (truncated: the TypeScript unpacker says so). */
            return u->src.read_to == before ? 0 : ended(u);
        }
        unsigned sum = 8 * 32;
        for (int i = 0; i < 148; i++)
            sum += b[i];
        for (int i = 156; i < 512; i++)
            sum += b[i];
        if (sum == 8 * 32)
            return 0;
        if ((double)sum != num(b + 148, 8))
            return bail(u, "a bad header checksum%s", NULL);
        size_t name_len = field_len(b, 100);
        char name[257];
        memcpy(name, b, name_len);
        if (memcmp(b + 257, "ustar\0", 6) == 0) {
            if (b[345]) {
                size_t prefix_len = field_len(b + 345, 155);
                memmove(name + prefix_len + 1, name, name_len);
                memcpy(name, b + 345, prefix_len);
                name[prefix_len] = '/';
                name_len += prefix_len + 1;
            }
        } else if (!(memcmp(b + 257, "ustar ", 6) == 0 && b[263] == ' ' && b[264] == 0)) {
            return bail(u, "an unknown header format%s", NULL);
        }
        int flag = b[156] == 0 ? 0 : b[156] - '0';
        double size = num(b + 124, 12);
        if (!whole(size, SAFE_INTEGER))
            return bail(u, "an invalid size%s", NULL);
        if (flag == 'x' - '0' || flag == 27 || flag == 28 || flag == 30) {
            if (meta(u, flag, (uint64_t)size, p) < 0)
                return -1;
            continue;
        }
        if (flag < 0 || flag > 7)
            return bail(u, "an entry of an unusual type%s", NULL);

        e->flag = (uint8_t)flag;
        e->mode = num(b + 100, 8);
        e->uid = p->has_uid ? p->uid : num(b + 108, 8);
        e->gid = p->has_gid ? p->gid : num(b + 116, 8);
        e->size = p->has_size ? p->size : size;
        e->devmajor = num(b + 329, 8);
        e->devminor = num(b + 337, 8);
        e->job = NULL;
        if (!whole(e->mode, 4294967295.0) || !whole(e->uid, 4294967294.0) || !whole(e->gid, 4294967294.0) ||
            !whole(e->size, SAFE_INTEGER) || isnan(e->devmajor) || isnan(e->devminor))
            return bail(u, "a numeric field out of range%s", NULL);

        const char *path = p->pax_path ? p->pax_path : p->long_name ? p->long_name : name;
        size_t path_len = p->pax_path ? p->pax_path_len : p->long_name ? p->long_name_len : name_len;
        /* A file entry named with a trailing "/" is a directory (GNU tar, old tars), by its
         * full name; one with content is the TypeScript unpacker's to refuse. */
        if ((flag == 0 || flag == 7) && path_len && path[path_len - 1] == '/') {
            if (e->size != 0)
                return bail(u, "a file entry named as a directory%s", NULL);
            e->flag = (uint8_t)(flag = 5);
        }
        if (path == name && !valid_utf8((const uint8_t *)name, name_len))
            return bail(u, "a name that is not UTF-8%s", NULL);
        const char *rel;
        size_t rel_len;
        if ((path_len == 1 && path[0] == '.') || (path_len == 2 && path[0] == '.' && path[1] == '/'))
            rel = "", rel_len = 0;
        else if (!plain_path(path, path_len, &rel, &rel_len))
            return bail(u, "a path that is not plainly relative%s", NULL);
        e->path = arena_strndup(&u->arena, rel, rel_len);
        e->path_len = (uint16_t)rel_len;

        if (p->pax_link)
            e->link = p->pax_link, e->link_len = (uint16_t)p->pax_link_len;
        else if (p->long_link)
            e->link = p->long_link, e->link_len = (uint16_t)p->long_link_len;
        else {
            size_t n = b[157] ? field_len(b + 157, 100) : 0;
            if (!valid_utf8(b + 157, n))
                return bail(u, "a link name that is not UTF-8%s", NULL);
            e->link = arena_strndup(&u->arena, (const char *)b + 157, n);
            e->link_len = (uint16_t)n;
        }
        if (!e->path || !e->link)
            return bail(u, "out of memory%s", NULL);
        if (e->link_len > 4096)
            return bail(u, "an overlong link name%s", NULL);
        memset(p, 0, sizeof *p);
        return 1;
    }
}

static void run(struct untar *u)
{
    struct pending pending;
    memset(&pending, 0, sizeof pending);
    for (;;) {
        if (atomic_load(&u->writers.failed))
            break;
        struct entry e;
        int got = next_entry(u, &e, &pending);
        if (got <= 0)
            break;
        u->count++;
        if (!PUSH(u->entries, e)) {
            bail(u, "out of memory%s", NULL);
            break;
        }
        if (apply(u, &u->entries.items[u->entries.n - 1]) < 0)
            break;
        /* Links, devices, fifos and directories carry no content, whatever their size says. */
        if (skip_content(u, e.flag == 0 || e.flag == 7 ? (uint64_t)e.size : 0) < 0)
            break;
        double at = (double)source_position(&u->src);
        memcpy(u->progress, &at, sizeof at);
    }
    if (u->status == UNTAR_OK && !source_drain(&u->src))
        u->src.shrank ? (u->status = UNTAR_SHRANK) : bail(u, "reading the archive failed%s", NULL);
}

/* After the writers: hard links, directory owners and modes (last: a read-only directory
 * must not block its children), then the stats only known at the end. */
static void finish(struct untar *u)
{
    for (size_t i = 0; i < u->links.n && u->status == UNTAR_OK; i++)
        if (linkat(u->rootfd, u->links.items[i].target, u->rootfd, u->links.items[i].rel, 0) < 0)
            bail_errno(u, "link", u->links.items[i].rel);
    for (size_t i = u->dirs.n; i-- > 0 && u->status == UNTAR_OK;) {
        const struct dir_attrs *d = &u->dirs.items[i];
        if (d->chown && fchownat(u->rootfd, d->rel, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
            bail_errno(u, "lchown", d->rel);
        else if (fchmodat(u->rootfd, d->rel, d->mode, 0) < 0)
            bail_errno(u, "chmod", d->rel);
    }
    for (int pass = 0; pass < 2 && u->status == UNTAR_OK; pass++) {
        const struct named *names = pass ? u->made.items : u->restat_names.items;
        size_t n = pass ? u->made.n : u->restat_names.n;
        for (size_t i = 0; i < n && u->status == UNTAR_OK; i++) {
            struct restat r = { names[i].rel, names[i].len, { 0 } };
            if (fstatat(u->rootfd, r.rel, &r.st, AT_SYMLINK_NOFOLLOW) < 0)
                bail_errno(u, "lstat", r.rel);
            else if (!PUSH(u->restat, r))
                bail(u, "out of memory%s", NULL);
        }
    }
}

/* The tree digests (untar-digest.c), from the stats in the order the TypeScript side would
 * record them: each file and symlink as made, then what was stat'ed at the end. */
static void digests(struct untar *u)
{
    size_t n = u->restat.n;
    for (size_t i = 0; i < u->entries.n; i++)
        n += u->entries.items[i].job != NULL;
    struct disk_record *disk = malloc((n ? n : 1) * sizeof *disk);
    if (!disk)
        return;
    size_t k = 0;
    for (size_t i = 0; i < u->entries.n; i++) {
        const struct entry *e = &u->entries.items[i];
        if (e->job)
            disk[k++] = (struct disk_record){ e->path, e->path_len, &e->job->st };
    }
    for (size_t i = 0; i < u->restat.n; i++)
        disk[k++] = (struct disk_record){ u->restat.items[i].rel, u->restat.items[i].len, &u->restat.items[i].st };
    u->has_digests = tree_digests(u->rootfd, u->entries.items, u->entries.n, disk, n, &u->digests) == 0;
    free(disk);
}

static void execute(napi_env env, void *data)
{
    (void)env;
    struct untar *u = data;
    u->rootfd = open(u->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (u->rootfd < 0) {
        bail_errno(u, "open", u->target);
        return;
    }
    if (source_open(&u->src, u->srcfd, (u->flags & F_HASH) != 0) < 0 || paths_init(&u->paths) < 0) {
        bail(u, "out of memory%s", NULL);
        return;
    }
    if (writers_start(&u->writers, (int)u->threads, u->rootfd, u->srcfd) < 0) {
        bail(u, "no writer threads%s", NULL);
        return;
    }
    u->writers_on = 1;
    run(u);
    writers_finish(&u->writers);
    u->writers_on = 0;
    if (atomic_load(&u->writers.failed) && u->status != UNTAR_SHRANK) {
        if (u->writers.shrank)
            u->status = UNTAR_SHRANK;
        else
            bail(u, "%s", u->writers.why);
    }
    if (u->status == UNTAR_OK)
        finish(u);
    if (u->status == UNTAR_OK && (u->flags & F_HASH)) {
        uint8_t digest[32];
        blake3_hasher_finalize(&u->src.hasher, digest, 32);
        hex32(digest, u->archive_hex);
    }
    if (u->status == UNTAR_OK && (u->flags & F_DIGESTS))
        digests(u);
}

/* ---- the result ---- */

#define PUT(at, v) (memcpy((at), &(v), sizeof(v)), (at) += sizeof(v))

static size_t result_size(const struct untar *u)
{
    size_t n = HEADER + strlen(u->why);
    if (u->status != UNTAR_OK)
        return n;
    for (size_t i = 0; i < u->entries.n && !u->has_digests; i++) {
        const struct entry *e = &u->entries.items[i];
        n += 56 + e->path_len + e->link_len + (e->job && e->job->kind == J_FILE ? 64 : 0);
        if (e->job)
            n += 2 + e->path_len + 64;
    }
    if (u->has_digests) {
        for (size_t i = 0; i < u->digests.count; i++)
            n += 2 + u->digests.order[i].len + 64;
    } else {
        for (size_t i = 0; i < u->restat.n; i++)
            n += 2 + u->restat.items[i].len + 64;
    }
    for (size_t i = 0; i < u->warnings.n; i++)
        n += 2 + strlen(u->warnings.items[i]);
    return n;
}

static void write_result(const struct untar *u, uint8_t *at)
{
    uint32_t status = (uint32_t)u->status, why_len = (uint32_t)strlen(u->why);
    int ok = u->status == UNTAR_OK;
    /* With the digests nobody needs the entries one by one: none are sent. */
    uint32_t records = ok && !u->has_digests ? (uint32_t)u->entries.n : 0, disk = 0, warnings = ok ? (uint32_t)u->warnings.n : 0;
    if (ok && u->has_digests) {
        disk = (uint32_t)u->digests.count;
    } else if (ok) {
        for (size_t i = 0; i < u->entries.n; i++)
            disk += u->entries.items[i].job != NULL;
        disk += (uint32_t)u->restat.n;
    }
    uint32_t has_digests = ok && u->has_digests;
    double archive_size = (double)u->src.read_to;
    PUT(at, status);
    PUT(at, u->count);
    PUT(at, u->bytes);
    PUT(at, archive_size);
    memcpy(at, u->archive_hex, 64), at += 64;
    PUT(at, records);
    PUT(at, disk);
    PUT(at, warnings);
    PUT(at, why_len);
    PUT(at, has_digests);
    memcpy(at, has_digests ? u->digests.tree : u->archive_hex, 64), at += 64;
    memcpy(at, has_digests ? u->digests.disk : u->archive_hex, 64), at += 64;
    memcpy(at, u->why, why_len), at += why_len;
    if (!ok)
        return;
    for (size_t i = 0; i < records; i++) {
        const struct entry *e = &u->entries.items[i];
        uint8_t has_hash = e->job && e->job->kind == J_FILE;
        uint16_t zero = 0;
        *at++ = e->flag;
        *at++ = has_hash;
        PUT(at, e->path_len);
        PUT(at, e->link_len);
        PUT(at, zero);
        PUT(at, e->mode);
        PUT(at, e->uid);
        PUT(at, e->gid);
        PUT(at, e->size);
        PUT(at, e->devmajor);
        PUT(at, e->devminor);
        memcpy(at, e->path, e->path_len), at += e->path_len;
        memcpy(at, e->link, e->link_len), at += e->link_len;
        if (has_hash)
            memcpy(at, e->job->hex, 64), at += 64;
    }
    if (has_digests) {
        for (size_t i = 0; i < u->digests.count; i++) {
            const struct disk_record *r = &u->digests.order[i];
            uint16_t len = (uint16_t)r->len;
            PUT(at, len);
            memcpy(at, r->rel, r->len), at += r->len;
            put_node_stat(at, r->st), at += 64;
        }
    }
    for (size_t i = 0; i < u->entries.n && !has_digests; i++) {
        const struct entry *e = &u->entries.items[i];
        if (!e->job)
            continue;
        PUT(at, e->path_len);
        memcpy(at, e->path, e->path_len), at += e->path_len;
        put_node_stat(at, &e->job->st), at += 64;
    }
    for (size_t i = 0; i < u->restat.n && !has_digests; i++) {
        const struct restat *r = &u->restat.items[i];
        uint16_t len = (uint16_t)r->len;
        PUT(at, len);
        memcpy(at, r->rel, r->len), at += r->len;
        put_node_stat(at, &r->st), at += 64;
    }
    for (size_t i = 0; i < u->warnings.n; i++) {
        uint16_t len = (uint16_t)strlen(u->warnings.items[i]);
        PUT(at, len);
        memcpy(at, u->warnings.items[i], len), at += len;
    }
}

static void release(napi_env env, struct untar *u)
{
    if (u->rootfd >= 0)
        close(u->rootfd);
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

static void complete(napi_env env, napi_status status, void *data)
{
    struct untar *u = data;
    napi_value result;
    void *bytes;
    if (status != napi_ok) {
        napi_value msg, err;
        napi_create_string_utf8(env, "the native unpack was cancelled", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &err);
        napi_reject_deferred(env, u->deferred, err);
    } else if (napi_create_buffer(env, result_size(u), &bytes, &result) != napi_ok) {
        napi_value msg, err;
        napi_create_string_utf8(env, "out of memory for the unpack's result", NAPI_AUTO_LENGTH, &msg);
        napi_create_error(env, NULL, msg, &err);
        napi_reject_deferred(env, u->deferred, err);
    } else {
        write_result(u, bytes);
        napi_resolve_deferred(env, u->deferred, result);
    }
    release(env, u);
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
        napi_create_async_work(env, NULL, name, execute, complete, u, &u->work) != napi_ok ||
        napi_queue_async_work(env, u->work) != napi_ok) {
        release(env, u);
        return throw_type(env, "could not start the native unpack");
    }
    return promise;
}

NAPI_MODULE_INIT()
{
    napi_value fn;
    if (napi_create_function(env, "untar", NAPI_AUTO_LENGTH, untar, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, "untar", fn) != napi_ok)
        return NULL;
    return exports;
}
