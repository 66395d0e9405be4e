// Scenarios that exercise the C slot API from plain C. Each returns 0 on
// success, or the source line of the first check that failed.
#ifndef CTHREADLOCALS_TEST_HARNESS_H
#define CTHREADLOCALS_TEST_HARNESS_H

/// Create, typed set/get, take, destroy on one thread.
int cth_basic_accessors(void);
/// A thread's values are destroyed once each when it exits.
int cth_thread_exit_destroys_values(int threads);
/// Destroying a slot destroys the values of threads that are still running.
int cth_destroy_destroys_running_threads_values(int threads);
/// `count` live slots at once, each with its own value.
int cth_many_live_slots(int count);
/// A reused slot number never shows an earlier slot's value, on any thread.
int cth_reused_slot_shows_no_stale_value(void);
/// Destructors that store values during thread exit: next-round destruction,
/// bounded teardown, refused stores in the last round.
int cth_destructor_reentrancy(void);
/// Misuse: double destroy, use after destroy, null destructor.
int cth_misuse(void);
/// fork() while other threads use the store: the child keeps the forking
/// thread's values and the store keeps working.
int cth_fork_child_keeps_working(void);

/// Bytes the C heap has handed out and not taken back (glibc's `mallinfo2`:
/// every arena, plus mmapped blocks), or 0 where that is not known.
unsigned long long cth_heap_in_use(void);

#endif
