#ifndef KARAPACE_JOIN_H
#define KARAPACE_JOIN_H
#include "sandbox.h"

/* --join PID: check the options that make sense for joining (no root
 * filesystem, no mounts) and take over the terminal like validate() does. */
void join_validate(struct plan *p);
/* Enter the running sandbox whose pid 1 is p->join_pid (its namespaces and
 * root), run the command there as p->uid/p->gid and return its exit status.
 * Forwarded signals must already be blocked. */
int join_sandbox(struct plan *p);
#endif
