/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Promela model of the slot store's protocol (CThreadLocals.c): slot
 * create and destroy, a thread's registration on its first store, stores
 * into an empty entry and lazy initialisation without the mutex (the
 * publish / fence / re-check handshake with destroy), ctl_take (which
 * empties the entry), thread exit as libc drives it through the store's
 * pthread key, values left at exit in their slots' lists, re-entrant
 * destructors, and fork(). Checked exhaustively with spin; see README.md and
 * run.sh.
 *
 * What is modelled
 * - One mutex, taken by slot create and destroy, registration, thread exit
 *   and fork. Every critical section is one `atomic` step guarded by MUTEX
 *   (no critical section blocks or waits while holding the mutex, so running
 *   it as one indivisible step has the same interleavings of what others can
 *   observe), except destroy's first one, which spans two steps: the
 *   liveness write, then the walk, with `walker` saying that the mutex is
 *   held in between; steps without the mutex (a thread's own stores, takes
 *   and initialisation) may run there.
 * - Sequential consistency: spin explores interleavings of atomic steps, so
 *   every step sees every earlier one. The handshake needs exactly that
 *   between its four accesses (destroy: liveness word := 0, then read tags;
 *   store: tag := generation, then read the liveness word); the code gets it
 *   from a fence on each side (full fences, or membarrier's process-wide
 *   barrier against a compiler barrier on the store's side).
 *   Weaker orderings are not explored. Each step of the handshake is its own
 *   step here: between a store's liveness check and its publish, between the
 *   publish and the re-check, and between destroy's liveness write and its
 *   walk, any other thread may run. The walk itself is one step: a store
 *   touches only its own thread's entry, which the walk visits once, so
 *   visits of other blocks commute with it.
 * - Liveness words (live[s]): the generation while the slot is LIVE, else 0;
 *   written by create (under the mutex) and by destroy (0, first thing, under
 *   the mutex), read without the mutex.
 * - Nothing waits for another thread: destroy returns while exiting threads'
 *   destructor calls of its slot are in flight (the number drains). The
 *   older waits (BUG_* switches below) are blocking
 *   guards outside the mutex; a wait that never ends is a deadlock (an
 *   invalid end state), the model's picture of a poll that spins forever.
 * - Copies of the store (COPIES): slot number s belongs to copy COPY(s).
 *   Each copy has its own mutex, blocks and lists in the code; here they
 *   share one mutex, which changes nothing observable because critical
 *   sections never nest (destructors run with the mutex released). Only a
 *   rule that reads the caller's own state (BUG_CROSS_WAIT's "am I running a
 *   destructor of this copy?") sees the copy; the protocol reads no such state.
 * - Cancellation: the store runs destructors with cancellation disabled, so
 *   every destructor call returns into the store. BUG_CANCEL_EXIT and
 *   BUG_CANCEL_DESTROY let a call unwind instead (a cancellation point acted
 *   upon), skipping the rest of the exit sweep or of the destroy.
 * - Slot numbers 0..NS-1 with a generation each (1..MAXGEN); a number whose
 *   generation would pass MAXGEN is retired. The free list is the set of
 *   numbers in state FREE, reused lowest first.
 * - Blocks: thread t has block t, of NS entries. An entry's tag is 0 (empty),
 *   g (a value of generation g; the value is a value id 1..NV) or g | INIT
 *   (an initialisation mark). cur[t] says
 *   whether the thread's TLS pointer names its block, which is then linked
 *   into the list of blocks, or the shared empty block. A store on the empty
 *   block registers: the block is linked, the TLS pointer set, and the
 *   store's key set (armed). A freed block is empty and unlinked, so a later
 *   registration of the same thread uses block t again.
 * - Stores: pick a slot number and use its current generation (the handle).
 *   An entry holding a value is taken instead (ctl_take: the entry is emptied
 *   and the value goes back to its caller, taken[v]). A store into an empty
 *   entry (ctl__set_slow; a store after a take is one) takes no mutex but to
 *   register: (1) the liveness word is the handle's generation, else false;
 *   (2) publish: the value, then the tag; (3) re-check the liveness word:
 *   still the generation: true; else compare-and-swap the tag back to
 *   empty: success: false, the value stays the caller's (taken[v]);
 *   failure: a destroy's walk took the value: true. The walk (and the
 *   destroy's fallback passes) change a tag only by compare-and-swap from
 *   their generation's value or mark to empty, and never touch another
 *   generation's tag: a store racing an earlier destroy of the number takes
 *   its own tag back at its re-check. ctl_take runs without the mutex and is
 *   one step here: the only other writer of the entry is a destroy of its
 *   slot, and the contract forbids using a slot concurrently with its
 *   destruction (but for the racing store above), which is what a take split
 *   by the destroy's pass would be. At the granularity of one step the model
 *   still lets a take fall between a destroy's mark and its pass (the malloc
 *   fallback): the pass then finds the entry empty.
 * - Lazy initialisation (LAZY, a top-level operation): begin (liveness
 *   check; mark; re-check, taking the mark back if the slot died), the
 *   initializer, then finish (value, then the mark replaced by the
 *   generation; then the store's re-check) or cancel (the mark back to
 *   empty). Only the owner writes a mark: a destroy's walk leaves marks
 *   alone, so the owner's plain reads of its tags race with no write.
 * - libc's thread exit: at most ROUNDS rounds (glibc and musl: 4); a round
 *   runs while a key is set, and calls the destructor of each set key,
 *   clearing it first. The store's key destructor (thread_exit) is never
 *   re-armed: one call makes up to SWEEPS sweeps (CTL_EXIT_SWEEPS, 1024)
 *   of the block, stopping after a sweep that took nothing. A sweep goes in
 *   slot order, ONE value at a time: under the mutex take it out, count it
 *   in flight and record the slot
 *   as running; destroy it with the mutex released; decrement under the
 *   mutex (the last decrement of a destroyed slot frees its number). Then,
 *   in one critical section, the TLS pointer goes back to the empty block,
 *   the values still held (stored during the last sweep) move to their
 *   slots' left lists (leave_values), and the block is unlinked and freed.
 * - Left lists: lslot[v] = s + 1 while value v is in the list of slot s.
 *   Destroy takes the list after its pass (or its passes) over the linked
 *   blocks and destroys those values too: after the pass no block holds a
 *   value of the slot and none can gain one (a store needs a live slot), so
 *   the list is complete.
 * - Another library's pthread key (OTHERKEY): set or not at exit, called
 *   before or after the store's key in each round; its destructor may store
 *   a value and set its own key again. Such a store after thread_exit
 *   registers the block again and sets the store's key, so libc calls
 *   thread_exit again in its next round, if one remains; a block registered
 *   in libc's last round is never swept.
 * - Values in never-swept blocks and in left lists are destroyed by whoever
 *   destroys their slot; the final check destroys every slot still live, so
 *   they must be destroyed there, exactly once. (A never-swept block is
 *   never freed: documented.)
 * - Destructors are events that count, per value, how often the value was
 *   destroyed; then, nondeterministically, they do nothing, store (or take)
 *   into a slot, create a slot, destroy a slot, or fork.
 * - Destroy takes the values in one pass, or (malloc of the pending array
 *   failed, a nondeterministic choice) in passes of one value with the
 *   mutex released in between (64 in the code); then the left list.
 * - fork(): prepare takes the mutex; the parent unlocks; the child keeps only
 *   the forking thread (the other threads vanish: `unless` below), frees
 *   every other thread's block and every left list (the values of threads
 *   that do not exist there are dropped, as with pthread keys, including
 *   those the forking thread left at an earlier exit call), drops the values
 *   other threads were destroying, recomputes the in-flight counts (1 for
 *   the slot whose exit destructor the forking thread is running, else 0),
 *   frees draining numbers whose count is now 0, and unlocks.
 *
 * Known gap, harmless (fork child): a number whose destroy was in progress in
 * a thread that does not exist in the child stays "being destroyed" there:
 * it is never freed (a leak of one number; its handle stays dead). If that
 * destroy was in its malloc fallback, a value of the number that it had not
 * reached yet and that the forking thread keeps is never destroyed in the
 * child either if it sits in a block registered in libc's last round (never
 * swept) or if the thread leaves it at its exit (it goes to the list of a
 * number that no destroy will take). The final check accepts exactly these
 * cases (probe R_FORKSTUCK shows they are reached).
 *
 * Properties (assertions, plus spin's check for invalid end states)
 * - No deadlock: every thread terminates (spin's invalid end state check).
 * - Every stored value ends exactly once: destroyed once (`destroyed[v] == 1`
 *   at the end, never 2) or taken back by its thread (never also
 *   destroyed), except values a fork child dropped with their thread.
 * - Nothing leaked: a value is left only for a live or dying slot, a destroy
 *   leaves no value of its slot in the list and no entry of its slot in any
 *   block (but for one that a racing store takes back itself, below), and
 *   at the end every list and every block is empty (but for the fork
 *   child's gap above).
 * - No stale handle match: a new generation on a number was never used on it
 *   before, so a handle of a destroyed slot never matches a later slot's
 *   entry; and, as above, a destroy leaves no entry of its slot behind,
 *   except one that a store or initialisation of its owner has published
 *   and not re-checked yet, whose generation the liveness word no longer
 *   holds: the owner's re-check takes it back before the owner does
 *   anything else, and no other thread reads the entry (finish_destroy).
 *   At the end no entry is left at all.
 * - A store that returns false leaves its value with the caller (never taken
 *   by a destroy), and one whose value a destroy took returns true.
 * - In-flight counts never go negative.
 * - The free list never holds a live or in-flight number: a number is freed
 *   only when its destroy is done and its in-flight count is 0, and create
 *   only takes a free number with count 0. At the end every number is free
 *   or retired (but for the fork child's gap above).
 *
 * Bounds (the check is exhaustive within them)
 * - NT threads, NS slot numbers, NV values, MAXGEN generations per number;
 *   OPS top-level operations per thread, REENTER re-entrant destructor
 *   actions in all; one fork per run; a destroy nested in a destructor runs
 *   destructors that do not destroy again (Promela inlines cannot recurse).
 * - SWEEPS sweeps per exit call: the code has 1024 (default here too). A
 *   sweep after the first finds a value only if a destructor stored one, so
 *   with REENTER re-entrant actions at most REENTER + 1 sweeps run and the
 *   default checks "sweep until a sweep runs none". Leaving values after
 *   the last sweep takes one destructor store per sweep, so the left-value
 *   checks (the cut-off at the bound) run with SWEEPS=1 or 2. The protocol
 *   does not depend on the count beyond "values stored during the last
 *   sweep are left".
 * - One block per thread: every exit call frees the block it swept, so a
 *   thread never has more than one.
 *
 * Abstracted away (not in the model)
 * - The exact round count beyond the parameter, and other keys beyond one.
 * - malloc failure other than destroy's pending array: a failing block or
 *   chunk allocation only makes a store fail, which the model covers by
 *   stores that do nothing; a left list that cannot grow drops the value
 *   (documented), which the model does not explore.
 * - Memory orderings weaker than sequential consistency (see above), and the
 *   fast paths (get/set of a value the thread holds, signal handlers).
 * - A store or initialisation that fails its first liveness check or has no
 *   value id left does not register here (the code registers first; a
 *   registered block without values changes nothing checked).
 * - The chunk directory's growth without the mutex: entries are one flat
 *   array here.
 * - The mutex itself: critical sections are atomic steps, so a mutex bug
 *   (re-initialising a held mutex in the fork child, say) is out of reach.
 * - Fairness: the protocol has no wait left; spin checks safety.
 * - Value overwrite (inline, the caller's own entry holding its value), a
 *   nested begin (CTL_EBUSY), an initializer that stores into its own slot,
 *   and an initialisation left open at thread exit (the sweep clears marks).
 *   Lazy initialisation is a top-level operation only, checked with LAZY.
 * - The 64 inline lanes and the chunk directory: one flat array of entries.
 * - Handles: operations use the current generation of a number; stale
 *   handles are covered by the generation check at create (a stale handle's
 *   generation is never reused) and by "a destroy leaves no entry of its
 *   slot behind" (an entry left behind would let a stale handle's get or
 *   take match) rather than by explicit lookups.
 *
 * Bugs, as switches; would this model have caught them?
 * - BUG_BATCH: the exit destructor took a batch of up to 64 values at once,
 *   all in flight, and destroy waited for every in-flight count except the
 *   one of the slot whose destructor runs now. A destructor that destroys a
 *   slot whose value is later in the same batch waits for itself: deadlock.
 *   Yes: the whole block is the batch here (NS <= 64); one thread with two
 *   values and one re-entrant destroy suffice.
 * - BUG_WAIT: destroy waited even when its caller holds an in-flight count
 *   of another slot. Two exiting threads whose destructors destroy each
 *   other's slot wait for each other: deadlock. Yes: two threads and two
 *   re-entrant destroys (REENTER >= 2) suffice.
 * - BUG_SKIP_DYING: the exit sweep cleared values of a slot being destroyed
 *   without destroying them, while destroy took values in passes (of 64)
 *   with the mutex released in between, so a value the destroyer had not
 *   reached yet was lost. Yes, through destroy's passes (the old code always
 *   made them; the one-pass destroy only in its malloc fallback). A model of
 *   the one-pass destroy alone would NOT catch it.
 * - BUG_WRAP: generations wrapped instead of retiring the number: a stale
 *   handle matches again. Yes (run with MAXGEN=1 to reach the wrap cheaply).
 * - BUG_FORK_ZERO: the fork child zeroed every in-flight count, including
 *   the one of the destructor the forking thread is running, which then
 *   goes below 0 when that destructor returns. Yes, with FORK.
 * - BUG_CROSS_WAIT: the previous rule: destroy waited for the in-flight
 *   count unless its caller was running an exit-time destructor of the same
 *   copy of the store. With one copy no cycle forms (run it with COPIES=1:
 *   no error); with two, two exiting threads whose destructors destroy a
 *   slot of the other copy wait for each other: deadlock. Yes: COPIES=2,
 *   two threads, two re-entrant destroys.
 * - BUG_CANCEL_EXIT: cancellation enabled in the exit sweep: a destructor
 *   that reaches a cancellation point unwinds, the in-flight decrement is
 *   skipped, and the number never drains (a destroy that waited hung).
 *   Yes: the final check finds the count above 0.
 * - BUG_CANCEL_DESTROY: cancellation enabled in destroy: unwinding from a
 *   destructor leaves the slot dying forever and the values not yet
 *   destroyed lost. Yes: the final check finds the number never freed.
 * Seeded mistakes in the mechanism of left values:
 * - BUG_LEFT_FIRST: destroy takes its slot's left list before its pass over
 *   the linked blocks (in the critical section that marks the slot dying),
 *   and destroys those values first. With the one-pass destroy the pass
 *   follows in the same critical section and nothing changes; in the malloc
 *   fallback, a thread that the passes have not reached yet exits and
 *   leaves its value after the list was taken: the value is never destroyed.
 *   Yes, with SWEEPS=1 (finish_destroy finds the value in the list).
 * - BUG_LEAVE_SPLIT: thread exit moves its values to the lists in one
 *   critical section and unlinks the block in a later one (leave_values
 *   copies a value without clearing its entry). A destroy between the two
 *   takes the value from the still linked block and again from the list:
 *   destroyed twice. Yes, with SWEEPS=1.
 * The lock-free store (issue 22):
 * - BUG_RESERVED: the withdrawn design of commit 7e105be: ctl_take left a
 *   reserved tag (generation | RES), and a store into a reserved entry
 *   refilled it without the mutex and without any liveness check (the tag
 *   "proved" the slot live); destroy's pass cleared reserved entries. A
 *   store that checked the tag before the pass and refills it after: the
 *   value stays in the dead slot's entry and is never destroyed. Yes, with
 *   NS=1 (and OPS=2, OTHERKEY): the thread stores, takes, and its other
 *   key's exit-time destructor stores again while the other thread destroys
 *   the slot (finish_destroy finds the entry).
 * - BUG_NORECHECK: no re-check after the publish (the liveness word read only
 *   before it). A destroy between the check and the publish leaves the
 *   value behind. Yes (finish_destroy finds the entry).
 * - BUG_PLAIN_CLEAR: the re-check finds the slot dying and clears the tag
 *   with a plain store instead of a compare-and-swap, returning false. If
 *   the walk took the value already, it is destroyed and also handed back
 *   to the caller. Yes (caller_keeps finds it held by the destroyer).
 * - BUG_WALK_CLEAR: destroy's walk clears a tag of another generation of its
 *   number (as 7e105be's pass cleared every tag it did not take). A store
 *   that published a value of generation 1 after that generation's walk
 *   and has not re-checked yet loses it to generation 2's destroy, and its
 *   re-check, whose compare-and-swap fails, returns true: the value is
 *   never destroyed. Yes, with one number destroyed, created and destroyed
 *   again meanwhile (NS=1, OPS=3: the re-check's assertion).
 */

#ifndef NT
#define NT 2 /* threads */
#endif
#ifndef NS
#define NS 2 /* slot numbers */
#endif
#ifndef NV
#define NV 4 /* values that can ever be stored */
#endif
#ifndef OPS
#define OPS 2 /* top-level operations per thread before it exits */
#endif
#ifndef REENTER
#define REENTER 2 /* re-entrant destructor actions, in all */
#endif
#ifndef ROUNDS
#define ROUNDS 4 /* libc's destructor rounds */
#endif
#ifndef SWEEPS
#define SWEEPS 1024 /* most sweeps per call of the store's key destructor (CTL_EXIT_SWEEPS) */
#endif
#ifndef COPIES
#define COPIES 1 /* copies of the store: slot number s belongs to copy COPY(s) */
#endif
#define COPY(s) ((s) % COPIES)
#ifndef MAXGEN
#define MAXGEN 2 /* generations per number before it is retired */
#endif
#ifndef OTHERKEY
#define OTHERKEY 1 /* another library's pthread key, set at exit or not */
#endif
#ifndef TAKE
#define TAKE 1 /* a store into an entry holding a value takes it (ctl_take) */
#endif
#ifndef NINIT
#define NINIT NS /* slots created before the threads start */
#endif

#ifndef LAZY
#define LAZY 0 /* lazy initialisation (begin, then finish or cancel) as a top-level operation */
#endif

#define NB NT /* blocks: block t is thread t's */
#define E(b, s) ((b) * NS + (s)) /* entry of slot number s in block b */
#define MINE(t) (t) /* the thread's block (linked while cur[t]) */
#if MAXGEN > 7
#error "usedgens holds generations 1..7, and a tag's flags are above them"
#endif

/* An entry's tag: 0 (empty), a generation g (a value), g | INIT (an
 * initialisation mark), or (BUG_RESERVED only) g | RES, a reserved entry. */
#define INIT 8
#define RES 16
#define GEN(x) ((x) & 7)
#define ISVALUE(x) ((x) != 0 && ((x) & (INIT | RES)) == 0)

/* The mutex, for the one critical section that spans two steps: a destroy's
 * liveness write and its walk (lock-free steps of other threads run in
 * between). Every other critical section is one atomic step guarded by MUTEX.
 * A store or an initialisation needs the mutex only to register (MAYREG). */
#define MUTEX (walker == 0)
#define MAYREG(t) (cur[t] || walker == 0)

#define FREE 0
#define LIVE 1
#define DYING 2   /* destroy in progress: marked dead */
#define DONE 3    /* destroy done, in-flight count not 0 yet (draining) */
#define RETIRED 4 /* generation exhausted: never reused */

#define CHECKER NT /* the thread id of the final check */

/* Reachability probes: with REACH=n in pan's environment the search must stop
 * at probe n ("assertion violated (reach!=n)"), which shows that the situation it marks is
 * actually explored. A run-time choice, so that the probes of one
 * configuration share one compiled pan (run.sh turns -DREACH=n into it). */
#define R_LEFTOVER 1     /* a value in a block never swept dies at slot destroy */
#define R_LASTDEC 2      /* the last in-flight decrement frees a destroyed number */
#define R_EXITDYING 3    /* an exiting thread destroys a value of a dying slot */
#define R_REREGISTER 4   /* a destructor's store registers an exiting thread anew */
#define R_FORKRUN 5      /* a fork child of a thread running an exit destructor */
#define R_NOWAIT 6       /* destroy returns while an exiting thread's call of its slot is in flight */
#define R_RETIRE 7       /* a number's generations are used up: it is retired */
#define R_LEAVE 8        /* values remain after the last sweep: left in their slot's list */
#define R_LEFTDESTROY 9  /* a thread's destroy destroys a value from its slot's list */
#define R_TAKESTORE 10   /* a store after the thread's take of the entry finds the slot dead: refused */
#define R_LEFTFINAL 11   /* the final destroy destroys a value from a slot's list */
#define R_FORKDRAIN 12   /* the fork child frees a draining number */
#define R_FORKSTUCK 13   /* fork child: a value of a number stuck DYING is never destroyed */
#define R_SWEEP2 14      /* a later sweep destroys a value stored during an earlier one */
#define R_EXITAGAIN 15   /* libc calls thread_exit again, in a later round, for a new block */
#define R_LEAVEDYING 16  /* an exiting thread leaves a value of a slot being destroyed */
#define R_FORKLEFT 17    /* the fork child drops a left value */
#define R_TAKEDYING 18   /* a take before a destroy's fallback pass reaches the entry */
#define R_RECLAIM 19     /* a store's re-check finds its slot dead and takes its value back (false) */
#define R_TOOK 20        /* a store's re-check finds its slot dead, and the destroy took the value (true) */
#define R_PENDING 21     /* a destroy finishes while a store's published tag awaits its re-check */
#define R_STALE 22       /* a store's re-check finds a newer slot on its number: takes back its own tag */
#define R_OTHERGEN 23    /* a destroy's walk finds another generation's tag and leaves it */
#define R_INITBACK 24    /* begin_initialization's re-check finds the slot dead: takes its mark back */
#define R_INITDROP 25    /* finish_initialization finds its mark gone: false (unreachable: only the owner changes its mark, and the model has no initialiser that stores itself) */
#define R_INITTOOK 26    /* a finished initialisation's value is taken by a racing destroy */
c_code {
int reach_probe(void)
{
    const char *e = getenv("REACH");
    return e ? atoi(e) : 0;
}
}
/* `reach`, the probe to reach (REACH) or 0, is a local of every process (read
 * by REACHED): reading a global would keep spin from merging steps. */
#define REACHED(n) assert(reach != n)

byte sstate[NS];
byte sgen[NS];
byte live[NS]; /* the liveness word: the generation while LIVE, else 0; read without the mutex */
byte walker;   /* thread id + 1 of a destroy between its liveness write and its walk (mutex held) */
byte inflight[NS];
byte usedgens[NS]; /* bit g: generation g was handed out on this number */
byte destroyer[NS]; /* thread id + 1 of the destroy in progress (DYING) */

byte tag[NB * NS]; /* entry (b, s) at E(b, s): see INIT above */
byte val[NB * NS];
bool cur[NT];   /* the thread's TLS pointer names its (linked) block, not the empty one */
byte lslot[NV + 1]; /* slot number + 1 whose left list holds the value, or 0 */
bool armed[NT]; /* the store's pthread key is set */
byte running[NT + 1]; /* slot number + 1 of the exit destructor running */
bool settled[NT + 1]; /* BUG_* only: destroy settled the running count */

byte nv; /* values stored so far */
byte destroyed[NV + 1];
bool taken[NV + 1]; /* ctl_take gave the value back to its thread */
bool dropped[NV + 1];
byte holder[NV + 1]; /* thread id + 1 that took the value to destroy it */

/* A thread's store (or lazy initialisation) in progress, without the mutex.
 * Stores run no destructor, so they never nest: one per thread. Global so
 * that a fork child can drop the value of a thread that vanished mid-store. */
byte sts[NT]; /* slot number + 1 */
byte stg[NT]; /* the handle's generation */
byte stv[NT]; /* the value */
bool stp[NT]; /* its tag (value or mark) is published; the re-check is still to come */

byte budget = REENTER;
byte done;
bool forked;
byte forker;
bool fdone; /* the fork child's thread is done */
#ifdef TOOKGEN
byte tookgen[NB * NS]; /* probe only: generation of the entry's last ctl_take */
#endif
byte sc; /* scratch index of one atomic step; 0 between steps */

/* ---- slots ---- */

inline free_number(s)
{
    assert(inflight[s] == 0 && sstate[s] == DONE);
#ifdef BUG_WRAP
    sstate[s] = FREE
#else
    if
    :: sgen[s] >= MAXGEN -> REACHED(R_RETIRE); sstate[s] = RETIRED
    :: else -> sstate[s] = FREE
    fi
#endif
}

inline finish_destroy(s)
{
    sstate[s] = DONE;
    destroyer[s] = 0;
    c = 0;
    do
    :: c < NB ->
        /* No entry left behind, but one that its owner published (a store's
         * value or an initialisation's mark, of this or an earlier generation
         * of the number) and has not re-checked yet: the liveness word is not
         * its generation, so the re-check takes it back; or the owner's
         * initialisation mark while its initialisation runs (it reads as
         * empty; finish re-checks, cancel removes it). */
        assert(tag[E(c, s)] == 0 ||
               (stp[c] && sts[c] == s + 1 && GEN(tag[E(c, s)]) == stg[c] && live[s] != stg[c]) ||
               (sts[c] == s + 1 && tag[E(c, s)] == (stg[c] | INIT)));
        if
        :: tag[E(c, s)] != 0 -> REACHED(R_PENDING)
        :: else
        fi;
        c++
    :: else -> c = 0; break
    od;
    do
    :: c < NV -> c++; assert(lslot[c] != s + 1) /* no value left behind */
    :: else -> c = 0; break
    od;
    if
    :: inflight[s] == 0 -> free_number(s)
    :: else
    fi
}

inline slot_create()
{
    atomic {
        c = 0;
        do
        :: c < NS && sstate[c] != FREE -> c++
        :: else -> break
        od;
        if
        :: c < NS ->
            assert(inflight[c] == 0);
#ifdef BUG_WRAP
            sgen[c] = sgen[c] % MAXGEN + 1;
#else
            sgen[c]++;
            assert(sgen[c] <= MAXGEN);
#endif
            assert((usedgens[c] & (1 << sgen[c])) == 0); /* no stale handle matches */
            usedgens[c] = usedgens[c] | (1 << sgen[c]);
            sstate[c] = LIVE;
            assert(live[c] == 0);
            live[c] = sgen[c] /* release, after the slot's info */
        :: else /* every number live or retired: CTL_ENOMEM */
        fi;
        c = 0
    }
}

inline pick_slot()
{
    c = 0;
    do
    :: c < NS - 1 -> c++
    :: break
    od
}

/* The final check's take of entry (kb, s), which holds a value of the
 * slot: empty it; `out` = its value. */
inline take_entry(kb, s, out)
{
    assert(tag[E(kb, s)] == sgen[s]);
    out = val[E(kb, s)];
    tag[E(kb, s)] = 0;
    val[E(kb, s)] = 0
}

/* A destroy's visit of entry (kb, s) (take_values), under the mutex: it
 * changes a tag only by compare-and-swap from its own generation's tags to
 * empty, so that it and a racing store never both own a value. A value:
 * taken (`out`, read after the CAS). An initialisation mark: left alone (the
 * owner's finish re-checks). Another generation's tag: left alone, its store takes it back
 * (BUG_WALK_CLEAR clears it). BUG_RESERVED: a reserved entry is cleared. */
inline walk_entry(t, kb, s, out)
{
    if
    :: tag[E(kb, s)] == sgen[s] ->
        assert(cur[kb]);
        out = val[E(kb, s)];
        tag[E(kb, s)] = 0;
        val[E(kb, s)] = 0;
        holder[out] = t + 1
#ifdef BUG_RESERVED
    :: tag[E(kb, s)] == (sgen[s] | RES) -> tag[E(kb, s)] = 0
#endif
    :: tag[E(kb, s)] != 0 && GEN(tag[E(kb, s)]) != sgen[s] ->
        REACHED(R_OTHERGEN);
#ifdef BUG_WALK_CLEAR
        tag[E(kb, s)] = 0;
        val[E(kb, s)] = 0
#else
        skip
#endif
    :: else
    fi
}

/* Destroy's take of slot s's left list: each value moves to the bit set lm. */
inline take_left(t, s, lm)
{
    sc = 1;
    do
    :: sc <= NV ->
        if
        :: lslot[sc] == s + 1 -> lslot[sc] = 0; holder[sc] = t + 1; lm = lm | (1 << sc)
        :: else
        fi;
        sc++
    :: else -> sc = 0; break
    od
}

/* The value `v` stays with (or goes back to) its thread: a store that
 * returned false, or ctl_take. It was never taken by a destroy. */
inline caller_keeps(v)
{
    assert(destroyed[v] == 0 && holder[v] == 0 && !taken[v]);
    taken[v] = true
}

/* A thread's registration (its first store ever), under the mutex: its block
 * linked, the TLS pointer set, the store's key set. */
inline register_thread(t)
{
    if
    :: !cur[t] ->
        cur[t] = true;
        armed[t] = true;
        if
        :: rounds > 0 -> REACHED(R_REREGISTER)
        :: else
        fi
    :: else
    fi
}

/* A store into some slot number c with its current handle, in up to three
 * steps. store_first is the first, run in the caller's atomic step (guarded
 * by MAYREG):
 * - an entry holding a value: ctl_take instead (one step, no mutex: the
 *   entry is emptied and the value goes back to its caller), even while a
 *   destroy in its fallback has not reached the entry yet; with TAKE=0,
 *   nothing;
 * - an empty entry (also one emptied by a take): if the liveness word is the
 *   handle's generation, register if need be (the mutex) and go on with
 *   store_rest; else refused (false). A store that does nothing new (no
 *   value ids left) or that is refused does not register here (the code
 *   registers first; an empty registered block changes nothing checked).
 * BUG_RESERVED (the design of 7e105be): the take leaves a reserved tag, and
 * a store into a reserved entry refills it without the mutex and without
 * looking at the liveness word: the reserved tag proves the slot live. */
inline store_first(t)
{
    pick_slot();
    if
    :: TAKE && cur[t] && tag[E(t, c)] == sgen[c] ->
        assert(sstate[c] == LIVE || sstate[c] == DYING);
        if
        :: sstate[c] == DYING -> REACHED(R_TAKEDYING)
        :: else
        fi;
#ifdef TOOKGEN
        tookgen[E(t, c)] = sgen[c];
#endif
        caller_keeps(val[E(t, c)]);
#ifdef BUG_RESERVED
        tag[E(t, c)] = sgen[c] | RES;
#else
        tag[E(t, c)] = 0;
#endif
        val[E(t, c)] = 0
    :: else ->
#ifdef TOOKGEN
        if
        :: tookgen[E(t, c)] != 0 && tookgen[E(t, c)] == sgen[c] && live[c] != sgen[c] -> REACHED(R_TAKESTORE)
        :: else
        fi;
#endif
        if
#ifdef BUG_RESERVED
        :: cur[t] && tag[E(t, c)] == (sgen[c] | RES) && nv < NV ->
            nv++;
            sts[t] = c + 1;
            stg[t] = sgen[c];
            stv[t] = nv;
            reserved = true
#endif
        :: live[c] == sgen[c] && tag[E(t, c)] == 0 && nv < NV ->
            assert(sstate[c] == LIVE);
            register_thread(t);
            nv++;
            sts[t] = c + 1;
            stg[t] = sgen[c];
            stv[t] = nv
        :: else /* dead slot (false), or nothing new to model */
        fi
    fi;
    c = 0
}

/* The re-check after a publish and a full fence (a store's, or
 * finish_initialization's): the liveness word still the handle's
 * generation: stored (true). Otherwise a destroy began: compare-and-swap the
 * tag from the generation to empty. Success: no destroy took it, the store
 * fails (false, the value stays the caller's); this is also how a store
 * racing an earlier destroy of the number takes back its own tag while a
 * newer slot is live there. Failure: a destroy took the value and destroys
 * it: the store landed before (true). BUG_PLAIN_CLEAR clears the tag
 * instead, whatever it holds, and returns false. */
inline store_recheck(t)
{
    atomic {
        stp[t] = false;
        if
        :: live[sts[t] - 1] == stg[t] /* true */
        :: else ->
#ifdef BUG_PLAIN_CLEAR
            tag[E(t, sts[t] - 1)] = 0;
            val[E(t, sts[t] - 1)] = 0;
            caller_keeps(stv[t])
#else
            if
            :: tag[E(t, sts[t] - 1)] == stg[t] ->
                if
                :: live[sts[t] - 1] != 0 -> REACHED(R_STALE)
                :: else -> REACHED(R_RECLAIM)
                fi;
                tag[E(t, sts[t] - 1)] = 0;
                val[E(t, sts[t] - 1)] = 0;
                caller_keeps(stv[t])
            :: else ->
                assert(tag[E(t, sts[t] - 1)] == 0 && (holder[stv[t]] != 0 || destroyed[stv[t]] == 1));
                if
                :: initing -> REACHED(R_INITTOOK)
                :: else -> REACHED(R_TOOK)
                fi
            fi
#endif
        fi;
        sts[t] = 0;
        stg[t] = 0;
        stv[t] = 0
    }
}

/* The rest of a store into an empty entry (ctl__set_slow), without the
 * mutex: publish (the value, then the tag: a compare-and-swap from empty in
 * the code), a full fence, and the re-check. The fence is implicit: spin
 * explores sequentially consistent interleavings only. BUG_NORECHECK: no
 * re-check (the liveness word read only before the publish). */
inline store_rest(t)
{
    if
    :: sts[t] != 0 ->
#ifdef BUG_RESERVED
        if
        :: reserved ->
            atomic {
                val[E(t, sts[t] - 1)] = stv[t];
                tag[E(t, sts[t] - 1)] = stg[t];
                sts[t] = 0;
                stg[t] = 0;
                stv[t] = 0;
                reserved = false
            }
        :: else ->
#endif
        atomic {
            assert(tag[E(t, sts[t] - 1)] == 0);
            val[E(t, sts[t] - 1)] = stv[t];
            tag[E(t, sts[t] - 1)] = stg[t];
#ifdef BUG_NORECHECK
            sts[t] = 0;
            stg[t] = 0;
            stv[t] = 0
#else
            stp[t] = true
#endif
        }
#ifndef BUG_NORECHECK
        store_recheck(t)
#endif
#ifdef BUG_RESERVED
        fi
#endif
    :: else
    fi
}

/* Lazy initialisation (LAZY), without the mutex but to register.
 * init_first: ctl_begin_initialization's first step, in the caller's atomic
 * step: a value held: CTL_EEXIST; the liveness word not the generation:
 * CTL_EINVAL; else register if need be and go on with init_rest. (CTL_EBUSY
 * needs a nested begin: not modelled.) */
inline init_first(t)
{
    pick_slot();
    if
    :: cur[t] && tag[E(t, c)] == sgen[c] /* CTL_EEXIST */
    :: else ->
        assert(tag[E(t, c)] == 0);
        if
        :: live[c] == sgen[c] ->
            register_thread(t);
            sts[t] = c + 1;
            stg[t] = sgen[c]
        :: else /* CTL_EINVAL */
        fi
    fi;
    c = 0
}

/* The rest of begin: the mark (a plain store), a full fence, the re-check:
 * dead: compare-and-swap the mark back to empty, CTL_EINVAL. Then the
 * initializer runs, and finish or cancel. finish_initialization: write the
 * value, replace the mark by the generation (the mark gone: false, the
 * value stays the caller's; only an initialiser that stores itself, not
 * modelled, removes it), a full fence, and the store's re-check.
 * cancel_initialization: the mark back to empty. */
inline init_rest(t)
{
    if
    :: sts[t] != 0 ->
        atomic {
            tag[E(t, sts[t] - 1)] = stg[t] | INIT;
            stp[t] = true
        }
        atomic {
            stp[t] = false;
            if
            :: live[sts[t] - 1] == stg[t] /* CTL_OK */
            :: else ->
                if
                :: tag[E(t, sts[t] - 1)] == (stg[t] | INIT) -> REACHED(R_INITBACK); tag[E(t, sts[t] - 1)] = 0
                :: else
                fi;
                sts[t] = 0;
                stg[t] = 0 /* CTL_EINVAL */
            fi
        }
        if
        :: sts[t] != 0 ->
            if
            :: atomic {
                    nv < NV ->
                    nv++;
                    stv[t] = nv;
                    if
                    :: tag[E(t, sts[t] - 1)] == (stg[t] | INIT) ->
                        val[E(t, sts[t] - 1)] = stv[t];
                        tag[E(t, sts[t] - 1)] = stg[t];
                        stp[t] = true;
                        initing = true
                    :: else -> /* false */
                        REACHED(R_INITDROP);
                        caller_keeps(stv[t]);
                        sts[t] = 0;
                        stg[t] = 0;
                        stv[t] = 0
                    fi
                }
                if
                :: stp[t] -> store_recheck(t); initing = false
                :: else
                fi
            :: atomic {
                    if
                    :: tag[E(t, sts[t] - 1)] == (stg[t] | INIT) -> tag[E(t, sts[t] - 1)] = 0
                    :: else
                    fi;
                    sts[t] = 0;
                    stg[t] = 0
                }
            fi
        :: else
        fi
    :: else
    fi
}

/* ---- fork ---- */

inline fork_op(t)
{
#ifdef FORK
    atomic {
        if
        :: forked /* one fork per run in the model */
        :: !forked /* parent: unlock */
        :: !forked -> /* child */
            if
            :: running[t] != 0 -> REACHED(R_FORKRUN)
            :: else
            fi;
            forker = t; /* first: `unless` below reads both */
            forked = true;
            /* Every block but the forking thread's own is freed, and every
             * left list: their values are dropped; so are the values of
             * stores that other threads were making. */
            c = 0;
            do
            :: c < NB * NS ->
                if
                :: c / NS != t ->
                    if
                    :: ISVALUE(tag[c]) -> dropped[val[c]] = true
                    :: else
                    fi;
                    tag[c] = 0;
                    val[c] = 0
                :: else
                fi;
                c++
            :: else -> break
            od;
            c = 0;
            do
            :: c < NT ->
                if
                :: c != t ->
                    cur[c] = false;
                    armed[c] = false;
                    if
                    :: stv[c] != 0 -> dropped[stv[c]] = true
                    :: else
                    fi;
                    sts[c] = 0;
                    stg[c] = 0;
                    stv[c] = 0;
                    stp[c] = false
                :: else
                fi;
                c++
            :: else -> break
            od;
            c = 1;
            do
            :: c <= NV ->
                if
                :: holder[c] != 0 && holder[c] != t + 1 -> dropped[c] = true
                :: else
                fi;
                if
                :: lslot[c] != 0 -> REACHED(R_FORKLEFT); dropped[c] = true; lslot[c] = 0
                :: else
                fi;
                c++
            :: else -> break
            od;
            c = 0;
            do
            :: c < NS ->
#ifdef BUG_FORK_ZERO
                inflight[c] = 0;
#else
                inflight[c] = (running[t] == c + 1 -> 1 : 0);
#endif
                /* A draining number is freed now if no count remains. A
                 * number whose destroy ran in a thread that does not exist
                 * here stays DYING: never freed in the child (a known,
                 * harmless leak of one number). */
                if
                :: sstate[c] == DONE && inflight[c] == 0 -> REACHED(R_FORKDRAIN); free_number(c)
                :: else
                fi;
                c++
            :: else -> break
            od;
            c = 0
        fi
    }
#endif
}

/* ---- destructors and destroy ---- */

/* After a destructor call: the store runs destructors with cancellation
 * disabled, so the call returns. BUG_CANCEL_DESTROY: cancellation enabled,
 * so a cancellation point in a destructor that a destroy runs may unwind
 * through the destroy, which then skips the rest of its work (its flag
 * `unwound_clears` is cleared). BUG_CANCEL_EXIT: the same in the exit sweep. */
#ifdef BUG_CANCEL_DESTROY
#define CANCEL_POINT(unwound_clears) if :: skip :: unwound_clears = false fi
#else
#define CANCEL_POINT(unwound_clears) skip
#endif

inline destroyed_event(t, v)
{
    atomic {
        destroyed[v]++;
        assert(destroyed[v] == 1 && !taken[v]);
        assert(holder[v] == t + 1);
        holder[v] = 0
    }
}

/* A destructor inside a destroy that is itself nested in a destructor. */
inline dtor_leaf(t, v)
{
    destroyed_event(t, v);
    if
    :: skip
    :: atomic { budget > 0 && MAYREG(t) -> budget--; store_first(t) }; store_rest(t)
    :: atomic { budget > 0 && MUTEX -> budget--; slot_create() }
#ifdef FORK
    :: atomic { budget > 0 && !forked && MUTEX -> budget--; fork_op(t) }
#endif
    fi
}

#define DESTROY destroy_leaf
#define D_CANCEL skip
#define D_GUARD budget > 0 && MUTEX -> budget--
#define DTOR dtor_leaf
#define D_S ls
#define D_OK lok
#define D_FB lfb
#define D_K lk
#define D_V lv
#define D_PEND lpend
#define D_LM llm
#include "destroy.inc"
#undef DESTROY
#undef D_CANCEL
#undef D_GUARD
#undef DTOR
#undef D_S
#undef D_OK
#undef D_FB
#undef D_K
#undef D_V
#undef D_PEND
#undef D_LM

inline dtor_full(t, v)
{
    destroyed_event(t, v);
    if
    :: skip
    :: atomic { budget > 0 && MAYREG(t) -> budget--; store_first(t) }; store_rest(t)
    :: atomic { budget > 0 && MUTEX -> budget--; slot_create() }
    :: destroy_leaf(t) /* its first step: budget > 0 && MUTEX -> budget-- */
#ifdef FORK
    :: atomic { budget > 0 && !forked && MUTEX -> budget--; fork_op(t) }
#endif
    fi
}

#define DESTROY destroy_full
#define D_CANCEL CANCEL_POINT(fok)
#define D_GUARD ops < OPS && MUTEX -> ops++
#define DTOR dtor_full
#define D_S fs
#define D_OK fok
#define D_FB ffb
#define D_K fk
#define D_V fv
#define D_PEND fpend
#define D_LM flm
#include "destroy.inc"
#undef DESTROY
#undef D_CANCEL
#undef D_GUARD
#undef DTOR
#undef D_S
#undef D_OK
#undef D_FB
#undef D_K
#undef D_V
#undef D_PEND
#undef D_LM

/* ---- thread exit ---- */

/* The decrement after an exit-time destructor returns; moves the sweep on. */
inline exit_decrement(t, s)
{
    atomic {
        MUTEX;
        ev = 0;
        if
        :: settled[t] -> settled[t] = false /* BUG_*: destroy settled it */
        :: else ->
            assert(inflight[s] > 0);
            inflight[s]--;
            running[t] = 0;
            if
            :: inflight[s] == 0 && sstate[s] == DONE -> REACHED(R_LASTDEC); free_number(s)
            :: else
            fi
        fi;
        es++
    }
}

/* The store's key destructor (thread_exit), called once per registration
 * (the key is never set again): up to SWEEPS sweeps of the thread's block in
 * slot order, stopping after a sweep that took nothing; then, in one critical
 * section, the TLS pointer goes back to the empty block, the values stored
 * during the last sweep move to their slots' left lists (leave_values), and
 * the block is unlinked and freed. */
inline key_destructor(t)
{
    assert(cur[t]);
    do
    :: atomic {
            sw < SWEEPS && (sw == 0 || found) ->
            if
            :: sw == 0 && rounds > 1 -> REACHED(R_EXITAGAIN)
            :: else
            fi;
            sw++;
            found = false;
            ev = 0
        };
#ifdef BUG_BATCH
        /* Old: each sweep takes the whole block (a batch of up to 64) at once, all of it
         * in flight; run the destructors one after another; then decrement. */
        atomic {
            MUTEX;
            es = 0;
            do
            :: es < NS ->
                if
                :: ISVALUE(tag[E(MINE(t), es)]) ->
                    bv[es] = val[E(MINE(t), es)];
                    bt[es] = true;
                    holder[bv[es]] = t + 1;
                    inflight[es]++;
                    found = true;
                    tag[E(MINE(t), es)] = 0;
                    val[E(MINE(t), es)] = 0
                :: else
                fi;
                es++
            :: else -> es = 0; break
            od
        }
        do
        :: es < NS ->
            if
            :: bv[es] != 0 ->
                running[t] = es + 1;
                dtor_full(t, bv[es]);
                atomic {
                    MUTEX;
                    bv[es] = 0;
                    running[t] = 0;
                    if
                    :: settled[t] -> settled[t] = false; bt[es] = false
                    :: else
                    fi
                }
            :: else
            fi;
            es++
        :: else -> es = 0; break
        od;
        atomic {
            MUTEX;
            do
            :: es < NS ->
                if
                :: bt[es] ->
                    assert(inflight[es] > 0);
                    inflight[es]--;
                    bt[es] = false;
                    if
                    :: inflight[es] == 0 && sstate[es] == DONE -> free_number(es)
                    :: else
                    fi
                :: else
                fi;
                es++
            :: else -> es = 0; break
            od
        }
#else
        /* es: the sweep's cursor; ev: the value taken, or 255 at the end. */
        do
        :: atomic {
                MUTEX;
                /* on to the next value; an initialisation mark (or, with
                 * BUG_RESERVED, a reserved entry) is cleared */
                do
                :: es < NS && !ISVALUE(tag[E(MINE(t), es)]) -> tag[E(MINE(t), es)] = 0; es++
                :: else -> break
                od;
                if
                :: es < NS ->
                    assert(tag[E(MINE(t), es)] == sgen[es]);
                    assert(sstate[es] == LIVE || sstate[es] == DYING);
#ifdef BUG_SKIP_DYING
                    if
                    :: sstate[es] == LIVE -> ev = val[E(MINE(t), es)]
                    :: else -> ev = 0 /* dying: cleared without its destructor */
                    fi;
#else
                    ev = val[E(MINE(t), es)];
                    if
                    :: sstate[es] == DYING -> REACHED(R_EXITDYING)
                    :: else
                    fi;
#endif
                    tag[E(MINE(t), es)] = 0;
                    val[E(MINE(t), es)] = 0;
                    if
                    :: ev != 0 ->
                        if
                        :: sw > 1 -> REACHED(R_SWEEP2)
                        :: else
                        fi;
                        holder[ev] = t + 1; inflight[es]++; running[t] = es + 1; found = true
                    :: else -> es++
                    fi
                :: else -> es = 0; ev = 255
                fi
            }
            if
            :: ev == 255 -> break
            :: ev != 255 && ev != 0 ->
                dtor_full(t, ev);
#ifdef BUG_CANCEL_EXIT
                if
                :: exit_decrement(t, es) /* also: es++, ev = 0 */
                :: goto exit_unwound /* the decrement and the rest are skipped */
                fi
#else
                exit_decrement(t, es) /* also: es++, ev = 0 */
#endif
            :: ev == 0
            fi
        od;
#endif
    :: atomic { else -> break }
    od;
    atomic {
        MUTEX;
        sc = 0;
        do
        :: sc < NS ->
            if
            :: ISVALUE(tag[E(MINE(t), sc)]) ->
                assert(tag[E(MINE(t), sc)] == sgen[sc]);
                assert(sstate[sc] == LIVE || sstate[sc] == DYING);
                REACHED(R_LEAVE);
                if
                :: sstate[sc] == DYING -> REACHED(R_LEAVEDYING)
                :: else
                fi;
                lslot[val[E(MINE(t), sc)]] = sc + 1
            :: else
            fi;
#ifndef BUG_LEAVE_SPLIT
            tag[E(MINE(t), sc)] = 0;
            val[E(MINE(t), sc)] = 0;
#endif
            sc++
        :: else -> sc = 0; break
        od;
#ifndef BUG_LEAVE_SPLIT
        cur[t] = false;
#endif
        sw = 0;
        found = false;
        ev = 0
    };
#ifdef BUG_LEAVE_SPLIT
    /* The block is unlinked and freed in a later critical section. */
    atomic {
        MUTEX;
        do
        :: sc < NS -> tag[E(MINE(t), sc)] = 0; val[E(MINE(t), sc)] = 0; sc++
        :: else -> sc = 0; break
        od;
        cur[t] = false
    };
#endif
#ifdef BUG_CANCEL_EXIT
    goto exit_over;
exit_unwound:
    /* libc goes on with its rounds; the block stays linked and current, and
     * the in-flight count is never decremented. */
    atomic { sw = 0; found = false; ev = 0; es = 0 };
exit_over:
#endif
    skip
}

/* Another library's pthread key destructor, run by libc on thread exit. */
inline other_key_destructor(t)
{
    if
    :: skip
    :: atomic { budget > 0 && MAYREG(t) -> budget--; store_first(t) }; store_rest(t)
    :: atomic { budget > 0 && MAYREG(t) -> budget--; store_first(t); other = true }; store_rest(t)
    fi
}

proctype Thread(byte t; byte reach)
{
    byte c, ops, rounds, es, ev, sw;
    bool other, otherfirst, found;
    byte ls, lk, lv, fs, fk, fv;
    bool lok, lfb, fok, ffb;
    byte llm, flm; /* the left values a destroy took: bit v for value v */
    byte lpend[NB], fpend[NB];
    bool initing; /* the store being re-checked is a finish_initialization */
#ifdef BUG_RESERVED
    bool reserved; /* the store refills a reserved entry */
#endif
#ifdef BUG_BATCH
    byte bv[NS];
    bool bt[NS];
#endif

    {
        do
        :: atomic { ops < OPS && MAYREG(t) -> ops++; store_first(t) }; store_rest(t)
        :: atomic { ops < OPS && MUTEX -> ops++; slot_create() }
        :: destroy_full(t) /* its first step: ops < OPS && MUTEX -> ops++ */
#ifdef FORK
        :: atomic { ops < OPS && MUTEX -> ops++; fork_op(t) }
#endif
#if LAZY
        :: atomic { ops < OPS && MAYREG(t) -> ops++; init_first(t) }; init_rest(t)
#endif
        :: ops >= OPS -> break
        od;
        /* pthread_exit: libc's destructor rounds. Besides the store's key,
         * another library's key may be set; its destructor may store a
         * value (a store after thread_exit registers a new block) and
         * set its own key again. Within a round, libc calls the keys in key
         * order: the other key comes before or after the store's. */
#if OTHERKEY
        if
        :: skip
        :: other = true
        :: other = true; otherfirst = true
        fi;
#endif
        do
        :: atomic { rounds < ROUNDS && (armed[t] || other) -> rounds++ };
            if
            :: atomic { otherfirst && other -> other = false }; other_key_destructor(t)
            :: else
            fi;
            if
            :: atomic { armed[t] -> armed[t] = false }; key_destructor(t)
            :: else
            fi;
            if
            :: atomic { !otherfirst && other -> other = false }; other_key_destructor(t)
            :: else
            fi
        :: atomic { else -> rounds = 0; ops = 0; other = false; otherfirst = false; break }
        od;
        atomic {
            done++;
            if
            :: forked && forker == t -> fdone = true
            :: else
            fi
        }
    }
#ifdef FORK
    unless { forked && forker != t }
#endif
}

init {
    byte c, s, v, reach;
    atomic {
        c_code { Pinit->reach = reach_probe(); };
        s = 0;
        do
        :: s < NINIT -> slot_create(); s++
        :: else -> s = 0; break
        od;
        c = 0;
        do
        :: c < NT -> run Thread(c, reach); c++
        :: else -> c = 0; break
        od
    }
    /* Every thread is gone (or, in a fork child, the forking one). */
    (done == NT || fdone);
    atomic {
        /* Destroy every slot still live, as a thread that runs no exit
         * destructor: values in blocks registered in libc's last round (never
         * swept) and values in left lists die here. */
        s = 0;
        do
        :: s < NS ->
            if
            :: sstate[s] == LIVE ->
                sstate[s] = DYING;
                live[s] = 0;
                destroyer[s] = CHECKER + 1;
                c = 0;
                do
                :: c < NB ->
                    if
                    :: tag[E(c, s)] != 0 && !ISVALUE(tag[E(c, s)]) -> tag[E(c, s)] = 0 /* BUG_RESERVED */
                    :: ISVALUE(tag[E(c, s)]) ->
                        assert(cur[c]);
                        take_entry(c, s, v);
                        REACHED(R_LEFTOVER);
                        holder[v] = CHECKER + 1;
                        destroyed_event(CHECKER, v);
                        v = 0
                    :: else
                    fi;
                    c++
                :: else -> break
                od;
                v = 1;
                do
                :: v <= NV ->
                    if
                    :: lslot[v] == s + 1 ->
                        REACHED(R_LEFTFINAL);
                        lslot[v] = 0;
                        holder[v] = CHECKER + 1;
                        destroyed_event(CHECKER, v)
                    :: else
                    fi;
                    v++
                :: else -> v = 0; break
                od;
                assert(inflight[s] == 0);
                finish_destroy(s)
            :: else
            fi;
            s++
        :: else -> break
        od;
        /* Fork child: a value of a number whose destroy ran in a vanished
         * thread (its malloc fallback had not reached the value) that stays
         * in the forking thread's block registered in the last round (never
         * swept), or that the forking thread left at its exit in the child,
         * is never destroyed there. Everything else is gone now. */
        c = 0;
        do
        :: c < NB * NS ->
            if
            :: tag[c] != 0 ->
                assert(forked && sstate[c % NS] == DYING && destroyer[c % NS] != forker + 1);
                REACHED(R_FORKSTUCK);
                dropped[val[c]] = true
            :: else
            fi;
            c++
        :: else -> break
        od;
        /* No value is left in a list, but for the same case: the forking
         * thread left it there at its exit in the child. */
        c = 1;
        do
        :: c <= NV ->
            if
            :: lslot[c] != 0 ->
                assert(forked && sstate[lslot[c] - 1] == DYING && destroyer[lslot[c] - 1] != forker + 1);
                REACHED(R_FORKSTUCK);
                dropped[c] = true
            :: else
            fi;
            c++
        :: else -> break
        od;
        /* Every value destroyed exactly once or taken back by its thread,
         * unless a fork child dropped it. */
        c = 1;
        do
        :: c <= nv ->
            assert(destroyed[c] + taken[c] == 1 || (dropped[c] && destroyed[c] + taken[c] == 0));
            c++
        :: else -> break
        od;
        /* Every number free or retired, except (fork child) one whose
         * destroy ran in a thread that does not exist there. */
        s = 0;
        do
        :: s < NS ->
            assert(inflight[s] == 0);
            assert(sstate[s] == FREE || sstate[s] == RETIRED ||
                   (forked && sstate[s] == DYING && destroyer[s] != forker + 1));
            s++
        :: else -> break
        od
    }
}
