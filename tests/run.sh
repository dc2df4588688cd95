#!/bin/sh
# Runs every unit test binary in $BUILD/tests and (unless UNIT_ONLY=1) every tests/*.sh script.
# Each prints one line per check, "PASS name" or "FAIL name: why"; this script counts them and
# ends with the line "N passed, N failed". Exit status 1 when anything failed or crashed.
set -u
BUILD=${BUILD:-build/release}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run_one() {
    name=$1; shift
    out=$(mktemp)
    "$@" >"$out" 2>&1
    rc=$?
    grep -E '^(PASS|FAIL) ' "$out" >>"$log"
    grep -E '^FAIL ' "$out"
    if [ $rc -ne 0 ] && ! grep -qE '^FAIL ' "$out"; then
        # A crash or a non-zero exit without a FAIL line is still a failure.
        echo "FAIL $name: exited with status $rc" | tee -a "$log"
        tail -n 20 "$out"
    fi
    [ $rc -ne 0 ] && status=1
    printf '%-28s %s\n' "$name" "$(grep -c '^PASS ' "$out") passed"
    rm -f "$out"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.d) continue ;; esac
    run_one "$(basename "$t")" "$t"
done
if [ "${UNIT_ONLY:-0}" != 1 ]; then
    for s in tests/*.sh; do
        case "$s" in tests/run.sh|tests/lib.sh) continue ;; esac
        [ -f "$s" ] || continue
        run_one "$(basename "$s")" sh "$s"
    done
fi
passed=$(grep -c '^PASS ' "$log")
failed=$(grep -c '^FAIL ' "$log")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ $status -eq 0 ]
