/* User namespace id maps. See PROTOCOL.md "Ids" for the layouts. */
#include "ids.h"
#include "utils.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FULL_RANGE 4294967295UL /* every id except (uid_t)-1 */

/* First "name:start:count" or "uid:start:count" line of /etc/subuid|subgid that
 * names the caller. */
static bool find_subids(const char *file, const char *name, unsigned long id,
                        unsigned long *start, unsigned long *count)
{
    FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char line[512];
    char idstr[16];
    snprintf(idstr, sizeof idstr, "%lu", id);
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char *save, *who = strtok_r(line, ":\n", &save);
        char *s = strtok_r(NULL, ":\n", &save);
        char *c = strtok_r(NULL, ":\n", &save);
        if (!who || !s || !c)
            continue;
        if ((name && strcmp(who, name) == 0) || strcmp(who, idstr) == 0)
            found = parse_u32(s, start) && parse_u32(c, count) && *count > 0;
    }
    fclose(f);
    return found;
}

/* Keep-id layout (like `podman --userns=keep-id`): the caller's own id keeps
 * its number inside, every other inside id from 0 up takes the next
 * subordinate id. */
static int keep_id_layout(struct id_range *m, unsigned long host, unsigned long start,
                          unsigned long count)
{
    int n = 0;
    unsigned long below = host < count ? host : count;
    if (below > 0)
        m[n++] = (struct id_range){0, start, below};
    m[n++] = (struct id_range){host, host, 1};
    if (count > below)
        m[n++] = (struct id_range){host + 1, start + below, count - below};
    return n;
}

static bool is_mapped(const struct id_range *m, int n, unsigned long id)
{
    for (int i = 0; i < n; i++)
        if (id >= m[i].inside && id - m[i].inside < m[i].count)
            return true;
    return false;
}

void ids_plan(struct plan *p)
{
    switch (p->map_mode) {
    case MAP_SINGLE:
        p->uid_map[0] = (struct id_range){p->uid, p->host_uid, 1};
        p->gid_map[0] = (struct id_range){p->gid, p->host_gid, 1};
        p->n_uid_map = p->n_gid_map = 1;
        break;
    case MAP_ROOT:
        if (p->host_uid != 0)
            die("--map-mode root needs to be run as root (euid 0)");
        p->uid_map[0] = p->gid_map[0] = (struct id_range){0, 0, FULL_RANGE};
        p->n_uid_map = p->n_gid_map = 1;
        break;
    case MAP_FULL: {
        struct passwd *pw = getpwuid(p->host_uid);
        const char *name = pw ? pw->pw_name : NULL;
        unsigned long us, uc, gs, gc;
        if (!find_subids("/etc/subuid", name, p->host_uid, &us, &uc))
            die("--map-mode full: no range for uid %lu in /etc/subuid",
                (unsigned long)p->host_uid);
        if (!find_subids("/etc/subgid", name, p->host_uid, &gs, &gc))
            die("--map-mode full: no range for uid %lu in /etc/subgid",
                (unsigned long)p->host_uid);
        p->n_uid_map = keep_id_layout(p->uid_map, p->host_uid, us, uc);
        p->n_gid_map = keep_id_layout(p->gid_map, p->host_gid, gs, gc);
        break;
    }
    }
    if (!is_mapped(p->uid_map, p->n_uid_map, p->uid))
        die("--uid %lu is not mapped in this --map-mode", p->uid);
    if (!is_mapped(p->gid_map, p->n_gid_map, p->gid))
        die("--gid %lu is not mapped in this --map-mode", p->gid);
}

static char *format_map(const struct id_range *m, int n)
{
    char buf[256];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%lu %lu %lu\n",
                                m[i].inside, m[i].outside, m[i].count);
    return xstrdup(buf);
}

static const char *find_helper(const char *name)
{
    static char path[4096];
    const char *env = getenv("PATH");
    autofree char *dirs = xstrdup(env && *env ? env : "/usr/bin:/bin");
    char *save;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/%s", d, name);
        if (access(path, X_OK) == 0)
            return path;
    }
    /* sbin is often not in an unprivileged user's PATH. */
    snprintf(path, sizeof path, "/usr/sbin/%s", name);
    return access(path, X_OK) == 0 ? path : NULL;
}

/* newuidmap/newgidmap are setuid helpers that check /etc/subuid themselves;
 * they must run in the parent user namespace, i.e. here. */
static pid_t start_newidmap(const char *helper, pid_t pid, const struct id_range *m, int n)
{
    const char *bin = find_helper(helper);
    if (!bin)
        die("--map-mode full: %s not found (install the uidmap package)", helper);
    char *argv[2 + 3 * 3 + 1];
    int a = 0;
    argv[a++] = (char *)helper;
    argv[a++] = xasprintf("%d", (int)pid);
    for (int i = 0; i < n; i++) {
        argv[a++] = xasprintf("%lu", m[i].inside);
        argv[a++] = xasprintf("%lu", m[i].outside);
        argv[a++] = xasprintf("%lu", m[i].count);
    }
    argv[a] = NULL;
    pid_t h = fork();
    if (h < 0)
        die_with_error("fork %s", helper);
    if (h == 0) {
        execv(bin, argv);
        die_with_error("exec %s", bin);
    }
    for (int i = 1; i < a; i++)
        free(argv[i]);
    return h;
}

static int wait_newidmap(pid_t h, const char *helper)
{
    int status;
    while (waitpid(h, &status, 0) < 0)
        if (errno != EINTR)
            die_with_error("waitpid %s", helper);
    return status;
}

static void check_newidmap(int status, const char *helper, pid_t pid)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s %d failed (status %d); check /etc/subuid and /etc/subgid", helper,
            (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

void ids_write_maps(const struct plan *p, pid_t pid)
{
    if (p->map_mode == MAP_FULL) {
        /* The two helpers write different files of the same process: run them side
         * by side, so their start-up (setuid exec, dynamic linking) overlaps. */
        pid_t hu = start_newidmap("newuidmap", pid, p->uid_map, p->n_uid_map);
        pid_t hg = start_newidmap("newgidmap", pid, p->gid_map, p->n_gid_map);
        int su = wait_newidmap(hu, "newuidmap");
        int sg = wait_newidmap(hg, "newgidmap");
        check_newidmap(su, "newuidmap", pid);
        check_newidmap(sg, "newgidmap", pid);
        return;
    }
    char path[64];
    /* An unprivileged writer may only map its own gid after setgroups is
     * denied (user_namespaces(7), CVE-2014-8989); deny it for single-id
     * mapping even as root so the sandbox behaves the same for everyone. */
    if (p->map_mode == MAP_SINGLE) {
        snprintf(path, sizeof path, "/proc/%d/setgroups", (int)pid);
        if (write_file_at(path, "deny\n") < 0 && errno != ENOENT)
            die_with_error("write %s", path);
    }
    autofree char *um = format_map(p->uid_map, p->n_uid_map);
    autofree char *gm = format_map(p->gid_map, p->n_gid_map);
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    if (write_file_at(path, um) < 0)
        die_with_error("write %s", path);
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    if (write_file_at(path, gm) < 0)
        die_with_error("write %s", path);
}

void ids_drop(const struct plan *p)
{
    /* With setgroups denied the supplementary list is fixed; otherwise keep
     * only the primary group, as a login would without /etc/group entries. */
    if (p->map_mode != MAP_SINGLE) {
        gid_t g = (gid_t)p->gid;
        if (setgroups(1, &g) < 0)
            die_with_error("setgroups");
    }
    if (setresgid((gid_t)p->gid, (gid_t)p->gid, (gid_t)p->gid) < 0)
        die_with_error("setresgid %lu", p->gid);
    if (setresuid((uid_t)p->uid, (uid_t)p->uid, (uid_t)p->uid) < 0)
        die_with_error("setresuid %lu", p->uid);
}
