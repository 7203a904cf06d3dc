/* The plan: what parse_args() produced and execute() carries out. */
#ifndef KARAPACE_SANDBOX_H
#define KARAPACE_SANDBOX_H

#include "pty-relay.h"

#include <stdbool.h>
#include <sys/types.h>

enum map_mode { MAP_SINGLE, MAP_FULL, MAP_ROOT };

enum op_kind {
    OP_BIND,      /* --bind SRC DEST */
    OP_RO_BIND,   /* --ro-bind SRC DEST */
    OP_DEV_BIND,  /* --dev-bind SRC DEST */
    OP_TMPFS,     /* --tmpfs DEST */
    OP_DIR,       /* --dir DEST */
    OP_FILE_FROM, /* --file-from SRC DEST */
    OP_SYMLINK,   /* --symlink TARGET DEST */
};

struct mount_op {
    enum op_kind kind;
    const char *src;  /* host path (or symlink target) */
    const char *dest; /* absolute path inside the sandbox */
    mode_t perms;     /* --perms for tmpfs/dir, else 0 */
    char *content;    /* OP_FILE_FROM: the file's bytes, read before namespaces exist */
    size_t content_len;
};

enum env_kind { ENV_SET, ENV_UNSET, ENV_CLEAR };

struct env_op {
    enum env_kind kind;
    const char *key, *value;
};

struct id_range {
    unsigned long inside, outside, count;
};

struct plan {
    /* root filesystem */
    const char **lowers; /* first = topmost */
    int n_lowers;
    const char *upper, *work, *rootfs, *fuse_overlayfs;
    bool ro_rootfs;

    struct mount_op *ops;
    int n_ops;
    struct env_op *env;
    int n_env;

    /* ids */
    enum map_mode map_mode;
    unsigned long uid, gid;           /* inside the sandbox */
    uid_t host_uid;                   /* caller's euid */
    gid_t host_gid;                   /* caller's egid */
    struct id_range uid_map[3], gid_map[3];
    int n_uid_map, n_gid_map;

    /* namespaces and process */
    bool unshare_net, fake_chown, clearenv, new_session;
    bool tty;                         /* stdin is our controlling terminal, in the foreground */
    const char *tty_name;             /* its host path (/dev/pts/N), if any */
    const char *hostname, *chdir, *pid_file;
    int json_status_fd;
    char *const *argv;                /* the command */

    /* --join PID (join.c) and --wait-joined (linger.c) */
    pid_t join_pid;
    bool wait_joined;

    /* --ro-root: the root mount read-only once every mount point exists (frozen envs) */
    bool ro_root;
    /* --allow-setuid: no no_new_privs, so setuid binaries (sudo) work inside the
     * user namespace; never with --fake-chown (seccomp needs no_new_privs) */
    bool allow_setuid;

    /* --pty: the command's terminal is a pty inside, relayed (pty-relay.c); dropped
     * when the caller has no terminal of its own */
    bool pty;
    struct pty_relay relay;

    /* --host-exec SOCKET: serve karapace-host-exec on this host path (host-exec-server.c) */
    const char *host_exec;
};

/* The command's process: own process group (+ terminal), ids, environment,
 * cwd, seccomp, exec. Used by pid 1 and by --join. */
void __attribute__((noreturn)) exec_command(const struct plan *p);

#endif
