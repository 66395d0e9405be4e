// SPDX-License-Identifier: Apache-2.0
// The C API of CThreadLocals through its Clang module (include/module.modulemap)
// instead of a textual #include of the header.
//
// `@import` is Objective-C syntax: clang rejects it in a C file. In C, import
// the module with `#pragma clang module import`, or keep `#include
// <CThreadLocals.h>`, which `-fmodules` turns into a module import. This file
// does the one or the other depending on the language it is compiled as.
//
// Build it with clang's modules, from the repository root (one line each):
//
//   as C:            clang -fmodules -fmodules-cache-path=/tmp/ctl-modules -I include
//                        Examples/C/slots_modules.c Sources/CThreadLocals/CThreadLocals.c -pthread
//   as Objective-C:  clang -fmodules -fmodules-cache-path=/tmp/ctl-modules -I include
//                        -x objective-c Examples/C/slots_modules.c
//                        -x c Sources/CThreadLocals/CThreadLocals.c -pthread

#if defined(__OBJC__)
@import CThreadLocals;
#else
#pragma clang module import CThreadLocals
#endif

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

static ctl_slot depth_slot;  // int64_t: this thread's depth

static void *thread_main(void *argument) {
    (void)argument;
    ctl_set_i64(depth_slot, 100);
    return (void *)(intptr_t)ctl_get_i64(depth_slot);
}

int main(void) {
    if (ctl_slot_create(&depth_slot, NULL, NULL) != CTL_OK) return 1;
    ctl_set_i64(depth_slot, 1);

    pthread_t thread;
    void *result = NULL;
    if (pthread_create(&thread, NULL, thread_main, NULL) != 0) return 1;
    pthread_join(thread, &result);

    long long mine = (long long)ctl_get_i64(depth_slot);
    printf("main thread sees %lld, the other thread saw %ld\n", mine, (long)(intptr_t)result);
    ctl_slot_destroy(depth_slot);
    if (mine != 1 || (intptr_t)result != 100) return 1;
#if defined(__OBJC__)
    printf("ok (@import)\n");
#else
    printf("ok (#pragma clang module import)\n");
#endif
    return 0;
}
