/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Promela model of the slot store's lock protocol (CThreadLocals.c): slot
 * create and destroy, a thread's registration on its first store, ctl_take
 * (which empties the entry), thread exit as libc drives it through the
 * store's pthread key, values left at exit in their slots'
 * lists, re-entrant destructors, and fork(). Checked exhaustively with spin;
 * see README.md and run.sh.
 *
 * What is modelled
 * - One mutex. Every critical section is one `atomic` step: no critical
 *   section of the protocol blocks or waits while holding the mutex, so
 *   running it as one indivisible step has the same interleavings of what
 *   others can observe. Nothing waits for another thread: destroy returns
 *   while exiting threads' destructor calls of its slot are in flight (the
 *   number drains). The older waits (BUG_* switches below) are blocking
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
 * - Blocks: thread t has block t, of NS entries. An entry's tag is 0 (empty)
 *   or g (a value of generation g; the value is a value id 1..NV). cur[t] says
 *   whether the thread's TLS pointer names its block, which is then linked
 *   into the list of blocks, or the shared empty block. A store on the empty
 *   block registers: the block is linked, the TLS pointer set, and the
 *   store's key set (armed). A freed block is empty and unlinked, so a later
 *   registration of the same thread uses block t again.
 * - Stores: pick a slot number and use its current generation. An entry
 *   holding a value is taken instead (ctl_take: the entry is emptied and the
 *   value goes back to its caller, taken[v]); an empty entry is filled under
 *   the mutex if the slot is live (ctl__set_slow), registering first if need
 *   be, and the store is refused otherwise; a store after a take is such a
 *   store. ctl_take runs without the mutex and is one step here: the only
 *   other writer of the entry is a destroy of its slot, and the contract
 *   forbids using a slot concurrently with its destruction, which is what a
 *   take split by the destroy's pass would be. At the granularity of one
 *   step the model still lets a take fall between a destroy's mark and its
 *   pass (the malloc fallback): the pass then finds the entry empty.
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
 *   block, and at the end every list is empty (but for the fork child's gap
 *   above).
 * - No stale handle match: a new generation on a number was never used on it
 *   before, so a handle of a destroyed slot never matches a later slot's
 *   entry; and, as above, a destroy leaves no entry of its slot behind.
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
 * - Memory ordering and the lock-free fast paths (get/set of a value the
 *   thread holds, signal handlers): the model is sequentially consistent and
 *   only models what happens under the mutex, ctl_take as one step, and
 *   unlocked destructor runs.
 * - The mutex itself: critical sections are atomic steps, so a mutex bug
 *   (re-initialising a held mutex in the fork child, say) is out of reach.
 * - Fairness: the protocol has no wait left; spin checks safety.
 * - Value overwrite and begin/finish/cancel initialisation: they change one
 *   entry of the caller's own block, under the mutex or only while it is
 *   the caller's (like a store or a take); the exit sweep and destroy's pass
 *   clear an initialisation mark without running a destructor.
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

#define NB NT /* blocks: block t is thread t's */
#define E(b, s) ((b) * NS + (s)) /* entry of slot number s in block b */
#define MINE(t) (t) /* the thread's block (linked while cur[t]) */
#if MAXGEN > 7
#error "usedgens holds generations 1..7"
#endif

#define FREE 0
#define LIVE 1
#define DYING 2   /* destroy in progress: marked dead */
#define DONE 3    /* destroy done, in-flight count not 0 yet (draining) */
#define RETIRED 4 /* generation exhausted: never reused */

#define CHECKER NT /* the thread id of the final check */

/* Reachability probes: with -DREACH=n the model must fail at probe n, which
 * shows that the situation it marks is actually explored. */
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
#ifdef REACH
#define REACHED(n) assert(REACH != n)
#else
#define REACHED(n) skip
#endif

byte sstate[NS];
byte sgen[NS];
byte inflight[NS];
byte usedgens[NS]; /* bit g: generation g was handed out on this number */
byte destroyer[NS]; /* thread id + 1 of the destroy in progress (DYING) */

byte tag[NB * NS]; /* entry (b, s) at E(b, s): 0 or a generation */
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

byte budget = REENTER;
byte done;
bool forked;
byte forker;
bool fdone; /* the fork child's thread is done */
#if REACH == R_TAKESTORE
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
    :: c < NB -> assert(tag[E(c, s)] == 0); c++ /* no entry left behind */
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
            sstate[c] = LIVE
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

/* Destroy's take of entry (kb, s) (take_values), which holds a value of the
 * slot: empty it; `out` = its value. */
inline take_entry(kb, s, out)
{
    assert(tag[E(kb, s)] == sgen[s]);
    out = val[E(kb, s)];
    tag[E(kb, s)] = 0;
    val[E(kb, s)] = 0
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

/* A store into some slot number c with its current handle:
 * - an entry holding a value: ctl_take instead (the entry is emptied, the
 *   value goes back to its caller), even while a destroy in its fallback
 *   has not reached the entry yet; with TAKE=0, nothing;
 * - an empty entry (also one emptied by a take): filled under the mutex if
 *   the slot is live, else refused; a thread on the empty block registers
 *   first: its block linked, the key set. */
inline slot_store(t)
{
    atomic {
        pick_slot();
        if
        :: TAKE && cur[t] && tag[E(t, c)] == sgen[c] ->
            assert(sstate[c] == LIVE || sstate[c] == DYING);
            assert(!taken[val[E(t, c)]] && destroyed[val[E(t, c)]] == 0 && holder[val[E(t, c)]] == 0);
            if
            :: sstate[c] == DYING -> REACHED(R_TAKEDYING)
            :: else
            fi;
#if REACH == R_TAKESTORE
            tookgen[E(t, c)] = sgen[c];
#endif
            taken[val[E(t, c)]] = true;
            tag[E(t, c)] = 0;
            val[E(t, c)] = 0
        :: else ->
#if REACH == R_TAKESTORE
            if
            :: tookgen[E(t, c)] != 0 && tookgen[E(t, c)] == sgen[c] && sstate[c] != LIVE -> REACHED(R_TAKESTORE)
            :: else
            fi;
#endif
            if
            :: sstate[c] == LIVE && tag[E(t, c)] == 0 && nv < NV ->
                if
                :: !cur[t] -> /* register: link the block, set the key */
                    cur[t] = true;
                    armed[t] = true;
                    if
                    :: rounds > 0 -> REACHED(R_REREGISTER)
                    :: else
                    fi
                :: else
                fi;
                nv++;
                tag[E(t, c)] = sgen[c];
                val[E(t, c)] = nv
            :: else /* dead slot, or nothing new to model */
            fi
        fi;
        c = 0
    }
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
             * left list: their values are dropped. */
            c = 0;
            do
            :: c < NB * NS ->
                if
                :: c / NS != t && tag[c] != 0 ->
                    dropped[val[c]] = true;
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
                :: c != t -> cur[c] = false; armed[c] = false
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
    :: atomic { budget > 0 -> budget--; slot_store(t) }
    :: atomic { budget > 0 -> budget--; slot_create() }
#ifdef FORK
    :: atomic { budget > 0 && !forked -> budget--; fork_op(t) }
#endif
    fi
}

#define DESTROY destroy_leaf
#define D_CANCEL skip
#define D_GUARD budget > 0 -> budget--
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
    :: atomic { budget > 0 -> budget--; slot_store(t) }
    :: atomic { budget > 0 -> budget--; slot_create() }
    :: destroy_leaf(t) /* its first step: budget > 0 -> budget-- */
#ifdef FORK
    :: atomic { budget > 0 && !forked -> budget--; fork_op(t) }
#endif
    fi
}

#define DESTROY destroy_full
#define D_CANCEL CANCEL_POINT(fok)
#define D_GUARD ops < OPS -> ops++
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
            es = 0;
            do
            :: es < NS ->
                if
                :: tag[E(MINE(t), es)] != 0 ->
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
                /* on to the next value */
                do
                :: es < NS && tag[E(MINE(t), es)] == 0 -> es++
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
        sc = 0;
        do
        :: sc < NS ->
            if
            :: tag[E(MINE(t), sc)] != 0 ->
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
    :: atomic { budget > 0 -> budget--; slot_store(t) }
    :: atomic { budget > 0 -> budget--; slot_store(t); other = true }
    fi
}

proctype Thread(byte t)
{
    byte c, ops, rounds, es, ev, sw;
    bool other, otherfirst, found;
    byte ls, lk, lv, fs, fk, fv;
    bool lok, lfb, fok, ffb;
    byte llm, flm; /* the left values a destroy took: bit v for value v */
    byte lpend[NB], fpend[NB];
#ifdef BUG_BATCH
    byte bv[NS];
    bool bt[NS];
#endif

    {
        do
        :: atomic { ops < OPS -> ops++; slot_store(t) }
        :: atomic { ops < OPS -> ops++; slot_create() }
        :: destroy_full(t) /* its first step: ops < OPS -> ops++ */
#ifdef FORK
        :: atomic { ops < OPS -> ops++; fork_op(t) }
#endif
        :: else -> break
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
    byte c, s, v;
    atomic {
        s = 0;
        do
        :: s < NINIT -> slot_create(); s++
        :: else -> s = 0; break
        od;
        c = 0;
        do
        :: c < NT -> run Thread(c); c++
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
                destroyer[s] = CHECKER + 1;
                c = 0;
                do
                :: c < NB ->
                    if
                    :: tag[E(c, s)] != 0 ->
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
