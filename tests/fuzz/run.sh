#!/bin/sh
# Builds the libFuzzer targets tests/fuzz/fuzz_<target>.c with clang (ASan + UBSan, coverage
# instrumentation on the project libraries, built by the Makefile into build/fuzz, apart from
# the release build) and runs each for FUZZ_SECONDS, then prints one line per target:
# executions, exec/s, coverage (edges), features, corpus size and crashes found.
#
#   tests/fuzz/run.sh [target...]        (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_SECONDS=600 tests/fuzz/run.sh png coco
#   FUZZ_BUILD_ONLY=1 tests/fuzz/run.sh  (just build)
#   FUZZ_CPU=1 FUZZ_SECONDS=600 tests/fuzz/run.sh
#       FUZZ_SECONDS counts CPU seconds of the fuzzer instead of wall seconds: under nice -n 19
#       on a busy machine it gets a fraction of a core, so it is rerun on its own corpus until
#       it has used that much CPU (or FUZZ_MAX_WALL wall seconds have passed, default 4x).
#
# Inputs: the committed seeds tests/fuzz/corpus/<target>/ (read-only) and
# tests/fuzz/regressions/<target>/; new inputs go to build/fuzz/corpus/<target>/, crashes to
# build/fuzz/artifacts/<target>/ (copy those into tests/fuzz/regressions/<target>/ after fixing).
# Runs under `nice -n 19`. Exit status 1 when a target crashed, 2 when the build failed.
set -u
cd "$(dirname "$0")/../.." || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_CPU=${FUZZ_CPU:-0}
FUZZ_MAX_WALL=${FUZZ_MAX_WALL:-$((4 * FUZZ_SECONDS))}
B=build/fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

command -v "$FUZZ_CC" >/dev/null || { echo "fuzz: $FUZZ_CC not found (apt-get install clang)"; exit 2; }

if [ $# -eq 0 ]; then
    set -- $(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||')
fi

# The project libraries, instrumented for coverage (fuzzer-no-link) and sanitizers, OpenMP off
# (libFuzzer drives one thread; clang's libomp is not a dependency).
mkdir -p $B
nice -n 19 make --no-print-directory BUILD=$B CC="$FUZZ_CC" OMP=0 \
    OPT="-O1 -gline-tables-only" SAN="-fsanitize=fuzzer-no-link $SAN" \
    $B/libstages.a $B/libformats.a $B/libpipeline.a >$B.log 2>&1 ||
    { tail -n 30 $B.log; echo "fuzz: library build failed (see $B.log)"; exit 2; }

LIBS="$(pkg-config --libs hdf5-serial libpng libcjson libxxhash zlib 2>/dev/null) -lhdf5_hl -lm"
INC="$(pkg-config --cflags hdf5-serial libpng libcjson libxxhash 2>/dev/null)"
CFLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DH5_USE_110_API -O1 -g \
 -Wall -Wextra -Wshadow -Wvla -Wno-unknown-pragmas -I. $INC"
for t in "$@"; do
    src=tests/fuzz/fuzz_$t.c
    [ -f "$src" ] || { echo "fuzz: no target '$t' ($src)"; exit 2; }
    nice -n 19 $FUZZ_CC $CFLAGS -fsanitize=fuzzer $SAN -o $B/fuzz_$t "$src" \
        $B/libstages.a $B/libformats.a $B/libpipeline.a $LIBS ||
        { echo "fuzz: cannot build $src"; exit 2; }
done
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# CPU seconds used by finished children so far (user + system), from the shell's `times` (run
# in this shell: in a $(...) subshell it would count that subshell's children only).
child_cpu() {
    times >$B/times.txt
    tail -n 1 $B/times.txt | awk '{s = 0; for (i = 1; i <= 2; i++) { split($i, a, "m");
        s += a[1] * 60 + a[2] } printf "%.0f", s}'
}

status=0
# exec/s: executions per CPU second of the fuzzer (libFuzzer's own figure is per wall second,
# which depends on the machine's load under nice)
printf '%-14s %6s %6s %10s %8s %6s %7s %6s %s\n' target wall_s cpu_s execs exec/s cov ft \
    corpus crashes
for t in "$@"; do
    work=$B/corpus/$t arts=$B/artifacts/$t log=$B/fuzz_$t.log
    mkdir -p "$work" "$arts"
    seeds=tests/fuzz/corpus/$t regs=tests/fuzz/regressions/$t
    dict=; [ -f tests/fuzz/$t.dict ] && dict=-dict=tests/fuzz/$t.dict
    set -- "$work"
    [ -d "$seeds" ] && set -- "$@" "$seeds"
    # h5table's regressions crash libhdf5 on purpose (precheck off): not used as seeds
    [ -d "$regs" ] && [ "$t" != h5table ] && set -- "$@" "$regs"
    before=$(ls "$arts" | wc -l)
    # h5table: libhdf5 itself crashes on some corrupt files, so the target runs in fork mode
    # (keeps going after crashes) without h5table_open's precheck; each crash is then replayed
    # with the precheck on, which must turn it into a clean refusal ("contained").
    mode=
    if [ "$t" = h5table ]; then
        mode="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
        export SALBENCH_H5_PRECHECK=0
    fi
    : >"$log"
    cpu=0 wall=0 execs=0 last=
    while :; do
        left=$((FUZZ_SECONDS - (FUZZ_CPU == 1 ? cpu : wall)))
        [ $left -gt $((FUZZ_MAX_WALL - wall)) ] && left=$((FUZZ_MAX_WALL - wall))
        [ $left -lt 20 ] && left=20
        child_cpu >$B/cpu0.txt
        t0=$(date +%s)
        LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp} \
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            nice -n 19 $B/fuzz_$t -max_total_time="$left" -print_final_stats=1 \
            -timeout=20 -rss_limit_mb="$FUZZ_RSS_MB" -malloc_limit_mb="$FUZZ_RSS_MB" \
            -artifact_prefix="$arts/" $mode $dict "$@" >"$log.part" 2>&1
        rc=$?
        child_cpu >$B/cpu1.txt
        wall=$((wall + $(date +%s) - t0))
        cpu=$((cpu + $(cat $B/cpu1.txt) - $(cat $B/cpu0.txt)))
        cat "$log.part" >>"$log"
        part=$(grep -a -E '^#[0-9]+:?[[:space:]].*cov: ' "$log.part" | tail -n 1)
        [ -n "$part" ] && last=$part
        if [ -n "$mode" ]; then # fork mode: no final stats; its last status line counts
            n=$(echo "$part" | sed -n 's/^#\([0-9]*\).*/\1/p')
        else
            n=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log.part" |
                awk '{s+=$2} END {print s+0}')
        fi
        execs=$((execs + ${n:-0}))
        rm -f "$log.part"
        [ $rc -ne 0 ] || [ "$FUZZ_CPU" != 1 ] || [ $cpu -ge "$FUZZ_SECONDS" ] ||
            [ $wall -ge "$FUZZ_MAX_WALL" ] && break
    done
    unset SALBENCH_H5_PRECHECK
    speed=$((execs / (cpu > 0 ? cpu : 1)))
    cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(ls "$work" | wc -l)
    crashes=$(( $(ls "$arts" | wc -l) - before ))
    printf '%-14s %6s %6s %10s %8s %6s %7s %6s %s\n' "$t" "$wall" "$cpu" "$execs" "$speed" \
        "${cov:-?}" "${ft:-?}" "$corp" "$crashes"
    if [ -n "$mode" ]; then
        # Triage: replayed with the precheck on, a crash must be refused cleanly.
        contained=0 real=0 alloc=0
        for a in $(ls -t "$arts" | head -n "$crashes"); do
            if SALBENCH_H5_PRECHECK=10 LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp \
               ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 nice -n 19 \
               $B/fuzz_$t -timeout=60 -rss_limit_mb="$FUZZ_RSS_MB" \
               -malloc_limit_mb="$FUZZ_RSS_MB" -artifact_prefix=$B/triage- "$arts/$a" \
               >"$arts/$a.replay" 2>&1; then
                contained=$((contained + 1)); mv "$arts/$a" "$arts/contained-$a"
                rm -f "$arts/$a.replay"
            elif grep -aq 'out-of-memory (malloc' "$arts/$a.replay" &&
                 grep -a -E '^ +#[0-9]+ .* in ' "$arts/$a.replay" |
                 grep -a -v -E 'fuzzer::|__sanitizer|__asan|malloc|calloc|realloc|operator new' |
                 head -n 1 | grep -q libhdf5; then
                # a huge allocation inside libhdf5 (a corrupt 32-bit length): above the fuzzer's
                # malloc limit, but a normal build gets NULL or the memory and an HDF5 error
                alloc=$((alloc + 1)); mv "$arts/$a" "$arts/hdf5alloc-$a"
                rm -f "$arts/$a.replay"
            else
                real=$((real + 1)); echo "    NOT CONTAINED: $arts/$a (see $arts/$a.replay)"
            fi
            rm -f $B/triage-* 2>/dev/null
        done
        echo "    libhdf5 crashes/hangs/ooms (precheck off): $crashes; contained by the precheck:" \
             "$contained; large allocations inside libhdf5: $alloc; not contained: $real"
        [ $real -eq 0 ] && crashes=0 && rc=0
    fi
    if [ $rc -ne 0 ] || [ $crashes -gt 0 ]; then
        status=1
        grep -a -m 3 -E 'ERROR|SUMMARY|invariant|runtime error' "$log" | sed 's/^/    /'
        echo "    log: $log, inputs: $arts/"
    fi
done
exit $status
