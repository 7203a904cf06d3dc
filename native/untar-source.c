/* The tar file, read once, in order, in large pieces, each hashed (blake3) as it is read:
 * the archive's digest for the lock. The writer threads read file contents from the file
 * themselves (pread), so what the parser passes over is only hashed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "untar.h"

/* Read (and hashed) at most this much at a time, so what pread copies in can still be in the
 * CPU's cache when blake3 reads it (64 KiB to 4 MiB measured the same here, within noise). */
#define PIECE ((size_t)256 << 10)

int source_open(struct source *s, int fd, int hash)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (fstat(fd, &st) < 0)
        return -1;
    s->fd = fd;
    s->hash = hash;
    s->size = (uint64_t)st.st_size;
    s->cap = PIECE + SOURCE_MAX_TAKE;
    s->buf = malloc(s->cap);
    if (!s->buf)
        return -1;
    if (hash)
        blake3_hasher_init(&s->hasher);
    return 0;
}

void source_close(struct source *s)
{
    free(s->buf);
    s->buf = NULL;
}

uint64_t source_position(const struct source *s)
{
    return s->read_to - (s->end - s->start);
}

/* Reads more into buf[end..cap) (up to the size at the start); 0 when nothing more comes. */
static int fill(struct source *s)
{
    if (s->read_to >= s->size)
        return 0;
    size_t want = s->cap - s->end;
    if (want > PIECE)
        want = PIECE;
    if (want > s->size - s->read_to)
        want = (size_t)(s->size - s->read_to);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(s->fd, s->buf + s->end + got, want - got, (off_t)(s->read_to + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            s->failed = 1;
            break;
        }
        if (n == 0) {
            s->shrank = 1;
            break;
        }
        got += (size_t)n;
    }
    if (s->hash && got)
        blake3_hasher_update(&s->hasher, s->buf + s->end, got);
    s->end += got;
    s->read_to += got;
    return got > 0 && !s->failed;
}

const uint8_t *source_take(struct source *s, size_t n)
{
    if (n > SOURCE_MAX_TAKE)
        return NULL;
    while (s->end - s->start < n) {
        if (s->cap - s->start < n || s->end == s->cap) {
            /* Move what is left to the front: a piece ends mid-header or mid-PAX now and then. */
            memmove(s->buf, s->buf + s->start, s->end - s->start);
            s->end -= s->start;
            s->start = 0;
        }
        if (!fill(s))
            return NULL;
    }
    const uint8_t *out = s->buf + s->start;
    s->start += n;
    return out;
}

int source_skip(struct source *s, uint64_t n)
{
    while (n > s->end - s->start) {
        n -= s->end - s->start;
        s->start = s->end = 0;
        if (!fill(s))
            return 0;
    }
    s->start += (size_t)n;
    return 1;
}

int source_drain(struct source *s)
{
    if (!s->hash)
        return 1;
    while (s->read_to < s->size) {
        s->start = s->end = 0;
        if (!fill(s))
            return 0;
    }
    return 1;
}
