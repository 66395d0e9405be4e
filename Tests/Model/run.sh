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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# check NAME OPT EXPECT [spin -D flags...]
#   OPT: the C optimisation level of pan (-O2 for the largest exhaustive runs;
#        -O0 compiles 6x faster and wins for runs of a few seconds or less).
#   EXPECT: `ok` (0 errors, search complete), or an extended regex that the
#        first error pan reports must match.
check() {
    local name=$1 opt=$2 expect=$3
    shift 3
    [[ $name =~ $filter ]] || return 0
    local dir=$work/$name start=$SECONDS
    mkdir -p "$dir"
    cp "$here/store.pml" "$here/destroy.inc" "$dir/"
    local verdict detail
    if ! (cd "$dir" && spin -a "$@" store.pml >spin.log 2>&1); then
        verdict=FAIL detail="spin -a failed: $(head -3 "$dir/spin.log")"
    elif ! (cd "$dir" && cc "$opt" -DSAFETY -DCOLLAPSE -DVECTORSZ=1024 -DMEMLIM=1536 \
        -o pan pan.c >cc.log 2>&1); then
        verdict=FAIL detail="cc failed: $(head -3 "$dir/cc.log")"
    else
        (cd "$dir" && ./pan -m100000 -w24 >pan.log 2>&1)
        local log=$dir/pan.log errors states first
        errors=$(grep -oE 'errors: [0-9]+' "$log" | grep -oE '[0-9]+' || echo '?')
        states=$(grep -oE '^ *[0-9.e+]+ states, stored' "$log" | grep -oE '[0-9.e+]+' | head -1)
        first=$(grep -m1 -E '^pan:1: ' "$log" || true)
        detail="${states:-?} states, $((SECONDS - start)) s"
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

# The protocol as implemented: exhaustive, 0 errors. Defaults: 2 threads,
# 2 slot numbers, 2 operations per thread, 2 re-entrant destructor actions,
# 4 libc rounds, up to 1024 sweeps per exit call (a sweep that runs no
# destructor stops them, long before within the re-entrant budget), 2
# generations per number. With fewer sweeps (SWEEPS=1 or 2) the re-entrant
# budget suffices to leave values after the last sweep: the left-value
# checks. A store into an entry holding a value takes it (ctl_take empties
# the entry; a later store there is an ordinary locked store), except in the
# two largest runs (TAKE=0: it does nothing there), which check what they add
# (a third slot, fork with every slot's destroy) without the takes that
# base, other-key and left* explore.
check base -O0 ok -DOTHERKEY=0
check other-key -O0 ok -DOPS=1
check other-key-rounds2 -O0 ok -DOPS=1 -DROUNDS=2
check slots3 -O2 ok -DNS=3 -DOTHERKEY=0 -DTAKE=0
check threads3 -O2 ok -DNT=3 -DOPS=1 -DREENTER=1 -DOTHERKEY=0
check maxgen1 -O0 ok -DMAXGEN=1 -DOTHERKEY=0
check fork -O2 ok -DFORK -DOTHERKEY=0 -DTAKE=0
check left -O0 ok -DSWEEPS=1 -DOTHERKEY=0
check left-sweeps2 -O0 ok -DSWEEPS=2 -DOTHERKEY=0
check left-other-key -O0 ok -DSWEEPS=1 -DOPS=1
check left-fork -O2 ok -DSWEEPS=1 -DFORK -DOTHERKEY=0
# Two copies of the store (slot 0 in one, slot 1 in the other): exit-time
# destructors of each destroy the other's slot.
check cross-copies -O0 ok -DCOPIES=2 -DOTHERKEY=0

# Each probe marks a situation the checks above must actually reach.
check reach-leftover -O0 'assertion violated \(1!=1\)' -DREACH=1 -DOPS=1 -DROUNDS=2
check reach-lastdec -O0 'assertion violated \(2!=2\)' -DREACH=2 -DOTHERKEY=0
check reach-exitdying -O0 'assertion violated \(3!=3\)' -DREACH=3 -DOTHERKEY=0
check reach-reregister -O0 'assertion violated \(4!=4\)' -DREACH=4 -DOPS=1
check reach-forkrun -O0 'assertion violated \(5!=5\)' -DREACH=5 -DFORK -DOTHERKEY=0
check reach-nowait -O0 'assertion violated \(6!=6\)' -DREACH=6 -DOTHERKEY=0
check reach-retire -O0 'assertion violated \(7!=7\)' -DREACH=7 -DOTHERKEY=0
check reach-leave -O0 'assertion violated \(8!=8\)' -DREACH=8 -DSWEEPS=2 -DOTHERKEY=0
check reach-leftdestroy -O0 'assertion violated \(9!=9\)' -DREACH=9 -DSWEEPS=1 -DOTHERKEY=0
check reach-takestore -O0 'assertion violated \(10!=10\)' -DREACH=10 -DOPS=1
check reach-leftfinal -O0 'assertion violated \(11!=11\)' -DREACH=11 -DSWEEPS=1 -DOTHERKEY=0
check reach-forkdrain -O0 'assertion violated \(12!=12\)' -DREACH=12 -DFORK -DOTHERKEY=0
check reach-forkstuck -O0 'assertion violated \(13!=13\)' -DREACH=13 -DSWEEPS=1 -DFORK -DOTHERKEY=0
check reach-sweep2 -O0 'assertion violated \(14!=14\)' -DREACH=14 -DOTHERKEY=0
check reach-exitagain -O0 'assertion violated \(15!=15\)' -DREACH=15 -DOPS=1
check reach-leavedying -O0 'assertion violated \(16!=16\)' -DREACH=16 -DSWEEPS=1 -DOTHERKEY=0
check reach-forkleft -O0 'assertion violated \(17!=17\)' -DREACH=17 -DSWEEPS=1 -DFORK -DOTHERKEY=0
check reach-takedying -O0 'assertion violated \(18!=18\)' -DREACH=18 -DOTHERKEY=0

# The old protocol's bugs: each must give a counterexample of its kind.
check bug-batch -O0 "$deadlock" -DBUG_BATCH -DOTHERKEY=0
check bug-batch-1thread -O0 "$deadlock" -DBUG_BATCH -DNT=1 -DOTHERKEY=0
check bug-wait -O0 "$deadlock" -DBUG_WAIT -DOTHERKEY=0
check bug-skip-dying -O0 "$lost" -DBUG_SKIP_DYING -DOTHERKEY=0
check bug-wrap -O0 'assertion violated \(\(usedgens' -DBUG_WRAP -DMAXGEN=1 -DOTHERKEY=0
check bug-fork-zero -O0 'assertion violated \(inflight\[es\]>0\)' -DBUG_FORK_ZERO -DFORK -DOTHERKEY=0
# The rule before destroy stopped waiting holds for one copy, not for two.
check old-wait-one-copy -O0 ok -DBUG_CROSS_WAIT -DCOPIES=1 -DOTHERKEY=0
check bug-cross-wait -O0 "$deadlock" -DBUG_CROSS_WAIT -DCOPIES=2 -DOTHERKEY=0
check bug-cancel-exit -O0 'assertion violated \(inflight\[s\]==0\)' -DBUG_CANCEL_EXIT -DOTHERKEY=0
check bug-cancel-destroy -O0 'assertion violated \(\(destroyed\[c\]==1\)|assertion violated \(\(\(sstate' -DBUG_CANCEL_DESTROY -DOTHERKEY=0
# Seeded mistakes in values left at exit.
check bug-left-first -O0 'assertion violated \(lslot\[c\]!=' -DBUG_LEFT_FIRST -DSWEEPS=1 -DOTHERKEY=0
check one-pass-left-first -O0 ok -DBUG_LEFT_FIRST -DONEPASS -DSWEEPS=1 -DOTHERKEY=0
check bug-leave-split -O0 'assertion violated \(\(destroyed\[[a-z]+\]==1\)' -DBUG_LEAVE_SPLIT -DSWEEPS=1 -DOTHERKEY=0

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
