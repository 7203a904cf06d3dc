/* Bump allocation in blocks that never move: paths and jobs are written by the parsing
 * thread and read by the writer threads while more are being allocated. */
#include <stdlib.h>
#include <string.h>
#include "untar.h"

#define ARENA_BLOCK ((size_t)1 << 20)

struct arena_block {
    struct arena_block *prev;
    char data[];
};

void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->next || (size_t)(a->end - a->next) < n) {
        size_t size = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct arena_block *b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->prev = a->blocks;
        a->blocks = b;
        a->next = b->data;
        a->end = b->data + size;
    }
    void *out = a->next;
    a->next += n;
    return out;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
    return out;
}

void arena_free(struct arena *a)
{
    while (a->blocks) {
        struct arena_block *prev = a->blocks->prev;
        free(a->blocks);
        a->blocks = prev;
    }
    a->next = a->end = NULL;
}
