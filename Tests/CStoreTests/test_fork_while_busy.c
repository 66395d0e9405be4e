// SPDX-License-Identifier: Apache-2.0
// fork() while another thread is inside the dynamic loader or the store: the
// child's first use of the store must not hang on a lock the fork copied
// held. The store's process-level set-up (fork handlers, pinning) ran when it
// was loaded, so no first call takes the loader's lock or relies on handlers
// registered late.
// 1. A thread loads and unloads a library in a loop; the main thread forks,
//    and each child makes the process's first ctl_slot_create.
// 2. A thread polls ctl_get_stats() before any slot exists; each child makes
//    the first create.
// 3. Another library's fork handlers lock its mutex U (registered before the
//    store's first call); a thread stores into empty entries while holding
//    U; the main thread forks. The store's prepare handler must not hold the
//    store's mutex while U's waits for U, and the store must not take its
//    mutex for such a store.
// Each child exits 0 after using the store; one that hangs is killed.
#include "check.h"

#include <dlfcn.h>

static atomic_int stop;

static void *load_and_unload(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        void *handle = dlopen("libresolv.so.2", RTLD_NOW | RTLD_LOCAL);
        if (handle) dlclose(handle);
    }
    return NULL;
}

static void *poll_stats(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) (void)ctl_get_stats();
    return NULL;
}

static pthread_mutex_t u = PTHREAD_MUTEX_INITIALIZER;
static void lock_u(void) { pthread_mutex_lock(&u); }
static void unlock_u(void) { pthread_mutex_unlock(&u); }
static ctl_slot store_slot;

static void *store_holding_u(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(store_slot, 1));  // registered before the loop
    while (!atomic_load(&stop)) {
        pthread_mutex_lock(&u);
        CHECK(ctl_take(store_slot, NULL));
        CHECK(ctl_set_uword(store_slot, 2));  // into the emptied entry
        pthread_mutex_unlock(&u);
    }
    return NULL;
}

// Forks `n` children that each create a slot and use it; returns how many
// exited 0.
static int fork_children(int n) {
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            ctl_slot s;
            if (ctl_slot_create(&s, NULL, NULL) != CTL_OK || !ctl_set_uword(s, 5) || ctl_get_uword(s) != 5) _exit(1);
            _exit(ctl_slot_destroy(s) == CTL_OK ? 0 : 1);
        }
        int status = wait_child(child, 10);
        if (status == 0) ok++;
        else if (status == -1) break;  // hung: one is enough
    }
    return ok;
}

static void run(const char *name, void *(*body)(void *), int n) {
    atomic_store(&stop, 0);
    pthread_t thread = start_thread(body, NULL);
    int ok = fork_children(n);
    atomic_store(&stop, 1);
    join_thread(thread);
    printf("%s: %d of %d children used the store\n", name, ok, n);
    CHECK_EQ(ok, n);
}

int main(void) {
    int n = small_mode() ? 50 : 200;
    void *probe = dlopen("libresolv.so.2", RTLD_NOW | RTLD_LOCAL);
    if (probe) {
        dlclose(probe);
        run("fork while loading", load_and_unload, n);
    } else {
        printf("fork while loading: skipped (no dlopen here)\n");
    }
    run("fork while polling statistics", poll_stats, n);
    // Case 3: U's handlers are registered before the store's first create.
    REQUIRE(pthread_atfork(lock_u, unlock_u, unlock_u) == 0);
    store_slot = make_slot(NULL, NULL);
    run("fork while storing under another library's atfork lock", store_holding_u, n);
    return finish("fork_while_busy");
}
