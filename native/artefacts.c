#include "artefacts.h"
#include "utils.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char **paths;
static int n_paths;

void artefact_created(const char *rel)
{
    paths = xrealloc(paths, sizeof *paths * (size_t)(n_paths + 1));
    paths[n_paths++] = xasprintf("/%s", rel);
}

void artefacts_remove(void)
{
    /* Newest first: a mount point created inside another one goes first. */
    for (int i = n_paths - 1; i >= 0; i--) {
        const char *path = paths[i];
        /* Every mount stacked on it (a bind, then maybe a remount). */
        while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            ;
        struct stat st;
        if (lstat(path, &st) < 0)
            continue;
        /* Anything the commands put there since is theirs: keep it. */
        if (S_ISDIR(st.st_mode))
            rmdir(path); /* fails (ENOTEMPTY) when not empty */
        else if (S_ISREG(st.st_mode) && st.st_size == 0)
            unlink(path);
    }
}
