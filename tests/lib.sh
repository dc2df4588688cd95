# Shell test helpers, sourced by tests/*.sh: pass/fail print the lines tests/run.sh counts.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# expect_fail NAME STAGE-CMD...: the command must exit non-zero with a 'cannot' message.
expect_fail() {
    name=$1; shift
    msg=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && echo "$msg" | grep -q 'cannot'; then pass "$name"; else fail "$name" "rc=$rc msg=$msg"; fi
}
# score_fixture NAME: the score tests' set-up. Sets SCORE, BUILD, PY, a temp dir T (removed on
# exit) with tests/test_score_fixture's model, examples and saliency, and S (--model and
# --examples of the fixture); prints FAIL NAME_binary / NAME_fixture and exits without them.
score_fixture() {
    SCORE=${SCORE:-bin/score}
    BUILD=${BUILD:-build/release}
    PY=/usr/bin/python3
    T=$(mktemp -d "/tmp/test_$1.XXXXXX")
    trap 'rm -rf "$T"' EXIT
    if [ ! -x "$SCORE" ]; then fail "$1_binary" "$SCORE not built"; exit 1; fi
    "$BUILD/tests/test_score_fixture" "$T" || { fail "$1_fixture" "cannot write the fixture"; exit 1; }
    S="--model $T/model.h5 --examples $T/examples.h5"
}
