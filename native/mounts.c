/* Filesystem setup, in the order described in PROTOCOL.md "What happens". */
#include "artefacts.h"
#include "mounts.h"
#include "pid1.h"
#include "utils.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* From linux/mount.h, which clashes with glibc's sys/mount.h before 2.37. */
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
struct mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

#define NEWROOT "/newroot"
#define OLDROOT "/oldroot"

/* O_PATH fds opened by mounts_open_sources(). */
static int *lower_fds, upper_fd = -1, work_fd = -1, rootfs_fd = -1;
static int *op_fds;

/* A path that reaches fd through the host's procfs, valid after the staging pivot. */
static char *fd_path(int fd)
{
    return xasprintf(OLDROOT "/proc/self/fd/%d", fd);
}

static int open_source(const char *path, bool dir)
{
    int fd = open(path, O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        die_with_error("%s", path);
    return fd;
}

void mounts_open_sources(struct plan *p)
{
    lower_fds = xcalloc((size_t)p->n_lowers, sizeof(int));
    for (int i = 0; i < p->n_lowers; i++)
        lower_fds[i] = open_source(p->lowers[i], true);
    if (p->upper) {
        upper_fd = open_source(p->upper, true);
        work_fd = open_source(p->work, true);
    }
    if (p->rootfs)
        rootfs_fd = open_source(p->rootfs, true);
    op_fds = xcalloc((size_t)p->n_ops, sizeof(int));
    for (int i = 0; i < p->n_ops; i++) {
        enum op_kind k = p->ops[i].kind;
        op_fds[i] = (k == OP_BIND || k == OP_RO_BIND || k == OP_DEV_BIND)
                        ? open_source(p->ops[i].src, false)
                        : -1;
    }
}

static void close_sources(const struct plan *p)
{
    for (int i = 0; i < p->n_lowers; i++)
        close(lower_fds[i]);
    for (int i = 0; i < p->n_ops; i++)
        if (op_fds[i] >= 0)
            close(op_fds[i]);
    if (upper_fd >= 0)
        close(upper_fd), close(work_fd);
    if (rootfs_fd >= 0)
        close(rootfs_fd);
}

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_SYMLINKS 0x00000010
#endif

static void set_attr(int dfd, const char *path, int flags, uint64_t set, const char *what)
{
    struct mount_attr attr = {.attr_set = set};
    if (syscall(SYS_mount_setattr, dfd, path, flags | AT_RECURSIVE, &attr, sizeof attr) < 0)
        die_with_error("%s: mount_setattr", what);
}

/* Recursive bind of src on dest with extra mount attributes (read-only,
 * nodev, ...). The copy is made and adjusted detached (open_tree), then
 * attached: dest may be a /proc/self/fd path, which would not name the new
 * mount afterwards. Recursive because a non-recursive bind of a tree with
 * locked submounts is refused inside a user namespace. */
static void bind_mount(const char *src, const char *dest, uint64_t attrs, const char *what)
{
    if (!what)
        what = src;
    autoclose int tree = (int)syscall(SYS_open_tree, AT_FDCWD, src,
                                      OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        die_with_error("%s: open_tree", what);
    if (attrs)
        set_attr(tree, "", AT_EMPTY_PATH, attrs, what);
    /* T_SYMLINKS: follow /proc/self/fd/N magic links, as mount(2) does. */
    if (syscall(SYS_move_mount, tree, "", AT_FDCWD, dest,
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
        die_with_error("%s: attach on %s", what, dest);
}

/* Turn a relative path (no leading '/') below `rootfd` into an O_PATH fd,
 * creating missing directories and, if `file`, an empty final file. Symlinks
 * are resolved as if rootfd were "/", so an image can't redirect a mount
 * point to the host. */
static int resolve_in_root(int rootfd, const char *rel, bool file, int depth)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    if (depth > 16)
        die("%s: too many levels of symbolic links", rel);
    int fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof how);
    if (fd >= 0)
        return fd;
    if (errno != ENOENT)
        die_with_error("resolve /%s", rel);

    autofree char *copy = xstrdup(rel);
    char *slash = strrchr(copy, '/');
    const char *name = slash ? slash + 1 : copy;
    if (slash)
        *slash = '\0';
    autoclose int parent = resolve_in_root(rootfd, slash ? copy : "", false, depth);
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        /* Dangling symlink, e.g. resolv.conf -> ../run/systemd/resolve/...:
         * create what it points to. */
        char target[4096];
        ssize_t n = readlinkat(parent, name, target, sizeof target - 1);
        if (n < 0)
            die_with_error("readlink /%s", rel);
        target[n] = '\0';
        autofree char *next = target[0] == '/'
                                  ? xstrdup(target + 1)
                                  : (slash ? xasprintf("%s/%s", copy, target) : xstrdup(target));
        return resolve_in_root(rootfd, next, file, depth + 1);
    }
    if (file) {
        int f = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0)
            die_with_error("create mount point /%s", rel);
        close(f);
        artefact_created(rel);
    } else if (mkdirat(parent, name, 0755) == 0) {
        artefact_created(rel);
    } else if (errno != EEXIST) {
        die_with_error("mkdir /%s", rel);
    }
    fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
    if (fd < 0)
        die_with_error("resolve /%s", rel);
    return fd;
}

/* Destination inside the new root, as a path mount(2) can use. */
static char *dest_path(const char *dest, bool file, int *fdp)
{
    autoclose int rootfd = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        die_with_error("open " NEWROOT);
    while (*dest == '/')
        dest++;
    *fdp = resolve_in_root(rootfd, dest, file, 0);
    return fd_path(*fdp);
}

static void mount_overlay(const struct plan *p)
{
    size_t cap = 256 + (size_t)p->n_lowers * 40;
    autofree char *opts = xmalloc(cap);
    size_t off = (size_t)snprintf(opts, cap, "lowerdir=");
    for (int i = 0; i < p->n_lowers; i++)
        off += (size_t)snprintf(opts + off, cap - off, "%s" OLDROOT "/proc/self/fd/%d",
                                i ? ":" : "", lower_fds[i]);
    if (p->upper)
        off += (size_t)snprintf(opts + off, cap - off,
                                ",upperdir=" OLDROOT "/proc/self/fd/%d,workdir=" OLDROOT
                                "/proc/self/fd/%d",
                                upper_fd, work_fd);
    /* We are always inside a user namespace, where overlayfs can't use
     * trusted.* xattrs: whiteouts/opaque markers use user.overlay.*. */
    snprintf(opts + off, cap - off, ",userxattr");
    if (mount("overlay", NEWROOT, "overlay", p->upper ? 0 : MS_RDONLY, opts) < 0)
        die_with_error("mount overlay (%s); try --fuse-overlayfs", opts);
}

/* fuse-overlayfs is a host binary: it runs before the staging pivot, while
 * the host's /usr, /lib and /dev/fuse are still at their places, and mounts
 * on the staging tmpfs's newroot directory, which the pivot then carries to
 * /newroot. It reaches the layers through the fds we opened. */
static void mount_fuse_overlay(const struct plan *p, const char *staging)
{
    size_t cap = 256 + (size_t)p->n_lowers * 40;
    autofree char *opts = xmalloc(cap);
    size_t off = (size_t)snprintf(opts, cap, "lowerdir=");
    for (int i = 0; i < p->n_lowers; i++)
        off += (size_t)snprintf(opts + off, cap - off, "%s/proc/self/fd/%d", i ? ":" : "",
                                lower_fds[i]);
    if (p->upper)
        snprintf(opts + off, cap - off, ",upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d",
                 upper_fd, work_fd);
    pid_t pid = fork();
    if (pid < 0)
        die_with_error("fork");
    if (pid == 0) {
        for (int i = 0; i < p->n_lowers; i++)
            fcntl(lower_fds[i], F_SETFD, 0);
        if (upper_fd >= 0)
            fcntl(upper_fd, F_SETFD, 0), fcntl(work_fd, F_SETFD, 0);
        autofree char *target = xasprintf("%s" NEWROOT, staging);
        execl(p->fuse_overlayfs, p->fuse_overlayfs, "-o", opts, target, (char *)NULL);
        die_with_error("exec %s", p->fuse_overlayfs);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die_with_error("waitpid fuse-overlayfs");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("fuse-overlayfs failed (status %d)", status_to_code(status));
}

/* Where the staging tmpfs goes. Our own accesses go through fds, but
 * fuse-overlayfs resolves the layer paths itself, so the tmpfs must not hide
 * them. */
static const char *choose_staging(const struct plan *p)
{
    static const char *const candidates[] = {"/tmp", "/mnt", "/run", "/media", "/srv", "/opt"};
    for (size_t c = 0; c < sizeof candidates / sizeof *candidates; c++) {
        const char *dir = candidates[c];
        size_t len = strlen(dir);
        struct stat st;
        bool ok = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        for (int i = 0; ok && p->fuse_overlayfs && i < p->n_lowers + 2; i++) {
            const char *path = i < p->n_lowers ? p->lowers[i] : i == p->n_lowers ? p->upper : p->work;
            autofree char *real = path ? realpath(path, NULL) : NULL;
            if (real && strncmp(real, dir, len) == 0 && (real[len] == '/' || !real[len]))
                ok = false;
        }
        if (ok)
            return dir;
    }
    die("no directory for the staging tmpfs (all of /tmp /mnt /run /media /srv /opt "
        "are missing or hold the layers)");
}

void mounts_setup_root(const struct plan *p)
{
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die_with_error("make / private");

    /* Staging root on a tmpfs, host tree kept at /oldroot for the sources.
     * All sources are already open, so hiding the host's /tmp is harmless. */
    const char *staging = choose_staging(p);
    if (mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        die_with_error("mount staging tmpfs on %s", staging);
    autofree char *newroot = xasprintf("%s" NEWROOT, staging);
    autofree char *oldroot = xasprintf("%s" OLDROOT, staging);
    autofree char *files = xasprintf("%s/files", staging);
    if (mkdir(newroot, 0755) < 0 || mkdir(oldroot, 0755) < 0 || mkdir(files, 0755) < 0)
        die_with_error("mkdir in staging tmpfs");
    if (p->fuse_overlayfs) {
        /* The pivots below move the daemon's root along with ours, and it
         * uses /proc/self/fd itself: give each root it will see a /proc. */
        autofree char *proc = xasprintf("%s/proc", staging);
        if (mkdir(proc, 0555) < 0 || mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                           NULL) < 0)
            die_with_error("mount proc for fuse-overlayfs");
        mount_fuse_overlay(p, staging);
    }
    if (syscall(SYS_pivot_root, staging, oldroot) < 0)
        die_with_error("pivot_root into staging tmpfs");
    if (chdir("/") < 0)
        die_with_error("chdir /");

    /* The root filesystem. */
    if (p->rootfs) {
        autofree char *src = fd_path(rootfs_fd);
        bind_mount(src, NEWROOT, p->ro_rootfs ? MOUNT_ATTR_RDONLY : 0, p->rootfs);
    } else if (p->fuse_overlayfs) {
        /* mounted above */
    } else if (!p->upper && p->n_lowers == 1) {
        /* overlayfs refuses a single lower without an upper. */
        autofree char *src = fd_path(lower_fds[0]);
        bind_mount(src, NEWROOT, MOUNT_ATTR_RDONLY, p->lowers[0]);
    } else {
        mount_overlay(p);
    }
}

static void mount_proc(void)
{
    /* Fails (EPERM) when the host's /proc has parts masked by other mounts,
     * e.g. inside some containers; then show the host's (documented). */
    if (mkdir(NEWROOT "/proc", 0555) == 0)
        artefact_created("proc");
    else if (errno != EEXIST)
        die_with_error("mkdir /proc");
    if (mount("proc", NEWROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        bind_mount(OLDROOT "/proc", NEWROOT "/proc", 0, "bind host /proc");
}

static void mount_dev(const char *tty_name)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    if (mkdir(NEWROOT "/dev", 0755) == 0)
        artefact_created("dev");
    else if (errno != EEXIST)
        die_with_error("mkdir /dev");
    if (mount("tmpfs", NEWROOT "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0)
        die_with_error("mount tmpfs on /dev");
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
        autofree char *dst = xasprintf(NEWROOT "/dev/%s", nodes[i]);
        autofree char *src = xasprintf(OLDROOT "/dev/%s", nodes[i]);
        int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            die_with_error("create %s", dst);
        close(fd);
        bind_mount(src, dst, 0, NULL);
    }
    if (mkdir(NEWROOT "/dev/pts", 0755) < 0 || mkdir(NEWROOT "/dev/shm", 01777) < 0)
        die_with_error("mkdir in /dev");
    /* No gid=5: the tty group is usually not mapped. */
    if (mount("devpts", NEWROOT "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=620") < 0)
        die_with_error("mount devpts");
    if (mount("tmpfs", NEWROOT "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
        die_with_error("mount /dev/shm");
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"},       {"/proc/self/fd", "fd"},     {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"},
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        autofree char *dst = xasprintf(NEWROOT "/dev/%s", links[i][1]);
        if (symlink(links[i][0], dst) < 0)
            die_with_error("symlink %s", dst);
    }
    /* The caller's terminal is on the host's devpts; expose it as
     * /dev/console so ttyname(3) finds a name for it. */
    if (tty_name) {
        autofree char *src = xasprintf(OLDROOT "%s", tty_name);
        int fd = open(NEWROOT "/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            die_with_error("create /dev/console");
        close(fd);
        bind_mount(src, NEWROOT "/dev/console", 0, NULL);
    }
}

static void mount_sys(bool new_netns)
{
    if (mkdir(NEWROOT "/sys", 0555) == 0)
        artefact_created("sys");
    else if (errno != EEXIST)
        die_with_error("mkdir /sys");
    /* sysfs may only be mounted by the owner of the network namespace. */
    if (new_netns && mount("sysfs", NEWROOT "/sys", "sysfs",
                           MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0)
        return;
    bind_mount(OLDROOT "/sys", NEWROOT "/sys", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                 MOUNT_ATTR_NODEV, "bind host /sys");
}

static void apply_op(const struct plan *p, int i)
{
    const struct mount_op *op = &p->ops[i];
    autoclose int destfd = -1;
    switch (op->kind) {
    case OP_BIND:
    case OP_RO_BIND:
    case OP_DEV_BIND: {
        struct stat st;
        if (fstat(op_fds[i], &st) < 0)
            die_with_error("stat %s", op->src);
        autofree char *src = fd_path(op_fds[i]);
        autofree char *dst = dest_path(op->dest, !S_ISDIR(st.st_mode), &destfd);
        uint64_t attrs = op->kind == OP_DEV_BIND ? MOUNT_ATTR_NOSUID
                                                 : MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
        if (op->kind == OP_RO_BIND)
            attrs |= MOUNT_ATTR_RDONLY;
        autofree char *what = xasprintf("bind %s on %s", op->src, op->dest);
        bind_mount(src, dst, attrs, what);
        break;
    }
    case OP_TMPFS: {
        autofree char *dst = dest_path(op->dest, false, &destfd);
        autofree char *opts = xasprintf("mode=%04o", op->perms ? op->perms : 0755);
        if (mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
            die_with_error("mount tmpfs on %s", op->dest);
        break;
    }
    case OP_DIR: {
        autofree char *dst = dest_path(op->dest, false, &destfd);
        if (op->perms && chmod(dst, op->perms) < 0)
            die_with_error("chmod %s", op->dest);
        break;
    }
    case OP_FILE_FROM: {
        /* A private copy on the staging tmpfs, bound read-only over the
         * destination: the image (and the upper dir) never see it. */
        autofree char *tmp = xasprintf("/files/%d", i);
        autoclose int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 || write_all(fd, op->content, op->content_len) < 0)
            die_with_error("copy %s", op->src);
        /* Root's inside, as files in /etc are (sudo insists on it for its drop-ins);
         * fails harmlessly with single-id mapping, where root is not mapped. */
        if (fchown(fd, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
            die_with_error("chown %s", op->dest);
        autofree char *dst = dest_path(op->dest, true, &destfd);
        autofree char *what = xasprintf("--file-from %s %s", op->src, op->dest);
        bind_mount(tmp, dst, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, what);
        break;
    }
    case OP_SYMLINK: {
        const char *d = op->dest;
        while (*d == '/')
            d++;
        autofree char *copy = xstrdup(d);
        char *slash = strrchr(copy, '/');
        autoclose int rootfd = open(NEWROOT, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (slash)
            *slash = '\0';
        autoclose int parent = resolve_in_root(rootfd, slash ? copy : "", false, 0);
        if (symlinkat(op->src, parent, slash ? slash + 1 : copy) < 0 && errno != EEXIST)
            die_with_error("symlink %s", op->dest);
        break;
    }
    }
}

void mounts_setup_tree(const struct plan *p)
{
    mount_proc();
    mount_dev(p->tty_name);
    mount_sys(p->unshare_net);
    for (int i = 0; i < p->n_ops; i++)
        apply_op(p, i);
    close_sources(p);
}

void mounts_enter_root(void)
{
    /* pivot_root(".", ".") stacks the old root on top of the new one; the
     * lazy unmount then drops the staging tmpfs and the host tree with it,
     * without needing a directory in the image. */
    if (chdir(NEWROOT) < 0)
        die_with_error("chdir " NEWROOT);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die_with_error("pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        die_with_error("detach old root");
    if (chdir("/") < 0)
        die_with_error("chdir /");
}

void mounts_root_readonly(bool on)
{
    struct mount_attr attr = {.attr_set = on ? MOUNT_ATTR_RDONLY : 0,
                              .attr_clr = on ? 0 : MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, &attr, sizeof attr) < 0 && on)
        die_with_error("--ro-root: mount_setattr /");
}
