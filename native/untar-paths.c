/* What the archive has made so far, by relative path: in an empty target nothing else
 * exists, so these are the checks unpacker.ts's parallel mode makes with its sets instead
 * of lstat(2). Also the path rules themselves, as strict as the TypeScript fast path. */
#include <stdlib.h>
#include <string.h>
#include "untar.h"

int paths_init(struct path_set *p)
{
    p->mask = (1 << 14) - 1;
    p->used = 0;
    p->slots = calloc(p->mask + 1, sizeof *p->slots);
    return p->slots ? 0 : -1;
}

void paths_free(struct path_set *p)
{
    free(p->slots);
    p->slots = NULL;
}

/* FNV-1a: paths are short and this is far from the hot part. */
static uint32_t hash_of(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static struct path_slot *probe(struct path_slot *slots, size_t mask, const char *key, size_t len, uint32_t h)
{
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct path_slot *s = &slots[i];
        if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

struct path_slot *paths_find(struct path_set *p, const char *key, size_t len)
{
    return probe(p->slots, p->mask, key, len, hash_of(key, len));
}

/* Doubles the table when it is half full; slots found before are then stale. */
static int grow(struct path_set *p)
{
    size_t mask = p->mask * 2 + 1;
    struct path_slot *slots = calloc(mask + 1, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= p->mask; i++) {
        struct path_slot *s = &p->slots[i];
        if (s->key)
            *probe(slots, mask, s->key, s->len, s->hash) = *s;
    }
    free(p->slots);
    p->slots = slots;
    p->mask = mask;
    return 0;
}

/* `key` must outlive the set (arena memory). */
int paths_claim(struct path_set *p, struct path_slot *slot, const char *key, size_t len, uint8_t kind)
{
    if (slot->key) {
        slot->kind = kind;
        return 0;
    }
    slot->key = key;
    slot->len = (uint32_t)len;
    slot->hash = hash_of(key, len);
    slot->kind = kind;
    if (++p->used * 2 > p->mask)
        return grow(p);
    return 0;
}

int plain_path(const char *raw, size_t len, const char **out, size_t *out_len)
{
    size_t start = len >= 2 && raw[0] == '.' && raw[1] == '/' ? 2 : 0;
    size_t end = len > start && raw[len - 1] == '/' ? len - 1 : len;
    if (end <= start || len > 4096)
        return 0;
    size_t part = start;
    for (size_t i = start; i <= end; i++) {
        char c = i < end ? raw[i] : '/';
        if (c == '\0')
            return 0;
        if (c != '/')
            continue;
        size_t n = i - part;
        if (n == 0 || (raw[part] == '.' && (n == 1 || (n == 2 && raw[part + 1] == '.'))))
            return 0;
        part = i + 1;
    }
    *out = raw + start;
    *out_len = end - start;
    return 1;
}

/* Strict UTF-8 (what Node decodes without replacement characters): no overlongs, no
 * surrogates, nothing above U+10FFFF. */
int valid_utf8(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0)
            n = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 4, cp = c & 0x07;
        else
            return 0;
        if (i + n > len)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}
