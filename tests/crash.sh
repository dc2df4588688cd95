#!/bin/sh
# Crash safety of the stages' temp-then-rename writes: SIGKILL `load` (Fashion-MNIST train,
# 20000 images, killed while it writes) and `attack` (PGD, killed while it streams images)
# midway. The previous output must be intact (cmp), nothing but the killed process's own temp
# `OUT.tmp.<pid>` may exist (SIGKILL cannot be caught, so that stale temp stays until removed;
# nothing ever reads it), and a rerun must give the same bytes as an uninterrupted run. SIGTERM
# (attack) must leave no temp at all: the atomicfile handler removes it.
. tests/lib.sh
BUILD=${BUILD:-build/release}
FM=/usr/share/datasets/fashion-mnist
T=$(mktemp -d /tmp/test_crash.XXXXXX)
trap 'rm -rf "$T"' EXIT

# kill_midway NAME SIGNAL DELAY OUT CMD...: starts CMD, waits for OUT.tmp.<pid> to appear, waits
# DELAY more seconds, sends SIGNAL. Sets $killed_pid; fails NAME if CMD ended before the signal.
kill_midway() {
    name=$1 sig=$2 delay=$3 out=$4; shift 4
    "$@" >/dev/null 2>&1 &
    killed_pid=$!
    i=0
    while [ ! -e "$out.tmp.$killed_pid" ] && kill -0 $killed_pid 2>/dev/null && [ $i -lt 3000 ]; do
        sleep 0.02; i=$((i + 1))
    done
    sleep "$delay"
    kill -s "$sig" $killed_pid 2>/dev/null
    { wait $killed_pid; } 2>/dev/null
    rc=$?
    if [ $rc -lt 128 ]; then fail "$name" "finished (rc=$rc) before the $sig: give it more work"; return 1; fi
    return 0
}

# check_killed NAME OUT OLD: old output intact, only the killed pid's temp beside it
check_killed() {
    others=$(ls "$T" | grep "^$(basename "$2")\.tmp\." | grep -v "\.tmp\.$killed_pid\$")
    if cmp -s "$2" "$3" && [ -z "$others" ]; then pass "$1"; else fail "$1" "old output changed or stray temps: $others"; fi
}

# --- load, SIGKILL while writing 20000 images -------------------------------------------------
if [ -f "$FM/train-images-idx3-ubyte.gz" ]; then
    LOAD="bin/load --idx-images $FM/train-images-idx3-ubyte.gz --idx-labels $FM/train-labels-idx1-ubyte.gz --limit 20000"
    $LOAD --limit 500 --out "$T/ex.h5" 2>/dev/null && cp "$T/ex.h5" "$T/ex.old"
    $LOAD --out "$T/ref.h5" 2>/dev/null || fail crash_load_reference "load failed"
    if kill_midway crash_load_killed KILL 0.05 "$T/ex.h5" $LOAD --out "$T/ex.h5"; then
        pass crash_load_killed
        check_killed crash_load_old_intact "$T/ex.h5" "$T/ex.old"
        rm -f "$T/ex.h5.tmp.$killed_pid"
        $LOAD --out "$T/ex.h5" 2>/dev/null
        if cmp -s "$T/ex.h5" "$T/ref.h5"; then pass crash_load_rerun_identical; else fail crash_load_rerun_identical "rerun differs from the uninterrupted run"; fi
    fi
fi

# --- attack, SIGKILL while streaming PGD images ------------------------------------------------
SC=data/fashion-scenes/test
if [ -f "$SC/annotations.json" ] && [ -x "$BUILD/tests/test_attack" ]; then
    bin/load --out "$T/sc.h5" --coco "$SC/annotations.json" --images "$SC" --limit 40 2>/dev/null &&
        "$BUILD/tests/test_attack" --write-model "$T/model.h5" "$T/sc.h5" sigmoid
    A="bin/attack --model $T/model.h5 --examples $T/sc.h5 --attack pgd --iters 20 --batch 4 --threads 1"
    $A --iters 0 --out "$T/adv.h5" 2>/dev/null && cp "$T/adv.h5" "$T/adv.old"
    $A --out "$T/adv_ref.h5" 2>/dev/null || fail crash_attack_reference "attack failed"
    if kill_midway crash_attack_killed KILL 0.15 "$T/adv.h5" $A --out "$T/adv.h5"; then
        pass crash_attack_killed
        check_killed crash_attack_old_intact "$T/adv.h5" "$T/adv.old"
        rm -f "$T/adv.h5.tmp.$killed_pid"
        $A --out "$T/adv.h5" 2>/dev/null
        if cmp -s "$T/adv.h5" "$T/adv_ref.h5"; then pass crash_attack_rerun_identical; else fail crash_attack_rerun_identical "rerun differs"; fi
    fi
    if kill_midway crash_attack_sigterm TERM 0.1 "$T/adv.h5" $A --iters 21 --out "$T/adv.h5"; then
        if [ -z "$(ls "$T" | grep '\.tmp\.')" ] && cmp -s "$T/adv.h5" "$T/adv_ref.h5"; then
            pass crash_attack_sigterm_cleans; else fail crash_attack_sigterm_cleans "temp left: $(ls "$T")"; fi
    fi
fi
