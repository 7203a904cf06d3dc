#ifndef KARAPACE_INIT_H
#define KARAPACE_INIT_H
#include <stdbool.h>

/* `--init [--] COMMAND [ARG...]` (args = what follows --init): run COMMAND as
 * the child of a signal-forwarding, zombie-reaping init; returns its exit code. */
int init_main(char **args);
#endif
