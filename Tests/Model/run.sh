#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks the slot store's lock protocol model (store.pml) with spin: the
# protocol must hold in every configuration (exhaustive search, 0 errors),
# and every bug variant and reachability probe must produce a
# counterexample of the expected kind. The last line is `N passed, M failed`;
# the exit status is non-zero if any check failed.
#
# Usage: Tests/Model/run.sh [NAME-FILTER]   (a grep -E pattern on check names)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
filter=${1:-.}

bash "$here/../../.ci/install-tools.sh" spin || {
    echo "error: spin is missing and could not be installed" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# pan is compiled with cc (the run is faster), or, for a check that expects
# an error (its run stops early), with clang if it is there (it compiles
# three times faster): the Swift toolchain's, or the system's.
quickcc=cc
toolchain=$(command -v swift >/dev/null && dirname "$(readlink -f "$(command -v swift)")")
if [ -n "$toolchain" ] && [ -x "$toolchain/clang" ]; then quickcc=$toolchain/clang
elif command -v clang >/dev/null; then quickcc=clang; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# cpu: sets `seconds` to the CPU time (user and system) of this script's
# finished children (`times` runs in this shell, not in a subshell).
cpu() {
    times >"$work/times"
    seconds=$(tail -1 "$work/times" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }')
}

passed=0
failed=0

# check NAME EXPECT [spin -D flags...]
#   EXPECT: `ok` (0 errors, search complete), or an extended regex that the
#        first error pan reports must match.
#   A flag -DREACH=n is passed to pan as REACH=n in its environment (the
#   probe is chosen at run time), so that the checks with the same other
#   flags share one compiled pan. pan is compiled with -O0: -O2 takes 20
#   times longer to compile (40 s) and gains a third at run time, which
#   even the largest run here does not win back.
check() {
    local name=$1 expect=$2
    shift 2
    [[ $name =~ $filter ]] || return 0
    local flags=() reach=0 flag
    for flag in "$@"; do
        if [[ $flag =~ ^-DREACH=([0-9]+)$ ]]; then reach=${BASH_REMATCH[1]}; else flags+=("$flag"); fi
    done
    local key bin dir=$work/$name start seconds
    cpu
    start=$seconds
    key=$(printf '%s\n' "${flags[@]}" | sort | tr '\n' ' ' | md5sum | cut -c1-12)
    bin=$work/pan-$key
    mkdir -p "$dir"
    local verdict detail
    local compiler=cc
    [ "$expect" = ok ] || compiler=$quickcc
    if [ ! -x "$bin/pan" ]; then
        mkdir -p "$bin"
        cp "$here/store.pml" "$here/destroy.inc" "$bin/"
        if ! (cd "$bin" && spin -a "${flags[@]}" store.pml >spin.log 2>&1); then
            verdict=FAIL detail="spin -a failed: $(head -3 "$bin/spin.log")"
        elif ! (cd "$bin" && "$compiler" -O0 -w -DSAFETY -DCOLLAPSE -DVECTORSZ=1024 -DMEMLIM=1536 \
            -o pan pan.c >cc.log 2>&1); then
            verdict=FAIL detail="cc failed: $(head -3 "$bin/cc.log")"
        fi
    fi
    if [ -z "${verdict:-}" ]; then
        # A hash table of 2^24 slots for a complete search, 2^20 for a run that
        # stops at its first error (its allocation is most of a short run).
        local hash=-w24
        [ "$expect" = ok ] || hash=-w20
        (cd "$dir" && REACH=$reach "$bin/pan" -m100000 "$hash" >pan.log 2>&1)
        local log=$dir/pan.log errors states first memory
        errors=$(grep -oE 'errors: [0-9]+' "$log" | grep -oE '[0-9]+' || echo '?')
        states=$(grep -oE '^ *[0-9.e+]+ states, stored' "$log" | grep -oE '[0-9.e+]+' | head -1)
        first=$(grep -m1 -E '^pan:1: ' "$log" || true)
        cpu
        memory=$(grep -oE '^ *[0-9.]+\s+total actual memory usage' "$log" | grep -oE '[0-9]+' | head -1)
        detail="${states:-?} states, $(awk "BEGIN { printf \"%.0f\", $seconds - $start }") s CPU, ${memory:-?} MB"
        if grep -qE 'max search depth too small|out of memory|MEMLIM' "$log"; then
            verdict=FAIL detail="$detail; search incomplete: $(grep -m1 -E 'too small|memory|MEMLIM' "$log")"
        elif [ "$expect" = ok ]; then
            if [ "$errors" = 0 ]; then verdict=pass; else verdict=FAIL detail="$detail; $first"; fi
        elif [ "$errors" != 0 ] && [ "$errors" != '?' ] && [[ $first =~ $expect ]]; then
            verdict=pass detail="$detail; found: ${first#pan:1: }"
        else
            verdict=FAIL detail="$detail; expected an error matching '$expect', got: ${first:-none}"
        fi
    fi
    if [ "$verdict" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf '%-4s %-22s %s\n' "$verdict" "$name" "$detail"
}

deadlock='invalid end state'
lost='assertion violated \(\(\(destroyed\[c\]\+taken\[c\]\)==1\)'
left_behind='assertion violated \(+tag\[.*\]==0\)\|\|\(+stp'

# The protocol as implemented: exhaustive, 0 errors. Defaults: 2 threads,
# 2 slot numbers, 2 operations per thread, 2 re-entrant destructor actions,
# 4 libc rounds, up to 1024 sweeps per exit call (a sweep that runs no
# destructor stops them, long before within the re-entrant budget), 2
# generations per number. With fewer sweeps (SWEEPS=1 or 2) the re-entrant
# budget suffices to leave values after the last sweep: the left-value
# checks. A store into an entry holding a value takes it (ctl_take empties
# the entry; a later store there is an ordinary store into an empty entry),
# except in slots3 and fork (TAKE=0: it does nothing there), which check what
# they add (a third slot, fork with every slot's destroy) without the takes
# that base, other-key and left* explore. slots3 runs with one re-entrant
# action: with two it took 31 million states (70 s) once a store became
# three steps.
check base ok -DOTHERKEY=0
check other-key ok -DOPS=1
check other-key-rounds2 ok -DOPS=1 -DROUNDS=2
check slots3 ok -DNS=3 -DREENTER=1 -DOTHERKEY=0 -DTAKE=0
check threads3 ok -DNT=3 -DOPS=1 -DREENTER=1 -DOTHERKEY=0
check maxgen1 ok -DMAXGEN=1 -DOTHERKEY=0
check fork ok -DFORK -DOTHERKEY=0 -DTAKE=0
check left ok -DSWEEPS=1 -DOTHERKEY=0
check left-sweeps2 ok -DSWEEPS=2 -DOTHERKEY=0
check left-other-key ok -DSWEEPS=1 -DOPS=1
check left-fork ok -DSWEEPS=1 -DFORK -DOTHERKEY=0
# Two copies of the store (slot 0 in one, slot 1 in the other): exit-time
# destructors of each destroy the other's slot.
check cross-copies ok -DCOPIES=2 -DOTHERKEY=0
# Lazy initialisation (begin, then finish or cancel) as a top-level operation.
check lazy ok -DLAZY=1 -DOTHERKEY=0
# One number destroyed, created and destroyed again while a store of its
# first generation waits for its re-check (the walk must leave its tag, as
# bug-walk-clear shows).
check reuse ok -DNS=1 -DOPS=3 -DREENTER=0 -DOTHERKEY=0 -DTAKE=0
# One slot number, with two operations and another library's key: a
# thread stores, takes, and stores again from its other key's exit-time
# destructor while the other thread destroys the slot (bug-reserved).
check take-restore ok -DNS=1

# Each probe marks a situation the checks above must actually reach.
check reach-leftover 'assertion violated \(reach!=1\)' -DREACH=1 -DOPS=1 -DROUNDS=2
check reach-lastdec 'assertion violated \(reach!=2\)' -DREACH=2 -DOTHERKEY=0
check reach-exitdying 'assertion violated \(reach!=3\)' -DREACH=3 -DOTHERKEY=0
check reach-reregister 'assertion violated \(reach!=4\)' -DREACH=4 -DOPS=1
check reach-forkrun 'assertion violated \(reach!=5\)' -DREACH=5 -DFORK -DOTHERKEY=0
check reach-nowait 'assertion violated \(reach!=6\)' -DREACH=6 -DOTHERKEY=0
check reach-retire 'assertion violated \(reach!=7\)' -DREACH=7 -DOTHERKEY=0
check reach-leave 'assertion violated \(reach!=8\)' -DREACH=8 -DSWEEPS=2 -DOTHERKEY=0
check reach-leftdestroy 'assertion violated \(reach!=9\)' -DREACH=9 -DSWEEPS=1 -DOTHERKEY=0
check reach-takestore 'assertion violated \(reach!=10\)' -DREACH=10 -DTOOKGEN -DOPS=1
check reach-leftfinal 'assertion violated \(reach!=11\)' -DREACH=11 -DSWEEPS=1 -DOTHERKEY=0
check reach-forkdrain 'assertion violated \(reach!=12\)' -DREACH=12 -DFORK -DOTHERKEY=0
check reach-forkstuck 'assertion violated \(reach!=13\)' -DREACH=13 -DSWEEPS=1 -DFORK -DOTHERKEY=0
check reach-sweep2 'assertion violated \(reach!=14\)' -DREACH=14 -DOTHERKEY=0
check reach-exitagain 'assertion violated \(reach!=15\)' -DREACH=15 -DOPS=1
check reach-leavedying 'assertion violated \(reach!=16\)' -DREACH=16 -DSWEEPS=1 -DOTHERKEY=0
check reach-forkleft 'assertion violated \(reach!=17\)' -DREACH=17 -DSWEEPS=1 -DFORK -DOTHERKEY=0
check reach-takedying 'assertion violated \(reach!=18\)' -DREACH=18 -DOTHERKEY=0
check reach-reclaim 'assertion violated \(reach!=19\)' -DREACH=19 -DOTHERKEY=0
check reach-took 'assertion violated \(reach!=20\)' -DREACH=20 -DOTHERKEY=0
check reach-pending 'assertion violated \(reach!=21\)' -DREACH=21 -DOTHERKEY=0
check reach-stale 'assertion violated \(reach!=22\)' -DREACH=22 -DOTHERKEY=0
check reach-othergen 'assertion violated \(reach!=23\)' -DREACH=23 -DNS=1 -DOPS=3 -DREENTER=0 -DOTHERKEY=0 -DTAKE=0
check reach-initback 'assertion violated \(reach!=24\)' -DREACH=24 -DLAZY=1 -DOTHERKEY=0
check reach-inittook 'assertion violated \(reach!=26\)' -DREACH=26 -DLAZY=1 -DOTHERKEY=0

# The old protocol's bugs: each must give a counterexample of its kind.
check bug-batch "$deadlock" -DBUG_BATCH -DOTHERKEY=0
check bug-batch-1thread "$deadlock" -DBUG_BATCH -DNT=1 -DOTHERKEY=0
check bug-wait "$deadlock" -DBUG_WAIT -DOTHERKEY=0
check bug-skip-dying "$lost" -DBUG_SKIP_DYING -DOTHERKEY=0
check bug-wrap 'assertion violated \(\(usedgens' -DBUG_WRAP -DMAXGEN=1 -DOTHERKEY=0
check bug-fork-zero 'assertion violated \(inflight\[es\]>0\)' -DBUG_FORK_ZERO -DFORK -DOTHERKEY=0
# The rule before destroy stopped waiting holds for one copy, not for two.
check old-wait-one-copy ok -DBUG_CROSS_WAIT -DCOPIES=1 -DOTHERKEY=0
check bug-cross-wait "$deadlock" -DBUG_CROSS_WAIT -DCOPIES=2 -DOTHERKEY=0
check bug-cancel-exit 'assertion violated \(inflight\[s\]==0\)' -DBUG_CANCEL_EXIT -DOTHERKEY=0
check bug-cancel-destroy 'assertion violated \(\(destroyed\[c\]==1\)|assertion violated \(\(\(sstate' -DBUG_CANCEL_DESTROY -DOTHERKEY=0
# Seeded mistakes in values left at exit.
check bug-left-first 'assertion violated \(lslot\[c\]!=' -DBUG_LEFT_FIRST -DSWEEPS=1 -DOTHERKEY=0
check one-pass-left-first ok -DBUG_LEFT_FIRST -DONEPASS -DSWEEPS=1 -DOTHERKEY=0
check bug-leave-split 'assertion violated \(\(destroyed\[[a-z]+\]==1\)' -DBUG_LEAVE_SPLIT -DSWEEPS=1 -DOTHERKEY=0
# The lock-free store: the withdrawn design of 7e105be (a reserved entry
# refilled without the mutex and without a check), and the handshake with a
# step left out or done wrong.
check bug-reserved "$left_behind" -DBUG_RESERVED -DNS=1
check bug-norecheck "$left_behind" -DBUG_NORECHECK -DOTHERKEY=0
check bug-plain-clear 'assertion violated \(\(\(destroyed\[stv\[t\]\]==0\)&&\(holder' -DBUG_PLAIN_CLEAR -DOTHERKEY=0
check bug-walk-clear 'assertion violated \(\(tag\[.*\]==0\)&&\(\(holder\[stv' -DBUG_WALK_CLEAR -DNS=1 -DOPS=3 -DREENTER=0 -DOTHERKEY=0 -DTAKE=0

cpu
echo "CPU time: $(awk "BEGIN { printf \"%.0f\", $seconds }") s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
