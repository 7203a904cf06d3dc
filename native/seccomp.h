#ifndef KARAPACE_SECCOMP_H
#define KARAPACE_SECCOMP_H
/* --fake-chown: make the chown and set*id/setgroups families succeed without
 * doing anything. */
void seccomp_install_fake_chown(void);
#endif
