/* The native unpacker's writing side: each entry applied as unpacker.ts's parallel mode
 * applies it (file contents go to the writer threads, untar-writers.c), then hard links,
 * directory modes and owners, the stats known only at the end, and the tree digests. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "untar-state.h"

/* The directory `rel` (a prefix of an entry's path), made 0755 when the archive implies it. */
static int ensure_dir(struct untar *u, const char *rel, size_t len)
{
    if (len == 0)
        return 0;
    struct path_slot *slot = paths_find(&u->paths, rel, len);
    if (slot->kind == K_DIR)
        return 0;
    if (slot->kind != K_NONE)
        return untar_bail(u, "an entry goes through a non-directory: %s", slot->key);
    const char *slash = memrchr(rel, '/', len);
    if (ensure_dir(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    char *key = arena_strndup(&u->arena, rel, len);
    if (!key)
        return untar_bail(u, "out of memory%s", NULL);
    if (mkdirat(u->rootfd, key, 0755) < 0)
        return untar_bail_errno(u, "mkdir", key);
    struct named made = { key, len };
    if (!PUSH(u->made, made))
        return untar_bail(u, "out of memory%s", NULL);
    /* Found again: ensure_dir of the parents may have grown the table. */
    return paths_claim(&u->paths, paths_find(&u->paths, key, len), key, len, K_DIR) < 0 ? untar_bail(u, "out of memory%s", NULL) : 0;
}

static int restat_later(struct untar *u, const char *rel, size_t len)
{
    struct named n = { rel, len };
    return PUSH(u->restat_names, n) ? 0 : untar_bail(u, "out of memory%s", NULL);
}

static const char *device_type(int flag)
{
    return flag == 3 ? "character-device" : flag == 4 ? "block-device" : "fifo";
}

static int device(struct untar *u, int flag, const char *rel, size_t len, const struct entry *e)
{
    if (!whole(e->devmajor, 4294967295.0) || !whole(e->devminor, 4294967295.0))
        return untar_bail(u, "a device number out of range%s", NULL);
    mode_t kind = flag == 3 ? S_IFCHR : flag == 4 ? S_IFBLK : S_IFIFO;
    mode_t mode = (mode_t)e->mode & 07777;
    dev_t dev = kind == S_IFIFO ? 0 : makedev((unsigned)e->devmajor, (unsigned)e->devminor);
    if (mknodat(u->rootfd, rel, kind | mode, dev) < 0) {
        /* Unprivileged: what unpacker.ts says, a warning. */
        size_t n = len + 64;
        char *w = arena_alloc(&u->arena, n);
        if (!w)
            return untar_bail(u, "out of memory%s", NULL);
        snprintf(w, n, "%s: %s not created (needs privileges)", rel, device_type(flag));
        return PUSH(u->warnings, (const char *)w) ? 0 : untar_bail(u, "out of memory%s", NULL);
    }
    if (fchmodat(u->rootfd, rel, mode, 0) < 0)
        return untar_bail_errno(u, "chmod", rel);
    if ((u->flags & F_OWNERS) && fchownat(u->rootfd, rel, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return untar_bail_errno(u, "lchown", rel);
    return restat_later(u, rel, len);
}

static int hard_link(struct untar *u, const char *rel, size_t len, const struct entry *e, struct path_slot *slot)
{
    const char *target;
    size_t target_len;
    if (!plain_path(e->link, e->link_len, &target, &target_len))
        return untar_bail(u, "a hard link that is not plainly relative%s", NULL);
    const char *slash = memrchr(target, '/', target_len);
    if (slash && paths_find(&u->paths, target, (size_t)(slash - target))->kind != K_DIR)
        return untar_bail(u, "a hard link into a directory not made%s", NULL);
    struct path_slot *t = paths_find(&u->paths, target, target_len);
    if (t->kind == K_NONE || t->kind == K_DIR)
        return untar_bail(u, "a hard link to a missing path or a directory%s", NULL);
    uint8_t kind = t->kind;
    char *target_key = arena_strndup(&u->arena, target, target_len);
    if (!target_key || paths_claim(&u->paths, slot, rel, len, kind) < 0)
        return untar_bail(u, "out of memory%s", NULL);
    struct hard_link l = { rel, target_key };
    if (!PUSH(u->links, l))
        return untar_bail(u, "out of memory%s", NULL);
    /* Linking changes the inode's ctime: both names are stat'ed at the end. */
    if (restat_later(u, rel, len) < 0 || restat_later(u, target_key, target_len) < 0)
        return -1;
    return 0;
}

static int queue_job(struct untar *u, struct entry *e, uint8_t kind, const char *rel, uint32_t mode, int32_t chmod_to, int chown)
{
    struct job *j = arena_alloc(&u->arena, sizeof *j);
    if (!j)
        return untar_bail(u, "out of memory%s", NULL);
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
    j->stored = e->stored;
    j->xattrs = e->xattrs;
    j->n_xattrs = e->n_xattrs;
    e->job = j;
    if (j->stored) {
        int queued = untar_tree_content(u, e, j);
        if (queued <= 0)
            return queued;
    }
    writers_push(&u->writers, j);
    return 0;
}

/* A directory's extended attributes, set when it is made (as unpacker.ts does: before its
 * children, its owner and mode come at the end). */
static int dir_xattrs(struct untar *u, const char *rel, const struct entry *e)
{
    int fd = openat(u->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return untar_bail_errno(u, "open", rel);
    /* A failure is a warning in unpacker.ts, worded there: it takes over. */
    int failed = set_xattrs(fd, e->xattrs, e->n_xattrs) < 0;
    if (failed)
        untar_bail_errno(u, "fsetxattr", rel);
    close(fd);
    return failed ? -1 : 0;
}

/* overlayfs's xattr form of a whiteout where mknod is not allowed (xattrs.ts makeWhiteout):
 * an empty file of mode 0 flagged user.overlay.whiteout, in a directory flagged
 * user.overlay.whiteouts. */
static int xattr_whiteout(struct untar *u, const char *rel, size_t parent_len)
{
    int fd = openat(u->rootfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return untar_bail_errno(u, "open", rel);
    int failed = fsetxattr(fd, "user.overlay.whiteout", "", 0, 0) < 0;
    close(fd);
    if (failed)
        return untar_bail_errno(u, "fsetxattr", rel);
    char *parent = parent_len ? arena_strndup(&u->arena, rel, parent_len) : ".";
    int dir = parent ? openat(u->rootfd, parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (dir < 0)
        return untar_bail_errno(u, "open", parent ? parent : rel);
    failed = fsetxattr(dir, "user.overlay.whiteouts", "", 0, 0) < 0;
    close(dir);
    return failed ? untar_bail_errno(u, "fsetxattr", parent) : 0;
}

/* A tree restore's overlayfs markers (whiteouts: overlay), as unpacker.ts recreates them:
 * a whiteout is a 0/0 character device, or where mknod is not allowed overlayfs's xattr
 * form; an opaque directory gets both opaque xattrs, or
 * at least one. */
static int overlay_marker(struct untar *u, struct entry *e, const char *rel, size_t len, const char *slash)
{
    if (!(u->flags & F_OVERLAY))
        return untar_bail(u, "a whiteout or opaque marker to apply%s", NULL);
    if (e->flag == FLAG_OPAQUE) {
        if (ensure_dir(u, rel, len) < 0)
            return -1;
        int fd = openat(u->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return untar_bail_errno(u, "open", rel);
        int ok = fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) == 0;
        ok |= fsetxattr(fd, "user.overlay.opaque", "y", 1, 0) == 0;
        close(fd);
        return ok ? 0 : untar_bail(u, "cannot mark a directory opaque: %s", rel);
    }
    const char *base = slash ? slash + 1 : rel;
    size_t base_len = len - (size_t)(base - rel);
    if ((base_len == 1 && base[0] == '.') || (base_len == 2 && base[0] == '.' && base[1] == '.'))
        return untar_bail(u, "a bad whiteout%s", NULL);
    if (ensure_dir(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    struct path_slot *slot = paths_find(&u->paths, rel, len);
    if (slot->kind != K_NONE)
        return untar_bail(u, "a whiteout of a path this tree made: %s", rel);
    if (mknodat(u->rootfd, rel, S_IFCHR, makedev(0, 0)) < 0 && xattr_whiteout(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    return paths_claim(&u->paths, slot, rel, len, K_DEVICE) < 0 ? untar_bail(u, "out of memory%s", NULL) : 0;
}

/* One entry (PAX and long names applied), as unpacker.ts's parallel mode applies it. */
int untar_apply(struct untar *u, struct entry *e)
{
    int flag = e->flag;
    const char *rel = e->path;
    size_t len = e->path_len;
    if (len == 0)
        return 0;
    const char *slash = memrchr(rel, '/', len);
    const char *base = slash ? slash + 1 : rel;
    if (flag == FLAG_WHITEOUT || flag == FLAG_OPAQUE)
        return overlay_marker(u, e, rel, len, slash);
    if (strncmp(base, ".wh.", 4) == 0)
        return untar_bail(u, "a whiteout%s", NULL);
    /* Extended attributes only come with a tree restore, on files and directories. */
    if (e->n_xattrs && flag != 0 && flag != 5)
        return untar_bail(u, "extended attributes on a link or device%s", NULL);
    if (ensure_dir(u, rel, slash ? (size_t)(slash - rel) : 0) < 0)
        return -1;
    struct path_slot *slot = paths_find(&u->paths, rel, len);
    int owners = (u->flags & F_OWNERS) != 0;
    int root_owned = e->uid == 0 && e->gid == 0;
    if (flag == 5) {
        if (slot->kind != K_NONE && slot->kind != K_DIR)
            return untar_bail(u, "a directory replacing another entry: %s", rel);
        int is_new = slot->kind == K_NONE;
        if (is_new) {
            if (mkdirat(u->rootfd, rel, 0700) < 0)
                return untar_bail_errno(u, "mkdir", rel);
            struct named made = { rel, len };
            if (!PUSH(u->made, made) || paths_claim(&u->paths, slot, rel, len, K_DIR) < 0)
                return untar_bail(u, "out of memory%s", NULL);
        }
        if (e->n_xattrs && dir_xattrs(u, rel, e) < 0)
            return -1;
        struct dir_attrs d = {
            rel, (uint32_t)e->mode & 07777, (uint32_t)e->uid, (uint32_t)e->gid,
            owners && !((u->flags & F_BORN_ROOT) && is_new && root_owned),
        };
        return PUSH(u->dirs, d) ? 0 : untar_bail(u, "out of memory%s", NULL);
    }
    if (slot->kind != K_NONE)
        return untar_bail(u, "an entry replacing another: %s", rel);
    switch (flag) {
    case 0:
    case 7: {
        uint32_t mode = (uint32_t)e->mode & 07777;
        int32_t chmod_to = mode != (mode & 0777 & ~u->umask_bits) || (owners && !(u->flags & F_AS_ROOT)) ? (int32_t)mode : -1;
        int chown = owners && !((u->flags & F_AS_ROOT) && root_owned);
        if (paths_claim(&u->paths, slot, rel, len, K_FILE) < 0)
            return untar_bail(u, "out of memory%s", NULL);
        u->bytes += e->size;
        return queue_job(u, e, J_FILE, rel, mode & 0777, chmod_to, chown);
    }
    case 2: {
        int chown = owners && !((u->flags & F_BORN_ROOT) && root_owned);
        if (paths_claim(&u->paths, slot, rel, len, K_SYMLINK) < 0)
            return untar_bail(u, "out of memory%s", NULL);
        return queue_job(u, e, J_SYMLINK, rel, 0, -1, chown);
    }
    case 1:
        return hard_link(u, rel, len, e, slot);
    case 3:
    case 4:
    case 6:
        if (paths_claim(&u->paths, slot, rel, len, K_DEVICE) < 0)
            return untar_bail(u, "out of memory%s", NULL);
        return device(u, flag, rel, len, e);
    default:
        return untar_bail(u, "an entry of an unusual type%s", NULL);
    }
}

/* After the writers: hard links, directory owners and modes (last: a read-only directory
 * must not block its children), then the stats only known at the end. */
void untar_finish(struct untar *u)
{
    for (size_t i = 0; i < u->links.n && u->status == UNTAR_OK; i++)
        if (linkat(u->rootfd, u->links.items[i].target, u->rootfd, u->links.items[i].rel, 0) < 0)
            untar_bail_errno(u, "link", u->links.items[i].rel);
    for (size_t i = u->dirs.n; i-- > 0 && u->status == UNTAR_OK;) {
        const struct dir_attrs *d = &u->dirs.items[i];
        if (d->chown && fchownat(u->rootfd, d->rel, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
            untar_bail_errno(u, "lchown", d->rel);
        else if (fchmodat(u->rootfd, d->rel, d->mode, 0) < 0)
            untar_bail_errno(u, "chmod", d->rel);
    }
    /* A tree restore's caller needs no stats. */
    for (int pass = 0; pass < 2 && u->status == UNTAR_OK && !(u->flags & F_TREE); pass++) {
        const struct named *names = pass ? u->made.items : u->restat_names.items;
        size_t n = pass ? u->made.n : u->restat_names.n;
        for (size_t i = 0; i < n && u->status == UNTAR_OK; i++) {
            struct restat r = { names[i].rel, names[i].len, { 0 } };
            if (fstatat(u->rootfd, r.rel, &r.st, AT_SYMLINK_NOFOLLOW) < 0)
                untar_bail_errno(u, "lstat", r.rel);
            else if (!PUSH(u->restat, r))
                untar_bail(u, "out of memory%s", NULL);
        }
    }
}

/* The tree digests (untar-digest.c), from the stats in the order the TypeScript side would
 * record them: each file and symlink as made, then what was stat'ed at the end. */
void untar_digests(struct untar *u)
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

