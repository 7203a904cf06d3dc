/* Small helpers shared by the launcher: fatal errors, allocation that never
 * returns NULL, and cleanup attributes (bubblewrap's utils.h is the model). */
#ifndef KARAPACE_UTILS_H
#define KARAPACE_UTILS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>

/* Exit codes, see PROTOCOL.md "Exit status". */
#define EXIT_SETUP 125
#define EXIT_NOEXEC 126
#define EXIT_NOTFOUND 127

#ifndef PROG /* karapace-init is built with its own name */
#define PROG "karapace-sandbox"
#endif

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void die_with_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void warn(const char *fmt, ...);

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
__attribute__((format(printf, 1, 2))) char *xasprintf(const char *fmt, ...);

/* Write all of buf to fd, retrying on EINTR and short writes; -1 on error. */
int write_all(int fd, const void *buf, size_t len);
/* Write a string to a file that already exists (procfs, sysfs). -1 + errno on failure. */
int write_file_at(const char *path, const char *content);
/* Read everything from fd into a NUL-terminated buffer; *len gets the size. */
char *read_all(int fd, size_t *len);
/* Parse a non-negative decimal integer that fits in an unsigned 32-bit id or fd. */
bool parse_u32(const char *s, unsigned long *out);

static inline void cleanup_freep(void *p)
{
    void **pp = (void **)p;
    free(*pp);
}
void cleanup_closep(int *fd);

/* A new process group for the caller, made the terminal's (fd 0) foreground group when
 * tty: ^C/^Z and job control reach the command, not its supervisor. */
void own_process_group(bool tty);
/* Makes the caller's own process group the terminal's foreground group again. */
void reclaim_terminal(void);

#define autofree __attribute__((cleanup(cleanup_freep)))
#define autoclose __attribute__((cleanup(cleanup_closep)))

/* Hand ownership out of an autofree/autoclose variable. */
#define steal_pointer(pp) ({ __typeof__(*(pp)) _p = *(pp); *(pp) = NULL; _p; })
#define steal_fd(fdp) ({ int _fd = *(fdp); *(fdp) = -1; _fd; })

#endif
