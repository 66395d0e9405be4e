// SPDX-License-Identifier: Apache-2.0
// Where the store meets the dynamic loader (run-dlopen.sh), each case in a
// child process of its own so that a crash or an abort is reported:
// - global-later, global-first: two copies of the store, one loaded
//   RTLD_LOCAL and lazily bound, the other RTLD_GLOBAL (after it, or
//   before it): each copy's calls stay within that copy, so a value stored
//   through one copy is read back there and is not seen by the other.
// - dlclose-needed: a plugin that needs the store's library (DT_NEEDED) makes
//   the store's first calls in its destructor, while dlclose unloads both:
//   the store makes no loader call then (its set-up ran at load time).
// - keys-exhausted: a copy loaded while the process is out of pthread keys
//   fails its first create with CTL_EAGAIN, and a later create succeeds once
//   a key is free.
//
// Usage: loader_main CASE <library copy 0> <library copy 1> <plugin>
#include "check.h"

#include "dl_copy.h"

typedef dl_copy copy;

static copy load(const char *path, int flags) { return dl_copy_load(path, flags); }

static ctl_slot create_in(copy c) {
    ctl_slot slot;
    REQUIRE(c.create(&slot, NULL, NULL) == CTL_OK);
    return slot;
}

// Two copies; `global_first`: the RTLD_GLOBAL copy is loaded first.
static void two_copies(const char *lib0, const char *lib1, bool global_first) {
    copy local, global;
    ctl_slot in_local, in_global;
    if (global_first) {
        global = load(lib1, RTLD_LAZY | RTLD_GLOBAL);
        in_global = create_in(global);
        local = load(lib0, RTLD_LAZY | RTLD_LOCAL);
        in_local = create_in(local);
    } else {
        local = load(lib0, RTLD_LAZY | RTLD_LOCAL);
        in_local = create_in(local);
        global = load(lib1, RTLD_LAZY | RTLD_GLOBAL);
        in_global = create_in(global);
    }
    // Both copies hand out the same first handle: only the copy tells them
    // apart.
    CHECK(local.set(in_local, 7));
    CHECK_EQ(local.get(in_local), 7);
    CHECK(!global.has(in_global));
    CHECK(global.set(in_global, 9));
    CHECK_EQ(global.get(in_global), 9);
    CHECK_EQ(local.get(in_local), 7);
    CHECK_EQ(local.destroy(in_local), CTL_OK);
    CHECK_EQ(global.get(in_global), 9);
    CHECK_EQ(global.destroy(in_global), CTL_OK);
}

static void dlclose_needed(const char *plugin) {
    void *handle = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) fprintf(stderr, "dlopen: %s\n", dlerror());
    REQUIRE(handle != NULL);
    CHECK_EQ(dlclose(handle), 0);  // the plugin's destructor uses the store
}

static void keys_exhausted(const char *lib) {
    enum { most = 100000 };
    static pthread_key_t keys[most];
    int n = 0;
    while (n < most && pthread_key_create(&keys[n], NULL) == 0) n++;
    REQUIRE(n > 0 && n < most);
    copy c = load(lib, RTLD_NOW | RTLD_LOCAL);
    ctl_slot slot;
    CHECK_EQ(c.create(&slot, NULL, NULL), CTL_EAGAIN);
    REQUIRE(pthread_key_delete(keys[--n]) == 0);
    CHECK_EQ(c.create(&slot, NULL, NULL), CTL_OK);
    CHECK(c.set(slot, 5));
    CHECK_EQ(c.get(slot), 5);
    while (n > 0) pthread_key_delete(keys[--n]);
}

int main(int argc, char **argv) {
    REQUIRE(argc == 5);
    const char *name = argv[1];
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (strcmp(name, "global-later") == 0) two_copies(argv[2], argv[3], false);
        else if (strcmp(name, "global-first") == 0) two_copies(argv[2], argv[3], true);
        else if (strcmp(name, "dlclose-needed") == 0) dlclose_needed(argv[4]);
        else if (strcmp(name, "keys-exhausted") == 0) keys_exhausted(argv[2]);
        else REQUIRE(!"unknown case");
        fflush(stdout);
        _exit(check_failures ? 1 : 0);
    }
    int status = wait_child(child, 30);
    printf("%s: child exit status %d (expected 0)\n", name, status);
    CHECK_EQ(status, 0);
    return finish(name);
}
