/* --fake-chown: with single-id mapping every chown to another id fails with
 * EINVAL, which makes dpkg/rpm abort. Like Charliecloud's seccomp mode we
 * answer the chown family and the set*id family with "success" and do
 * nothing; files stay owned by the one mapped id, processes keep it. */
#include "seccomp.h"
#include "utils.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define NATIVE_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH AUDIT_ARCH_RISCV64
#else
#error "unsupported architecture for --fake-chown"
#endif

#define FAKE(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
                 BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0)

void seccomp_install_fake_chown(void)
{
    struct sock_filter filter[] = {
        /* Other ABIs (e.g. i386 on x86_64) keep the real calls. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef SYS_chown
        FAKE(SYS_chown),
#endif
#ifdef SYS_lchown
        FAKE(SYS_lchown),
#endif
#ifdef SYS_chown32
        FAKE(SYS_chown32), FAKE(SYS_lchown32), FAKE(SYS_fchown32),
#endif
        FAKE(SYS_fchown),
        FAKE(SYS_fchownat),
        /* Under single-id mapping every id change but a no-op fails
         * (setgroups is denied, other ids are unmapped); maintainer scripts
         * (adduser, exim4-config, ...) then abort. Succeed without effect. */
        FAKE(SYS_setgroups), FAKE(SYS_setuid), FAKE(SYS_setgid), FAKE(SYS_setreuid),
        FAKE(SYS_setregid), FAKE(SYS_setresuid), FAKE(SYS_setresgid), FAKE(SYS_setfsuid),
        FAKE(SYS_setfsgid),
#ifdef SYS_setgroups32
        FAKE(SYS_setgroups32), FAKE(SYS_setuid32), FAKE(SYS_setgid32), FAKE(SYS_setreuid32),
        FAKE(SYS_setregid32), FAKE(SYS_setresuid32), FAKE(SYS_setresgid32),
        FAKE(SYS_setfsuid32), FAKE(SYS_setfsgid32),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof *filter, .filter = filter};
    /* no_new_privs is already set (first step in main). */
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        die_with_error("install seccomp filter");
}
