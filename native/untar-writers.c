/* The threads that create the archive's files and symlinks, from one queue (whichever is
 * free takes the next): open exclusively without following symlinks, copy the content from
 * the tar file (pread) while hashing it, set owner and mode, fstat, close. Their parent
 * directories exist before a job is queued (the parser makes them). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "untar.h"

#define COPY_BUF ((size_t)1 << 20)
/* A tree restore's contents read ahead of the writers, at most. */
#define READ_AHEAD ((size_t)64 << 20)

void hex32(const uint8_t *digest, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 15];
    }
}

void writers_fail(struct writers *w, int err, const char *syscall, const char *rel, int shrank)
{
    pthread_mutex_lock(&w->mu);
    if (!atomic_load(&w->failed)) {
        w->err = err;
        w->shrank = shrank;
        snprintf(w->why, sizeof w->why, "%s %s: %s", syscall, rel, shrank ? "the archive is shorter than it was" : strerror(err));
        atomic_store(&w->failed, 1);
    }
    pthread_mutex_unlock(&w->mu);
    pthread_cond_broadcast(&w->room);
}

static int copy_hashed(struct writers *w, struct job *j, int fd, uint8_t *buf)
{
    blake3_hasher h;
    blake3_hasher_init(&h);
    for (uint64_t done = 0; done < j->size;) {
        size_t want = j->size - done < COPY_BUF ? (size_t)(j->size - done) : COPY_BUF;
        ssize_t n = pread(w->srcfd, buf, want, (off_t)(j->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            writers_fail(w, n < 0 ? errno : 0, "read", j->rel, n == 0);
            return -1;
        }
        blake3_hasher_update(&h, buf, (size_t)n);
        for (ssize_t put = 0; put < n;) {
            ssize_t k = write(fd, buf + put, (size_t)(n - put));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                writers_fail(w, errno, "write", j->rel, 0);
                return -1;
            }
            put += k;
        }
        done += (uint64_t)n;
    }
    uint8_t digest[32];
    blake3_hasher_finalize(&h, digest, 32);
    hex32(digest, j->hex);
    return 0;
}

int set_xattrs(int fd, const uint8_t *x, uint16_t n)
{
    char name[256];
    for (uint16_t i = 0; i < n; i++) {
        uint16_t name_len;
        uint32_t value_len;
        memcpy(&name_len, x, 2);
        memcpy(&value_len, x + 2, 4);
        if (name_len >= sizeof name) {
            errno = ERANGE;
            return -1;
        }
        memcpy(name, x + 6, name_len);
        name[name_len] = 0;
        if (fsetxattr(fd, name, x + 6 + name_len, value_len, 0) < 0)
            return -1;
        x += 6 + name_len + value_len;
    }
    return 0;
}

/* A tree restore's content: written from what the main thread read (and hashed), or, for a
 * large file, copied here from the store (its object's bytes at src_at), each byte hashed
 * into the tar's hash as it is written. */
static int copy_object(struct writers *w, struct job *j, int fd, uint8_t *buf)
{
    if (j->data) {
        for (uint64_t put = 0; put < j->size;) {
            ssize_t k = write(fd, j->data + put, (size_t)(j->size - put));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                writers_fail(w, errno, "write", j->rel, 0);
                return -1;
            }
            put += (uint64_t)k;
        }
        return 0;
    }
    for (uint64_t done = 0; done < j->size;) {
        size_t want = j->size - done < COPY_BUF ? (size_t)(j->size - done) : COPY_BUF;
        ssize_t n = pread(j->src_fd, buf, want, (off_t)(j->src_at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            writers_fail(w, n < 0 ? errno : EBADMSG, "read object of", j->rel, 0);
            return -1;
        }
        blake3_hasher_update(j->tar, buf, (size_t)n);
        for (ssize_t put = 0; put < n;) {
            ssize_t k = write(fd, buf + put, (size_t)(n - put));
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                writers_fail(w, errno, "write", j->rel, 0);
                return -1;
            }
            put += k;
        }
        done += (uint64_t)n;
    }
    return 0;
}

static void write_file(struct writers *w, struct job *j, uint8_t *buf)
{
    int fd = openat(w->rootfd, j->rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, j->mode);
    if (fd < 0) {
        writers_fail(w, errno, "open", j->rel, 0);
        return;
    }
    if ((j->stored ? copy_object(w, j, fd, buf) : copy_hashed(w, j, fd, buf)) == 0) {
        if (j->chown && fchown(fd, j->uid, j->gid) < 0)
            writers_fail(w, errno, "fchown", j->rel, 0);
        else if (j->chmod_to >= 0 && fchmod(fd, (mode_t)j->chmod_to) < 0)
            writers_fail(w, errno, "fchmod", j->rel, 0);
        /* Last, as unpacker.ts sets them: a chown or a write clears security.capability. */
        else if (j->n_xattrs && set_xattrs(fd, j->xattrs, j->n_xattrs) < 0)
            writers_fail(w, errno, "fsetxattr", j->rel, 0);
        else if (!w->no_stats && fstat(fd, &j->st) < 0)
            writers_fail(w, errno, "fstat", j->rel, 0);
        else
            j->done = 1;
    }
    close(fd);
    if (j->data) {
        free(j->data);
        j->data = NULL;
        pthread_mutex_lock(&w->mu);
        w->buffered -= (size_t)j->size;
        pthread_mutex_unlock(&w->mu);
        pthread_cond_signal(&w->room);
    }
}

int writers_run_here(struct writers *w, struct job *j)
{
    uint8_t *buf = malloc(COPY_BUF);
    if (!buf) {
        writers_fail(w, ENOMEM, "malloc", j->rel, 0);
        return -1;
    }
    write_file(w, j, buf);
    free(buf);
    return j->done ? 0 : -1;
}

void writers_reserve(struct writers *w, size_t n)
{
    pthread_mutex_lock(&w->mu);
    while (w->buffered > 0 && w->buffered + n > READ_AHEAD && !atomic_load(&w->failed))
        pthread_cond_wait(&w->room, &w->mu);
    w->buffered += n;
    pthread_mutex_unlock(&w->mu);
}

static void write_symlink(struct writers *w, struct job *j)
{
    if (symlinkat(j->link, w->rootfd, j->rel) < 0)
        writers_fail(w, errno, "symlink", j->rel, 0);
    else if (j->chown && fchownat(w->rootfd, j->rel, j->uid, j->gid, AT_SYMLINK_NOFOLLOW) < 0)
        writers_fail(w, errno, "lchown", j->rel, 0);
    else if (!w->no_stats && fstatat(w->rootfd, j->rel, &j->st, AT_SYMLINK_NOFOLLOW) < 0)
        writers_fail(w, errno, "lstat", j->rel, 0);
    else
        j->done = 1;
}

static void *writer_main(void *arg)
{
    struct writers *w = arg;
    uint8_t *buf = malloc(COPY_BUF);
    if (!buf)
        writers_fail(w, ENOMEM, "malloc", "", 0);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->closed) {
            w->idle++;
            pthread_cond_wait(&w->cv, &w->mu);
            w->idle--;
        }
        struct job *j = w->head;
        if (j) {
            w->head = j->next;
            if (!w->head)
                w->tail = NULL;
        }
        pthread_mutex_unlock(&w->mu);
        if (!j)
            break;
        /* After a failure the rest is only taken off the queue: the caller bails anyway. */
        if (!buf || atomic_load(&w->failed)) {
            free(j->data);
            j->data = NULL;
            continue;
        }
        if (j->kind == J_FILE)
            write_file(w, j, buf);
        else
            write_symlink(w, j);
    }
    free(buf);
    return NULL;
}

int writers_start(struct writers *w, int count, int rootfd, int srcfd)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->room, NULL);
    w->rootfd = rootfd;
    w->srcfd = srcfd;
    if (count < 1)
        count = 1;
    if (count > (int)(sizeof w->threads / sizeof w->threads[0]))
        count = (int)(sizeof w->threads / sizeof w->threads[0]);
    for (int i = 0; i < count; i++) {
        if (pthread_create(&w->threads[i], NULL, writer_main, w) != 0)
            break;
        w->count++;
    }
    return w->count ? 0 : -1;
}

void writers_push(struct writers *w, struct job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    int wake = w->idle > 0;
    pthread_mutex_unlock(&w->mu);
    if (wake)
        pthread_cond_signal(&w->cv);
}

void writers_finish(struct writers *w)
{
    pthread_mutex_lock(&w->mu);
    w->closed = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->count; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->room);
}
