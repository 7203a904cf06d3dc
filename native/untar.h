/* The native tar unpacker (karapace_untar.node): what its parts share.
 *
 * It unpacks a plain tar file into an empty directory the way kernel/src/layers/unpacker.ts
 * does in its parallel mode, for the archives that mode sees almost always (files,
 * directories, symlinks, hard links and device nodes, with ustar, GNU long names and PAX
 * paths, ids and sizes). Anything else — whiteouts, xattrs, an entry replacing another, a
 * path that is not plainly relative, sparse files, V7 or signed-checksum headers, Solaris
 * and global PAX headers, other entry types, a malformed header, any failed call — makes it stop
 * and say so ("bail"); the caller then empties the directory and unpacks with the
 * TypeScript unpacker, which decides that case and words its errors. So this code needs
 * no error messages of its own for hostile archives, only the common case, fast.
 * A stored tree's restore (untar-tree.c) goes through the same apply step, and there also
 * recreates overlayfs markers and sets files' and directories' xattrs. */
#ifndef KARAPACE_UNTAR_H
#define KARAPACE_UNTAR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "blake3.h"

enum untar_status { UNTAR_OK = 0, UNTAR_BAIL = 1, UNTAR_SHRANK = 2 };

/* ---- memory that never moves (paths and jobs are shared with the writer threads) ---- */
struct arena {
    struct arena_block *blocks;
    char *next, *end;
};
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);
void arena_free(struct arena *a);

/* ---- the tar file, read once in order and hashed as it is read (untar-source.c) ---- */
struct source {
    int fd;
    int hash;
    uint64_t size;     /* at the start: the file ending before it shrank */
    uint64_t read_to;  /* file offset of buf[end] */
    uint8_t *buf;
    size_t cap, start, end;
    int shrank, failed;
    blake3_hasher hasher;
};
int source_open(struct source *s, int fd, int hash);
void source_close(struct source *s);
/* n contiguous bytes at the cursor (n <= SOURCE_MAX_TAKE), or NULL when the file ends first. */
#define SOURCE_MAX_TAKE ((size_t)(1 << 20) + 4096)
const uint8_t *source_take(struct source *s, size_t n);
/* Passes n bytes (hashing them); 0 when the file ends first. */
int source_skip(struct source *s, uint64_t n);
uint64_t source_position(const struct source *s);
/* Reads (and hashes) the rest of the file, up to its size at the start. */
int source_drain(struct source *s);

/* ---- what the archive has made, by relative path (untar-paths.c) ---- */
enum kind { K_NONE = 0, K_DIR, K_FILE, K_SYMLINK, K_DEVICE };
struct path_slot {
    const char *key;
    uint32_t len;
    uint32_t hash;
    uint8_t kind;
    uint32_t value; /* the user's (untar-digest.c: a node's index + 1) */
};
struct path_set {
    struct path_slot *slots;
    size_t mask, used;
};
int paths_init(struct path_set *p);
void paths_free(struct path_set *p);
/* The slot for key (kind K_NONE when absent; fill it with paths_claim). */
struct path_slot *paths_find(struct path_set *p, const char *key, size_t len);
int paths_claim(struct path_set *p, struct path_slot *slot, const char *key, size_t len, uint8_t kind);
/* A tar path normalised as unpacker.ts's plainEntryPath does (a leading "./" and trailing
 * "/" dropped) into out (len into *out_len); 0 when it is not that plain case. */
int plain_path(const char *raw, size_t len, const char **out, size_t *out_len);
int valid_utf8(const uint8_t *s, size_t len);

/* ---- the threads that create files and symlinks (untar-writers.c) ---- */
enum job_kind { J_FILE = 1, J_SYMLINK = 2 };
struct job {
    struct job *next;
    uint8_t kind;
    uint8_t chown;
    const char *rel;    /* NUL-terminated */
    const char *link;   /* symlink target, NUL-terminated */
    uint64_t offset, size;
    uint32_t mode;      /* created with (file: mode & 0777) */
    int32_t chmod_to;   /* -1: none */
    uint32_t uid, gid;
    /* A tree restore's (untar-tree.c): the content is a store object, at src_at in src_fd
     * (a loose object's file or a pack), and the extended attributes. */
    uint8_t stored;
    int src_fd;
    uint64_t src_at;
    const uint8_t *xattrs;
    uint16_t n_xattrs;
    /* The content, read (and hashed into the tar's hash) by the main thread: written and
     * freed by a writer. Or, for a large one, `tar`: the main thread copies it itself from
     * the object, hashing what it writes into this. */
    uint8_t *data;
    blake3_hasher *tar;
    /* Results, valid once the writers are joined. */
    int done;
    char hex[64];
    struct stat st;
};
struct writers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *head, *tail;
    int closed, idle;
    pthread_t threads[8];
    int count;
    int rootfd, srcfd;
    int no_stats; /* a tree restore: nobody reads the jobs' stats */
    /* Content bytes read ahead for the writers (jobs' data), bounded (writers_reserve). */
    size_t buffered;
    pthread_cond_t room;
    atomic_int failed;
    /* The first failure (under mu). */
    int err, shrank;
    char why[512];
};
int writers_start(struct writers *w, int count, int rootfd, int srcfd);
void writers_push(struct writers *w, struct job *j);
/* Waits until `n` more bytes of content may be read ahead (or none are). */
void writers_reserve(struct writers *w, size_t n);
/* A job run on the calling thread (a tree restore's large file); 0 when it is done. */
int writers_run_here(struct writers *w, struct job *j);
/* Waits for every job, then stops the threads. */
void writers_finish(struct writers *w);
void writers_fail(struct writers *w, int err, const char *syscall, const char *rel, int shrank);

/* Sets `n` extended attributes (each u16 name length, u32 value length, name, value) on
 * the open fd; -1 with errno on the first that fails. */
int set_xattrs(int fd, const uint8_t *xattrs, uint16_t n);

/* Lowercase hex of a 32-byte digest. */
void hex32(const uint8_t *digest, char *out);

/* ---- one archive entry, as parsed (untar.c) ---- */
struct entry {
    uint8_t flag;
    const char *path, *link;
    uint16_t path_len, link_len;
    double mode, uid, gid, size, devmajor, devminor;
    struct job *job;
    /* A tree restore's (untar-tree.c); NULL and 0 for a tar entry. */
    uint64_t skel_at;
    uint8_t stored;     /* the content is a store object: source (an index into the plan's files) at source_at */
    uint32_t source;
    uint64_t source_at;
    const uint8_t *xattrs;
    uint16_t n_xattrs;
};

/* ---- the tree digests (untar-digest.c) ---- */
/* A path's stat as recorded; a later record of the same path replaces an earlier one. */
struct disk_record {
    const char *rel;
    size_t len;
    const struct stat *st;
};
struct tree_digests {
    char tree[64];  /* digestTree of the entries as unpacked (image-sources' canonical digest) */
    char disk[64];  /* digestTree of what is on disk, from the recorded stats */
    struct disk_record *order; /* every recorded path once, in digestTree's order */
    size_t count;
};
/* 0: computed (free out->order); -1: not computed here (the caller's TypeScript does it). */
int tree_digests(int rootfd, const struct entry *entries, size_t n_entries, const struct disk_record *disk, size_t n_disk,
                 struct tree_digests *out);

#endif
