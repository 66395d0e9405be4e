// SPDX-License-Identifier: Apache-2.0
// dlclose of a library that contains the store (run-dlopen.sh). The store
// pins its object at first use, so that the library stays loaded:
// - a worker thread that stored a value exits after the library's slot was
//   destroyed and the library closed: its exit must not call into unmapped
//   code;
// - 1,100 load/use/unload cycles: each must create its slot (the store's one
//   pthread key is created once, not once per load).
// Each case runs in a child process of its own, so that a crash is reported.
//
// Usage: dlclose_main <library>
#include "check.h"

#include "dl_copy.h"

static const char *path;

typedef dl_copy library;

static library load(void) { return dl_copy_load(path, RTLD_NOW | RTLD_LOCAL); }

static atomic_int destroyed;

static void count(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&destroyed, 1);
}

static library plugin;
static ctl_slot plugin_slot;
static atomic_int stage;  // 1: the worker stored; 2: the library is closed

static void *worker(void *arg) {
    (void)arg;
    CHECK(plugin.set(plugin_slot, 7));
    atomic_store(&stage, 1);
    while (atomic_load(&stage) != 2) sleep_ns(100000);
    return NULL;  // the thread's exit runs the store's key destructor
}

static int worker_exits_after_dlclose(void) {
    plugin = load();
    CHECK_EQ(plugin.create(&plugin_slot, count, NULL), CTL_OK);
    pthread_t thread = start_thread(worker, NULL);
    while (atomic_load(&stage) != 1) sleep_ns(100000);
    CHECK_EQ(plugin.destroy(plugin_slot), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed), 1);
    CHECK_EQ(dlclose(plugin.handle), 0);
    atomic_store(&stage, 2);
    join_thread(thread);
    return finish("dlclose: a worker exits after its library's slot was destroyed and the library closed");
}

static void *use_once(void *arg) {
    library *l = arg;
    ctl_slot slot;
    int rc = l->create(&slot, count, NULL);
    if (rc != CTL_OK) return (void *)(intptr_t)rc;
    CHECK(l->set(slot, 1));
    CHECK_EQ(l->get(slot), 1);
    CHECK_EQ(l->destroy(slot), CTL_OK);
    return (void *)(intptr_t)CTL_OK;
}

static int many_load_unload_cycles(void) {
    enum { cycles = 1100 };
    int done = 0;
    for (; done < cycles; done++) {
        library l = load();
        // On a thread of its own, which also stores and exits.
        pthread_t thread = start_thread(use_once, &l);
        void *rc;
        REQUIRE(pthread_join(thread, &rc) == 0);
        CHECK_EQ(dlclose(l.handle), 0);
        if ((intptr_t)rc != CTL_OK) {
            printf("cycle %d: ctl_slot_create returned %d\n", done, (int)(intptr_t)rc);
            check_failures++;
            break;
        }
    }
    printf("%d of %d load/use/unload cycles\n", done, cycles);
    return finish("dlclose: load/use/unload cycles");
}

static int in_child(int (*body)(void)) {
    fflush(stdout);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int status = body();
        fflush(stdout);
        _exit(status);
    }
    int status = wait_child(child, 50);
    if (status != 0) printf("child exit status %d (128 + signal if killed)\n", status);
    return status == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    REQUIRE(argc == 2);
    path = argv[1];
    int failed = in_child(worker_exits_after_dlclose);
    failed += in_child(many_load_unload_cycles);
    return failed ? 1 : 0;
}
