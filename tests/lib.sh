# Shell test helpers, sourced by tests/*.sh: pass/fail print the lines tests/run.sh counts.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
# expect_fail NAME STAGE-CMD...: the command must exit non-zero with a 'cannot' message.
expect_fail() {
    name=$1; shift
    msg=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && echo "$msg" | grep -q 'cannot'; then pass "$name"; else fail "$name" "rc=$rc msg=$msg"; fi
}
