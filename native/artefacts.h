#ifndef KARAPACE_ARTEFACTS_H
#define KARAPACE_ARTEFACTS_H

/* Mount points the sandbox had to create (the image lacked them) would stay
 * in the overlay's upper dir as empty entries, and so in diffs and snapshots.
 * pid 1 records what it creates and removes it again when the sandbox ends. */

/* `rel`: path below the new root, without the leading '/'. */
void artefact_created(const char *rel);
/* After the last command: unmount each recorded path and remove it if it is
 * still an empty directory or an empty file; newest first. */
void artefacts_remove(void);
#endif
