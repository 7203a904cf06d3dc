/* The native unpacker's state and the functions its files share (untar.c: the N-API glue
 * and the main loop; untar-parse.c: headers, PAX records and long names; untar-apply.c:
 * each entry applied, then what is done at the end; untar-result.c: the result buffer).
 * The public pieces (entries, writers, paths, digests) are in untar.h. */
#ifndef KARAPACE_UNTAR_STATE_H
#define KARAPACE_UNTAR_STATE_H
#include <node_api.h>
#include "untar.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the result is little-endian, written with memcpy"
#endif

enum { F_OWNERS = 1, F_AS_ROOT = 2, F_BORN_ROOT = 4, F_HASH = 8, F_DIGESTS = 16, F_TREE = 32, F_OVERLAY = 64 };
/* A tree restore's own entry kinds (untar-tree.c): overlayfs markers. */
enum { FLAG_WHITEOUT = 100, FLAG_OPAQUE = 101 };
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
#define PUSH(list, value) (((list).n < (list).cap || untar_grow_list((void **)&(list).items, &(list).cap, sizeof *(list).items)) \
    ? ((list).items[(list).n++] = (value), 1) : 0)


struct untar {
    /* In. */
    int srcfd;
    char *target;
    uint32_t flags, umask_bits, threads;
    char *progress; /* 8 bytes: a double, written with memcpy (any alignment) */
    napi_ref progress_ref;
    napi_deferred deferred;
    napi_async_work work;
    /* A tree restore (untar-tree.c): its plan, the tar's bytes other than contents, the objects. */
    uint8_t *plan, *skeleton;
    size_t plan_len, skeleton_len;
    char *objects;  /* the store's directory holding objects/ and packs/ (as seen here) */
    int objfd;
    struct tree_source { const char *rel; uint16_t len; uint8_t flags; /* 1 shared (kept open), 2 whole (a loose object) */ int fd; } *sources;
    uint32_t n_sources;
    size_t plan_entries; /* where the plan's entries start, after its files */
    uint64_t tar_size, skel_done;
    blake3_hasher tar;
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

/* What PAX headers and GNU long names said about the next entry. */
struct pending {
    const char *pax_path, *pax_link, *long_name, *long_link;
    size_t pax_path_len, pax_link_len, long_name_len, long_link_len;
    int has_uid, has_gid, has_size;
    double uid, gid, size;
};

/* A non-negative whole number that fits `max`. */
static inline int whole(double v, double max)
{
    return v >= 0 && v <= max && v == __builtin_floor(v);
}

int untar_grow_list(void **items, size_t *cap, size_t size);
/* Stops with "bail" (the TypeScript unpacker takes over); returns -1 for the caller to return. */
int untar_bail(struct untar *u, const char *fmt, const char *arg);
int untar_bail_errno(struct untar *u, const char *syscall, const char *rel);

/* untar-parse.c: the next entry's header; 0 at the end of the archive, 1 for an entry, -1 to stop. */
int untar_next_entry(struct untar *u, struct entry *e, struct pending *p);
int untar_skip_content(struct untar *u, uint64_t size);
/* untar-apply.c: one entry, as unpacker.ts's parallel mode applies it; then the end's work. */
int untar_apply(struct untar *u, struct entry *e);
/* untar-tree.c: a tree restore's main loop (the plan's entries applied, the tar hashed). */
void untar_tree_run(struct untar *u);
/* untar-tree.c: the plan's files (loose objects and packs) read from its head; -1 to stop. */
int untar_tree_sources(struct untar *u);
/* untar-tree.c: a file's content from its object, for the job about to be queued; -1 to stop. */
int untar_tree_content(struct untar *u, struct entry *e, struct job *j);
void untar_finish(struct untar *u);
void untar_digests(struct untar *u);
/* untar.c: the async work's steps, shared with untar-tree.c's entry point. */
void untar_execute(napi_env env, void *data);
void untar_complete(napi_env env, napi_status status, void *data);
void untar_release(napi_env env, struct untar *u);
/* untar-tree.c: restoreTree(...), the N-API function. */
napi_value untar_restore_tree(napi_env env, napi_callback_info info);
/* untar-result.c */
size_t untar_result_size(const struct untar *u);
void untar_write_result(const struct untar *u, uint8_t *at);

#endif
