#ifndef KARAPACE_SECCOMP_H
#define KARAPACE_SECCOMP_H
/* Make chown(2) and friends succeed without doing anything (--fake-chown). */
void seccomp_install_fake_chown(void);
#endif
