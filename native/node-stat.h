/* A stat as native-unpack.ts's readStat reads it: mode, uid, gid, size, ino, mtimeMs,
 * ctimeMs, rdev as eight little-endian doubles, computed as Node computes its Stats (the
 * stats karapace_untar.node records). */
#ifndef KARAPACE_NODE_STAT_H
#define KARAPACE_NODE_STAT_H

#include <string.h>
#include <sys/stat.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the stat record is little-endian doubles, written with memcpy"
#endif

#define NODE_STAT_BYTES 64

static inline void put_node_stat(void *at, const struct stat *st)
{
    /* Node: msFromTimeSpec(sec, nsec) = sec * 1e3 + nsec / 1e6, in doubles. */
    double fields[8] = {
        (double)st->st_mode, (double)st->st_uid, (double)st->st_gid, (double)st->st_size, (double)st->st_ino,
        (double)st->st_mtim.tv_sec * 1e3 + (double)st->st_mtim.tv_nsec / 1e6,
        (double)st->st_ctim.tv_sec * 1e3 + (double)st->st_ctim.tv_nsec / 1e6,
        (double)st->st_rdev,
    };
    memcpy(at, fields, sizeof fields);
}

#endif
