/* The native unpacker's parser: tar headers (as kernel/src/layers/tar-header.ts decodes them),
 * PAX records and GNU long names, one entry at a time. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "untar-state.h"

/* A source that ended: shorter than when it was opened, or a truncated archive. */
static int ended(struct untar *u)
{
    if (u->src.shrank) {
        u->status = UNTAR_SHRANK;
        return -1;
    }
    return untar_bail(u, "the archive ends early%s", NULL);
}

/* tar-header.ts's num(): octal text or base-256; NAN when malformed. */
static double num(const uint8_t *b, size_t len)
{
    uint8_t first = b[0];
    if (first & 0x80) {
        if (first != 0x80 && first != 0xff)
            return NAN;
        double sum = 0, scale = 1;
        for (size_t i = len - 1; i > 0; i--, scale *= 256)
            sum += (first == 0x80 ? b[i] : 0xff - b[i]) * scale;
        return first == 0x80 ? sum : -sum;
    }
    size_t i = 0;
    while (i < len && b[i] == ' ')
        i++;
    while (i < len && b[i] == 0)
        i++;
    double value = 0;
    for (; i < len; i++) {
        uint8_t c = b[i];
        if (c == ' ' || c == 0)
            break;
        if (c < '0' || c > '7')
            return NAN;
        value = value * 8 + (c - '0');
    }
    return value;
}

static size_t field_len(const uint8_t *b, size_t max)
{
    const uint8_t *nul = memchr(b, 0, max);
    return nul ? (size_t)(nul - b) : max;
}

static uint64_t padding(uint64_t size)
{
    return (512 - size % 512) % 512;
}

/* Decimal digits only (what Number() gives the same value for, and nothing odd). */
static int pax_number(const uint8_t *v, size_t len, double *out)
{
    if (len == 0 || len > 15)
        return 0;
    double value = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        value = value * 10 + (v[i] - '0');
    }
    *out = value;
    return 1;
}

static int text_value(struct untar *u, const uint8_t *v, size_t len, const char **out, size_t *out_len)
{
    if (memchr(v, 0, len) || !valid_utf8(v, len))
        return untar_bail(u, "a PAX path that is not plain UTF-8%s", NULL);
    *out = arena_strndup(&u->arena, (const char *)v, len);
    *out_len = len;
    return *out ? 0 : untar_bail(u, "out of memory%s", NULL);
}

/* tar-format.ts's decodePax, keeping the keys the unpacker uses. */
static int decode_pax(struct untar *u, const uint8_t *buf, size_t len, struct pending *p)
{
    p->pax_path = p->pax_link = NULL;
    p->has_uid = p->has_gid = p->has_size = 0;
    for (size_t off = 0; off < len;) {
        if (buf[off] == 0)
            break;
        const uint8_t *space = memchr(buf + off, ' ', len - off);
        if (!space || (size_t)(space - (buf + off)) > 10)
            return untar_bail(u, "malformed PAX record%s", NULL);
        size_t digits = (size_t)(space - (buf + off));
        double rec_len;
        if (!pax_number(buf + off, digits, &rec_len) || rec_len <= (double)digits + 1 || off + (size_t)rec_len > len)
            return untar_bail(u, "malformed PAX record%s", NULL);
        size_t end = off + (size_t)rec_len;
        if (buf[end - 1] != '\n')
            return untar_bail(u, "malformed PAX record%s", NULL);
        const uint8_t *rec = space + 1;
        size_t rec_n = (size_t)(buf + end - 1 - rec);
        const uint8_t *eq = memchr(rec, '=', rec_n);
        if (!eq)
            return untar_bail(u, "malformed PAX record%s", NULL);
        size_t key_n = (size_t)(eq - rec);
        const uint8_t *v = eq + 1;
        size_t v_n = rec_n - key_n - 1;
#define KEY(s) (key_n == sizeof(s) - 1 && memcmp(rec, s, key_n) == 0)
        if (KEY("path")) {
            if (text_value(u, v, v_n, &p->pax_path, &p->pax_path_len) < 0)
                return -1;
        } else if (KEY("linkpath")) {
            if (text_value(u, v, v_n, &p->pax_link, &p->pax_link_len) < 0)
                return -1;
        } else if (KEY("uid") || KEY("gid") || KEY("size")) {
            double n;
            if (!pax_number(v, v_n, &n))
                return untar_bail(u, "a PAX number that is not plain decimal%s", NULL);
            if (KEY("uid"))
                p->has_uid = 1, p->uid = n;
            else if (KEY("gid"))
                p->has_gid = 1, p->gid = n;
            else
                p->has_size = 1, p->size = n;
        } else if ((key_n >= 13 && memcmp(rec, "SCHILY.xattr.", 13) == 0) ||
                   (key_n >= 17 && memcmp(rec, "LIBARCHIVE.xattr.", 17) == 0)) {
            return untar_bail(u, "an entry with xattrs%s", NULL);
        } else if (key_n >= 11 && memcmp(rec, "GNU.sparse.", 11) == 0) {
            return untar_bail(u, "a GNU sparse file%s", NULL);
        }
#undef KEY
        off = end;
    }
    return 0;
}

int untar_skip_content(struct untar *u, uint64_t size)
{
    return source_skip(&u->src, size + padding(size)) ? 0 : ended(u);
}

/* A meta entry: PAX header or GNU long name, which describe the next entry. */
static int meta(struct untar *u, int flag, uint64_t size, struct pending *p)
{
    int long_name = flag == 28 || flag == 30, long_link = flag == 27;
    if (size > (long_name || long_link ? MAX_LONG_NAME : MAX_PAX))
        return untar_bail(u, "an oversized meta entry%s", NULL);
    const uint8_t *data = size ? source_take(&u->src, (size_t)size) : (const uint8_t *)"";
    if (!data)
        return ended(u);
    if (flag == 'x' - '0') {
        if (decode_pax(u, data, (size_t)size, p) < 0)
            return -1;
    } else {
        size_t n = field_len(data, (size_t)size);
        if (!valid_utf8(data, n))
            return untar_bail(u, "a long name that is not UTF-8%s", NULL);
        char *s = arena_strndup(&u->arena, (const char *)data, n);
        if (!s)
            return untar_bail(u, "out of memory%s", NULL);
        if (long_link)
            p->long_link = s, p->long_link_len = n;
        else
            p->long_name = s, p->long_name_len = n;
    }
    return source_skip(&u->src, padding(size)) ? 0 : ended(u);
}

/* The next entry's header; 0 at the end of the archive, 1 for an entry, -1 to stop. */
int untar_next_entry(struct untar *u, struct entry *e, struct pending *p)
{
    for (;;) {
        uint64_t before = source_position(&u->src);
        const uint8_t *b = source_take(&u->src, 512);
        if (!b) {
            if (u->src.shrank)
                return ended(u);
            /* The file ends here, or mid-header (truncated: the TypeScript unpacker says so). */
            return u->src.read_to == before ? 0 : ended(u);
        }
        unsigned sum = 8 * 32;
        for (int i = 0; i < 148; i++)
            sum += b[i];
        for (int i = 156; i < 512; i++)
            sum += b[i];
        if (sum == 8 * 32)
            return 0;
        if ((double)sum != num(b + 148, 8))
            return untar_bail(u, "a bad header checksum%s", NULL);
        size_t name_len = field_len(b, 100);
        char name[257];
        memcpy(name, b, name_len);
        if (memcmp(b + 257, "ustar\0", 6) == 0) {
            if (b[345]) {
                size_t prefix_len = field_len(b + 345, 155);
                memmove(name + prefix_len + 1, name, name_len);
                memcpy(name, b + 345, prefix_len);
                name[prefix_len] = '/';
                name_len += prefix_len + 1;
            }
        } else if (!(memcmp(b + 257, "ustar ", 6) == 0 && b[263] == ' ' && b[264] == 0)) {
            return untar_bail(u, "an unknown header format%s", NULL);
        }
        int flag = b[156] == 0 ? 0 : b[156] - '0';
        double size = num(b + 124, 12);
        if (!whole(size, SAFE_INTEGER))
            return untar_bail(u, "an invalid size%s", NULL);
        if (flag == 'x' - '0' || flag == 27 || flag == 28 || flag == 30) {
            if (meta(u, flag, (uint64_t)size, p) < 0)
                return -1;
            continue;
        }
        if (flag < 0 || flag > 7)
            return untar_bail(u, "an entry of an unusual type%s", NULL);

        e->flag = (uint8_t)flag;
        e->mode = num(b + 100, 8);
        e->uid = p->has_uid ? p->uid : num(b + 108, 8);
        e->gid = p->has_gid ? p->gid : num(b + 116, 8);
        e->size = p->has_size ? p->size : size;
        e->devmajor = num(b + 329, 8);
        e->devminor = num(b + 337, 8);
        e->job = NULL;
        if (!whole(e->mode, 4294967295.0) || !whole(e->uid, 4294967294.0) || !whole(e->gid, 4294967294.0) ||
            !whole(e->size, SAFE_INTEGER) || isnan(e->devmajor) || isnan(e->devminor))
            return untar_bail(u, "a numeric field out of range%s", NULL);

        const char *path = p->pax_path ? p->pax_path : p->long_name ? p->long_name : name;
        size_t path_len = p->pax_path ? p->pax_path_len : p->long_name ? p->long_name_len : name_len;
        /* A file entry named with a trailing "/" is a directory (GNU tar, old tars), by its
         * full name; one with content is the TypeScript unpacker's to refuse. */
        if ((flag == 0 || flag == 7) && path_len && path[path_len - 1] == '/') {
            if (e->size != 0)
                return untar_bail(u, "a file entry named as a directory%s", NULL);
            e->flag = (uint8_t)(flag = 5);
        }
        if (path == name && !valid_utf8((const uint8_t *)name, name_len))
            return untar_bail(u, "a name that is not UTF-8%s", NULL);
        const char *rel;
        size_t rel_len;
        if ((path_len == 1 && path[0] == '.') || (path_len == 2 && path[0] == '.' && path[1] == '/'))
            rel = "", rel_len = 0;
        else if (!plain_path(path, path_len, &rel, &rel_len))
            return untar_bail(u, "a path that is not plainly relative%s", NULL);
        e->path = arena_strndup(&u->arena, rel, rel_len);
        e->path_len = (uint16_t)rel_len;

        if (p->pax_link)
            e->link = p->pax_link, e->link_len = (uint16_t)p->pax_link_len;
        else if (p->long_link)
            e->link = p->long_link, e->link_len = (uint16_t)p->long_link_len;
        else {
            size_t n = b[157] ? field_len(b + 157, 100) : 0;
            if (!valid_utf8(b + 157, n))
                return untar_bail(u, "a link name that is not UTF-8%s", NULL);
            e->link = arena_strndup(&u->arena, (const char *)b + 157, n);
            e->link_len = (uint16_t)n;
        }
        if (!e->path || !e->link)
            return untar_bail(u, "out of memory%s", NULL);
        if (e->link_len > 4096)
            return untar_bail(u, "an overlong link name%s", NULL);
        memset(p, 0, sizeof *p);
        return 1;
    }
}
