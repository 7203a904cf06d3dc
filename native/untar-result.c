/* The native unpacker's result: one little-endian Buffer, laid out as untar.c's header
 * comment says, decoded by kernel/src/layers/native-unpack.ts. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "node-stat.h"
#include "untar-state.h"

/* ---- the result ---- */

#define PUT(at, v) (memcpy((at), &(v), sizeof(v)), (at) += sizeof(v))

size_t untar_result_size(const struct untar *u)
{
    size_t n = HEADER + strlen(u->why);
    if (u->status != UNTAR_OK)
        return n;
    /* A tree restore's caller needs neither records nor stats. */
    for (size_t i = 0; i < u->entries.n && !u->has_digests && !(u->flags & F_TREE); i++) {
        const struct entry *e = &u->entries.items[i];
        n += 56 + e->path_len + e->link_len + (e->job && e->job->kind == J_FILE ? 64 : 0);
        if (e->job)
            n += 2 + e->path_len + 64;
    }
    if (u->has_digests) {
        for (size_t i = 0; i < u->digests.count; i++)
            n += 2 + u->digests.order[i].len + 64;
    } else if (!(u->flags & F_TREE)) {
        for (size_t i = 0; i < u->restat.n; i++)
            n += 2 + u->restat.items[i].len + 64;
    }
    for (size_t i = 0; i < u->warnings.n; i++)
        n += 2 + strlen(u->warnings.items[i]);
    return n;
}

void untar_write_result(const struct untar *u, uint8_t *at)
{
    uint32_t status = (uint32_t)u->status, why_len = (uint32_t)strlen(u->why);
    int ok = u->status == UNTAR_OK;
    /* With the digests nobody needs the entries one by one: none are sent. */
    int tree = (u->flags & F_TREE) != 0;
    uint32_t records = ok && !u->has_digests && !tree ? (uint32_t)u->entries.n : 0, disk = 0, warnings = ok ? (uint32_t)u->warnings.n : 0;
    if (ok && u->has_digests) {
        disk = (uint32_t)u->digests.count;
    } else if (ok && !tree) {
        for (size_t i = 0; i < u->entries.n; i++)
            disk += u->entries.items[i].job != NULL;
        disk += (uint32_t)u->restat.n;
    }
    uint32_t has_digests = ok && u->has_digests;
    double archive_size = (double)((u->flags & F_TREE) ? u->tar_size : u->src.read_to);
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
    for (size_t i = 0; i < u->entries.n && !has_digests && !tree; i++) {
        const struct entry *e = &u->entries.items[i];
        if (!e->job)
            continue;
        PUT(at, e->path_len);
        memcpy(at, e->path, e->path_len), at += e->path_len;
        put_node_stat(at, &e->job->st), at += 64;
    }
    for (size_t i = 0; i < u->restat.n && !has_digests && !tree; i++) {
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

