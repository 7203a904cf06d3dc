#ifndef KARAPACE_MOUNTS_H
#define KARAPACE_MOUNTS_H
#include "sandbox.h"

/* Open every host path the plan names while the host tree is still visible;
 * later steps refer to them as /proc/self/fd/N. */
void mounts_open_sources(struct plan *p);
/* Make / private, pivot into a staging tmpfs (host tree at /oldroot) and
 * mount the sandbox's root filesystem at /newroot. */
void mounts_setup_root(const struct plan *p);
/* /proc, /dev, /sys and the plan's --bind/--tmpfs/... operations. */
void mounts_setup_tree(const struct plan *p);
/* pivot_root into /newroot and detach the staging tmpfs and the host tree. */
void mounts_enter_root(void);
/* Set (or clear) read-only on the sandbox's root mount only, not its submounts. */
void mounts_root_readonly(bool on);
#endif
