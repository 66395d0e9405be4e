// SPDX-License-Identifier: Apache-2.0
// A process that forbids membarrier(2) after the store has loaded (a seccomp
// filter, as sandboxes install): its next destroy with another registered
// thread stops the program with a message naming the cause and
// CTL_FULL_FENCES, instead of risking a lost store. Built with
// CTL_FULL_FENCES (or where the kernel has no membarrier), the destroy works.
// Runs in a child process; skipped where seccomp filters cannot be installed.
#define _GNU_SOURCE
#include "check.h"

#if defined(__linux__) && defined(__has_include) && __has_include(<linux/seccomp.h>) && \
    __has_include(<linux/filter.h>)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#define HAVE_SECCOMP 1
#endif

#if defined(HAVE_SECCOMP) && defined(SYS_membarrier)
static atomic_int stop;
static ctl_slot slot;

static void *registered(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(slot, 1));
    while (!atomic_load(&stop)) sleep_ns(1000000);
    return NULL;
}

// In the child: a second registered thread, then the filter, then a destroy.
static int sandboxed_destroy(void) {
    slot = make_slot(NULL, NULL);
    pthread_t thread = start_thread(registered, NULL);
    while (ctl_get_stats().registered_threads < 1) sleep_ns(1000000);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0)
        return 77;
    int result = ctl_slot_destroy(make_slot(NULL, NULL)) == CTL_OK ? 0 : 1;
    atomic_store(&stop, 1);
    join_thread(thread);
    return result;
}

int main(void) {
    long commands = syscall(SYS_membarrier, 0, 0, 0);  // MEMBARRIER_CMD_QUERY
    bool asymmetric = commands > 0 && (commands & (1 << 3));
#if defined(CTL_FULL_FENCES)
    asymmetric = false;
#endif
    int pipe_fds[2];
    REQUIRE(pipe(pipe_fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        dup2(pipe_fds[1], 2);
        _exit(sandboxed_destroy());
    }
    close(pipe_fds[1]);
    int status = wait_child(child, 30);
    char message[1024] = {0};
    ssize_t n = read(pipe_fds[0], message, sizeof message - 1);
    (void)n;
    close(pipe_fds[0]);
    if (status == 77) {
        printf("membarrier_denied: skipped (no seccomp filter here)\n");
        return 77;
    }
    printf("membarrier_denied: membarrier %s; child status %d\n", asymmetric ? "in use" : "not in use", status);
    if (asymmetric) {
        CHECK_EQ(status, 128 + SIGABRT);
        CHECK(strstr(message, "membarrier(2) failed") != NULL);
        CHECK(strstr(message, "CTL_FULL_FENCES") != NULL);
    } else {
        CHECK_EQ(status, 0);
    }
    return finish("membarrier_denied");
}
#else
int main(void) {
    printf("membarrier_denied: skipped (no seccomp or membarrier here)\n");
    return 77;
}
#endif
