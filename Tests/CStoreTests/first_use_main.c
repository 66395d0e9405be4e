// SPDX-License-Identifier: Apache-2.0
// The store's first use on two threads at once, one of them inside dlopen:
// thread B dlopens a plugin (first_use_plugin.c) whose constructor calls
// ctl_slot_create while B holds the dynamic loader's lock; meanwhile the main
// thread makes the process's first ctl_slot_create. Neither may wait for a
// lock the other holds: a first use that pins the store's object (which takes
// the loader's lock) while holding a lock of the store deadlocks here. A
// watchdog turns a deadlock into a failure.
//
// Usage: first_use_main <plugin.so>   (linked with the store as a shared library)
#include "check.h"

#include <dlfcn.h>

atomic_int plugin_constructor_running;
int plugin_create_result = -1;

static void on_alarm(int signal) {
    (void)signal;
    static const char message[] = "first_use: deadlock (no progress after 20 s)\n";
    (void)!write(2, message, sizeof message - 1);
    _exit(1);
}

static void *load_plugin(void *path) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) printf("dlopen failed: %s\n", dlerror());
    return handle;
}

int main(int argc, char **argv) {
    REQUIRE(argc == 2);
    signal(SIGALRM, on_alarm);
    alarm(20);
    pthread_t loader = start_thread(load_plugin, argv[1]);
    while (!atomic_load(&plugin_constructor_running)) sched_yield();
    ctl_slot slot;
    CHECK_EQ(ctl_slot_create(&slot, NULL, NULL), CTL_OK);
    void *handle;
    REQUIRE(pthread_join(loader, &handle) == 0);
    alarm(0);
    CHECK(handle != NULL);
    CHECK_EQ(plugin_create_result, CTL_OK);
    CHECK_EQ(ctl_get_stats().live_slots, 2);
    return finish("first_use");
}
