//===----------------------------------------------------------------------===//
//
// CThreadLocals: the slow paths of the slot store.
//
// Everything here runs under one process-wide mutex (`store.lock`): slot
// creation and destruction, a thread's first store in a slot, growth of a
// thread's chunk table, and a thread's teardown. The inline accessors in the
// header never take it.
//
// Per-thread storage: each thread's `ctl__tls` block holds the entries of slots
// 0..<CTL_INLINE_SLOTS in place and a table of heap chunks for the rest.
// A thread that stores its first value registers itself: it links its block
// into `store.threads` and sets the store's one pthread key, whose destructor
// (`thread_exit`) destroys the thread's values when it exits.
//
//===----------------------------------------------------------------------===//

#include "CThreadLocals.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// Every tag starts empty (not 0: see CTL__TAG_EMPTY), so the block is
// initialized TLS, copied into each new thread.
_Thread_local ctl__thread_block ctl__tls CTL_TLS_MODEL = {
    .tags = {[0 ... CTL_INLINE_SLOTS] = CTL__TAG_EMPTY},
};

enum {
    state_fresh = 0,        // never stored a value; not in the thread list
    state_registered = 1,   // in the thread list; pthread key set
    state_tearing_down = 2, // exiting: destroying its values in rounds
    state_closed = 3,       // done: not in the list; stores fail
};

// The largest generation: with CTL__TAG_INITIALIZING set it is still not
// CTL__TAG_EMPTY.
enum { max_generation = 0x7ffffffeu, batch_size = 64 };

typedef struct slot_info {
    ctl_destructor destructor;
    void *context;
    uint32_t generation;  // the generation of the live slot, or of the last one
    uint32_t live;
    // Destructor calls for this slot that exiting threads are running now.
    uint32_t inflight;
} slot_info;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t inflight_done;
    slot_info *slots;
    uint32_t slot_count;     // slot numbers handed out so far
    uint32_t slot_capacity;
    uint32_t *free_list;     // destroyed slot numbers: a min-heap, lowest reused first
    uint32_t free_count;
    uint32_t free_capacity;
    size_t live_slots;
    size_t thread_count;
    ctl__thread_block *threads;
    pthread_key_t exit_key;
    int exit_key_error;
} store = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .inflight_done = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t store_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *block);

static void lock(void) { pthread_mutex_lock(&store.lock); }
static void unlock(void) { pthread_mutex_unlock(&store.lock); }

// fork(): the child has one thread, a copy of the forking one. The mutex is
// held across the fork so that the child never sees the store half-changed,
// and the child drops every other thread from the list: those threads do not
// exist there, so their values are neither reachable nor destroyed (the same
// as with pthread keys).
static void fork_prepare(void) { lock(); }
static void fork_parent(void) { unlock(); }
static void fork_child(void) {
    ctl__thread_block *self = &ctl__tls;
    ctl__thread_block *t = store.threads;
    while (t) {
        ctl__thread_block *next = t->next;
        if (t != self) {
            for (uint32_t c = 0; c < t->chunk_count; c++) free(t->chunks[c]);
            free(t->chunks);
            t->chunks = NULL;
            t->chunk_count = 0;
            t->next = t->prev = NULL;
            store.thread_count--;
        }
        t = next;
    }
    store.threads = NULL;
    if (self->state == state_registered || self->state == state_tearing_down) {
        self->next = self->prev = NULL;
        store.threads = self;
    }
    for (uint32_t i = 0; i < store.slot_count; i++) store.slots[i].inflight = 0;
    pthread_mutex_init(&store.lock, NULL);
    pthread_cond_init(&store.inflight_done, NULL);
}

static void store_init(void) {
    store.exit_key_error = pthread_key_create(&store.exit_key, thread_exit);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

// A thread's entry of one slot number: its tag and its value.
typedef struct entry_ref {
    uint32_t *tag;
    ctl_value *value;
} entry_ref;

// The entry of `index` in `t`; `tag` is NULL if its chunk does not exist.
// Caller: `t`'s own thread, or any thread holding the lock.
static entry_ref entry_in(ctl__thread_block *t, uint32_t index) {
    if (index < CTL_INLINE_SLOTS) return (entry_ref){&t->tags[index], &t->values[index]};
    uint32_t c = index / CTL_INLINE_SLOTS;
    if (c >= t->chunk_count || t->chunks[c] == NULL) return (entry_ref){NULL, NULL};
    ctl__entry *e = &t->chunks[c][index % CTL_INLINE_SLOTS];
    return (entry_ref){&e->tag, &e->value};
}

static void clear_entry(entry_ref e) {
    *e.tag = CTL__TAG_EMPTY;
    e.value->u64 = 0;
}

bool ctl_take(ctl_slot slot, ctl_value *value) {
    entry_ref e = entry_in(&ctl__tls, slot.index);
    if (e.tag == NULL || *e.tag != slot.generation) return false;
    if (value) *value = *e.value;
    clear_entry(e);
    return true;
}

// The calling thread's entry of `index`, allocating its chunk; `tag` is NULL
// if memory ran out. Lock held.
static entry_ref ensure_entry(uint32_t index) {
    ctl__thread_block *t = &ctl__tls;
    if (index < CTL_INLINE_SLOTS) return entry_in(t, index);
    uint32_t c = index / CTL_INLINE_SLOTS;
    if (c >= t->chunk_count) {
        uint32_t count = t->chunk_count ? t->chunk_count : 2;
        while (count <= c) count *= 2;
        // Only the directory moves; the chunks it points to never do.
        ctl__entry **chunks = realloc(t->chunks, count * sizeof *chunks);
        if (chunks == NULL) return (entry_ref){NULL, NULL};
        memset(chunks + t->chunk_count, 0, (count - t->chunk_count) * sizeof *chunks);
        t->chunks = chunks;
        t->chunk_count = count;
    }
    if (t->chunks[c] == NULL) {
        ctl__entry *chunk = calloc(CTL_INLINE_SLOTS, sizeof(ctl__entry));
        if (chunk == NULL) return (entry_ref){NULL, NULL};
        for (int i = 0; i < CTL_INLINE_SLOTS; i++) chunk[i].tag = CTL__TAG_EMPTY;
        t->chunks[c] = chunk;
    }
    return entry_in(t, index);
}

static uint32_t lane_of(uint32_t index) { return index < CTL_INLINE_SLOTS ? index : CTL_INLINE_SLOTS; }

static bool is_live(ctl_slot slot) {
    return slot.index < store.slot_count && store.slots[slot.index].live &&
           store.slots[slot.index].generation == slot.generation && slot.lane == lane_of(slot.index);
}

// Makes the calling thread able to hold values. Lock held.
static bool register_thread(void) {
    ctl__thread_block *t = &ctl__tls;
    if (t->state != state_fresh) return t->state != state_closed;
    if (store.exit_key_error != 0) return false;
    if (pthread_setspecific(store.exit_key, t) != 0) return false;
    t->prev = NULL;
    t->next = store.threads;
    if (store.threads) store.threads->prev = t;
    store.threads = t;
    store.thread_count++;
    t->state = state_registered;
    return true;
}

// The free list is a binary min-heap, so that the lowest free number is reused
// first and live slots stay in the inline lanes when they can.
static uint32_t pop_free(void) {
    uint32_t *h = store.free_list;
    uint32_t top = h[0], n = --store.free_count, i = 0;
    uint32_t last = h[n];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && h[child + 1] < h[child]) child++;
        if (h[child] >= last) break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0) h[i] = last;
    return top;
}

static void push_free(uint32_t index) {
    uint32_t *h = store.free_list;
    uint32_t i = store.free_count++;
    while (i > 0 && h[(i - 1) / 2] > index) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = index;
}

int ctl_slot_create(ctl_slot *slot, ctl_destructor destructor, void *context) {
    pthread_once(&store_once, store_init);
    if (store.exit_key_error != 0) return CTL_EAGAIN;
    lock();
    uint32_t index;
    if (store.free_count > 0) {
        index = pop_free();
    } else {
        if (store.slot_count == store.slot_capacity) {
            uint32_t capacity = store.slot_capacity ? store.slot_capacity * 2 : 64;
            slot_info *slots = realloc(store.slots, capacity * sizeof *slots);
            if (slots == NULL || capacity <= store.slot_capacity || store.slot_count >= max_generation) {
                if (slots) store.slots = slots;
                unlock();
                return CTL_ENOMEM;
            }
            store.slots = slots;
            store.slot_capacity = capacity;
        }
        index = store.slot_count++;
        store.slots[index] = (slot_info){.generation = 0};
    }
    slot_info *info = &store.slots[index];
    info->generation = info->generation % max_generation + 1;
    info->live = 1;
    info->inflight = 0;
    info->destructor = destructor;
    info->context = context;
    store.live_slots++;
    *slot = (ctl_slot){.lane = lane_of(index), .generation = info->generation, .index = index};
    unlock();
    return CTL_OK;
}

typedef struct pending {
    ctl_value value;
    ctl_destructor destructor;
    void *context;
    ctl_slot slot;
} pending;

int ctl_slot_destroy(ctl_slot slot) {
    lock();
    if (!is_live(slot)) {
        unlock();
        return CTL_EINVAL;
    }
    slot_info *info = &store.slots[slot.index];
    info->live = 0;
    ctl_destructor destructor = info->destructor;
    void *context = info->context;
    // Take every thread's value out in batches and destroy them with the lock
    // released: a destructor may use the store. A thread seen once is cleared,
    // so each pass makes progress and the loop ends when a pass finds nothing.
    for (;;) {
        ctl_value batch[batch_size];
        int n = 0;
        for (ctl__thread_block *t = store.threads; t && n < batch_size; t = t->next) {
            entry_ref e = entry_in(t, slot.index);
            if (e.tag == NULL || *e.tag == CTL__TAG_EMPTY) continue;
            if (*e.tag == slot.generation) batch[n++] = *e.value;
            clear_entry(e);
        }
        if (n == 0) break;
        unlock();
        if (destructor)
            for (int i = 0; i < n; i++) destructor(batch[i], context);
        lock();
        info = &store.slots[slot.index];  // the table may have moved
    }
    // Wait for exiting threads that took a value of this slot out before we
    // did; our own thread's call (if a destructor destroys its own slot) is not
    // waited for.
    if (ctl__tls.running.index == slot.index && ctl__tls.running.generation == slot.generation) {
        // A destructor of this slot, run by this exiting thread, destroys the
        // slot: settle its own in-flight count now and tell `thread_exit`.
        store.slots[slot.index].inflight--;
        ctl__tls.running = (ctl_slot){0, 0, 0};
    }
    while (store.slots[slot.index].inflight > 0) pthread_cond_wait(&store.inflight_done, &store.lock);
    info = &store.slots[slot.index];
    info->destructor = NULL;
    info->context = NULL;
    // The number is free now; its generation moves on when it is reused.
    if (store.free_count == store.free_capacity) {
        uint32_t capacity = store.free_capacity ? store.free_capacity * 2 : 64;
        uint32_t *list = realloc(store.free_list, capacity * sizeof *list);
        if (list) {
            store.free_list = list;
            store.free_capacity = capacity;
        }
    }
    // Without room in the free list the number is simply never reused.
    if (store.free_count < store.free_capacity) push_free(slot.index);
    store.live_slots--;
    unlock();
    return CTL_OK;
}

bool ctl_slot_is_live(ctl_slot slot) {
    lock();
    bool live = is_live(slot);
    unlock();
    return live;
}

bool ctl__set_slow(ctl_slot slot, ctl_value value) {
    lock();
    entry_ref e = {NULL, NULL};
    if (is_live(slot) && register_thread()) e = ensure_entry(slot.index);
    if (e.tag) {
        *e.value = value;
        *e.tag = slot.generation;
    }
    unlock();
    return e.tag != NULL;
}

int ctl_begin_initialization(ctl_slot slot) {
    if (ctl_has_value(slot)) return CTL_EEXIST;
    lock();
    int result = CTL_EINVAL;
    entry_ref e = {NULL, NULL};
    if (is_live(slot) && register_thread()) e = ensure_entry(slot.index);
    if (e.tag) {
        if (*e.tag == (slot.generation | CTL__TAG_INITIALIZING)) {
            result = CTL_EBUSY;
        } else {
            *e.tag = slot.generation | CTL__TAG_INITIALIZING;
            result = CTL_OK;
        }
    } else if (is_live(slot) && ctl__tls.state != state_closed) {
        result = CTL_ENOMEM;
    }
    unlock();
    return result;
}

// No lock: the entry exists (begin_initialization allocated it), and only the
// owning thread touches an entry of a live slot without the lock.
bool ctl_finish_initialization(ctl_slot slot, ctl_value value) {
    entry_ref e = entry_in(&ctl__tls, slot.index);
    if (e.tag == NULL || *e.tag != (slot.generation | CTL__TAG_INITIALIZING)) return false;
    *e.value = value;
    *e.tag = slot.generation;
    return true;
}

void ctl_cancel_initialization(ctl_slot slot) {
    lock();
    entry_ref e = entry_in(&ctl__tls, slot.index);
    if (e.tag && *e.tag == (slot.generation | CTL__TAG_INITIALIZING)) *e.tag = CTL__TAG_EMPTY;
    unlock();
}

ctl_stats ctl_get_stats(void) {
    lock();
    ctl_stats stats = {
        .live_slots = store.live_slots,
        .registered_threads = store.thread_count,
        .slot_table_size = store.slot_count,
    };
    unlock();
    return stats;
}

// Takes up to `batch_size` values of thread `t` out, from slot number
// `*cursor` on, and counts them as in flight. Lock held.
static int take_batch(ctl__thread_block *t, uint32_t *cursor, pending *batch) {
    int n = 0;
    while (*cursor < store.slot_count && n < batch_size) {
        uint32_t index = (*cursor)++;
        entry_ref e = entry_in(t, index);
        if (e.tag == NULL || *e.tag == CTL__TAG_EMPTY) continue;
        slot_info *info = &store.slots[index];
        if (info->live && *e.tag == info->generation) {
            info->inflight++;
            batch[n++] = (pending){
                .value = *e.value,
                .destructor = info->destructor,
                .context = info->context,
                .slot = {.lane = lane_of(index), .generation = info->generation, .index = index},
            };
        }
        clear_entry(e);
    }
    return n;
}

struct ctl__kept {
    ctl_value value;  // first: the word handed out is the node's address
    ctl_destructor destructor;
    struct ctl__kept *next;
};

ctl_value *ctl__keep_until_exit(ctl_value value, ctl_destructor destructor) {
    struct ctl__kept *node = malloc(sizeof *node);
    if (node == NULL) return NULL;
    node->value = value;
    node->destructor = destructor;
    node->next = ctl__tls.kept;
    ctl__tls.kept = node;
    return &node->value;
}

// Destroys the values kept by `ctl__keep_until_exit`, in bounded passes.
static void destroy_kept(ctl__thread_block *t) {
    for (int pass = 0; t->kept != NULL; pass++) {
        if (pass == CTL_KEEP_PASSES) {
            fputs("CThreadLocals: deinitializers keep creating thread-local values after the exiting thread's "
                  "storage was closed; stopping instead of looping forever\n",
                  stderr);
            abort();
        }
        struct ctl__kept *node = t->kept;
        t->kept = NULL;
        while (node) {
            struct ctl__kept *next = node->next;
            if (node->destructor) node->destructor(node->value, NULL);
            free(node);
            node = next;
        }
    }
}

// The store's pthread key destructor: destroys the exiting thread's values.
static void thread_exit(void *block) {
    ctl__thread_block *t = block;
    if (t != &ctl__tls) return;  // never: the key is only set to the own block
    lock();
    t->state = state_tearing_down;
    for (int round = 1; round <= CTL_DESTRUCTOR_ROUNDS; round++) {
        // In the last round, close the storage first: values stored from now
        // on are refused, so teardown ends.
        if (round == CTL_DESTRUCTOR_ROUNDS) t->state = state_closed;
        bool found = false;
        uint32_t cursor = 0;
        for (;;) {
            pending batch[batch_size];
            int n = take_batch(t, &cursor, batch);
            if (n == 0) break;
            found = true;
            unlock();
            for (int i = 0; i < n; i++) {
                t->running = batch[i].slot;
                if (batch[i].destructor) batch[i].destructor(batch[i].value, batch[i].context);
                // Cleared if the destructor destroyed its own slot, which
                // then settled this call's in-flight count itself.
                if (t->running.generation == 0) batch[i].slot.generation = 0;
            }
            t->running = (ctl_slot){0, 0, 0};
            lock();
            for (int i = 0; i < n; i++)
                if (batch[i].slot.generation != 0) store.slots[batch[i].slot.index].inflight--;
            pthread_cond_broadcast(&store.inflight_done);
        }
        // No destructor ran, so nothing new can have been stored: done.
        if (!found) break;
    }
    t->state = state_closed;
    unlock();
    destroy_kept(t);
    lock();
    for (uint32_t c = 0; c < t->chunk_count; c++) free(t->chunks[c]);
    free(t->chunks);
    t->chunks = NULL;
    t->chunk_count = 0;
    for (int i = 0; i <= CTL_INLINE_SLOTS; i++) t->tags[i] = CTL__TAG_EMPTY;
    memset(t->values, 0, sizeof t->values);
    if (t->prev) t->prev->next = t->next;
    else store.threads = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    store.thread_count--;
    unlock();
}
