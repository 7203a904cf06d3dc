#ifndef KARAPACE_PID1_H
#define KARAPACE_PID1_H
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Signals passed on to the command (PROTOCOL.md "Signals"). */
void forwarded_signals(sigset_t *set);
/* Wait for `child`, forwarding the signals in forwarded_signals() to it and
 * reaping every other child that exits meanwhile (pid 1 inherits orphans).
 * The signals must already be blocked. Returns the exit status to use:
 * the child's code, or 128+signal. */
int supervise(pid_t child);
/* Reaps every exited child without blocking; true (with *code set) once `child` is
 * among them, or when no child is left at all (EXIT_SETUP). */
bool reap_exited(pid_t child, int *code);
/* Convert a wait(2) status to an exit code. */
int status_to_code(int status);
#endif
