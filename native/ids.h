#ifndef KARAPACE_IDS_H
#define KARAPACE_IDS_H
#include "sandbox.h"

/* Before clone: compute the uid/gid maps for plan->map_mode and check that the
 * requested inside uid/gid are mapped. */
void ids_plan(struct plan *p);
/* In the parent, after clone: install the maps for the child `pid`. */
void ids_write_maps(const struct plan *p, pid_t pid);
/* In the command's process: become plan->uid/plan->gid inside. */
void ids_drop(const struct plan *p);
#endif
