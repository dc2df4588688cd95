#!/bin/sh
# The MLflow store end to end: test_mlflowstore --write-fixture writes an experiment with a
# FAILED parent run and two chain runs (special characters, NaN/inf, curves, exports), then it is
# checked by our independent checker (tests/mlflow_layout_check.py), by shared/tools/mlflow_check.py
# --structure-only, by direct reads of the files, and through bin/results; then re-written for
# the same pipeline run (no duplicate), with an injected commit failure, and with checker
# mutations that must be caught. MLflow itself is a third opinion only where it is installed.
. tests/lib.sh
BUILD=${BUILD:-build/release}
PY=/usr/bin/python3
WRITER=$BUILD/tests/test_mlflowstore
RESULTS=${RESULTS:-bin/results}
CHECK=tests/mlflow_layout_check.py
SHARED=
for d in ../shared/tools /work/shared/tools; do [ -f "$d/mlflow_check.py" ] && SHARED=$d/mlflow_check.py && break; done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ROOT="$T/eval run é/mlruns"
mkdir -p "$T/eval run é"

if ! [ -x "$WRITER" ]; then fail mlflow_setup "$WRITER not built"; exit 1; fi
if ! $PY -c 'import yaml' 2>/dev/null; then fail mlflow_setup "python3-yaml missing (make deps-test)"; exit 1; fi

# 1. write, then check three ways
if ids=$($WRITER --write-fixture "$ROOT" 2>"$T/err"); then pass mlflow_fixture_write; else fail mlflow_fixture_write "$(cat "$T/err")"; exit 1; fi
if $PY $CHECK --armory --summary "$T/s1.json" "$ROOT" >"$T/out" 2>&1; then pass mlflow_layout_check
else fail mlflow_layout_check "$(grep -v '^OK' "$T/out" | head -5)"; fi
if [ -n "$SHARED" ]; then
    if $PY "$SHARED" --structure-only --armory --strict --quiet "$ROOT" >"$T/out" 2>&1; then pass mlflow_shared_check
    else fail mlflow_shared_check "$(grep -E 'ERROR|WARNING|FAIL' "$T/out" | head -5)"; fi
else
    echo "SKIP mlflow_shared_check: shared/tools/mlflow_check.py not found"
fi

# 2. the content as the files say it (read with PyYAML and plain file reads, not our reader)
cat >"$T/content.py" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
rewrite = sys.argv[2] == "1"
weird = "a: b # \"q\" 'single' \\ back\nline2\ttab \u00e9 \U0001F600 {x}, [y] &z *w !t %p @a `b"
exps = {e["name"]: e for e in s["experiments"].values()}
e = exps['salbench demo: "fashion" \u00e9 #1']
runs = e["runs"]
assert len(runs) == 3, len(runs)
parent = [r for r in runs.values() if r["parent"] is None]
assert len(parent) == 1
pid = [k for k, r in runs.items() if r["parent"] is None][0]
p = parent[0]
assert p["params"]["evaluation.weird"] == weird, repr(p["params"]["evaluation.weird"])
assert p["tags"]["mlflow.note.content"] == '# Demo\nSaliency on *Fashion-MNIST*: "quotes"'
chains = {r["run_name"]: r for r in runs.values() if r["parent"] == pid}
assert sorted(chains) == ["benign", "pgd"], sorted(chains)
pgd, ben = chains["pgd"], chains["benign"]
assert p["status"] == (3 if rewrite else 4) and pgd["status"] == (3 if rewrite else 4) and ben["status"] == 3
assert pgd["metrics"]["pointing_game/gradcam"]["latest"] == "nan"
assert pgd["metrics"]["deletion_auc/rise"]["latest"] == float("inf")
assert pgd["metrics"]["insertion_auc/rise"]["latest"] == float("-inf")
assert ben["metrics"]["deletion_curve/gradcam"]["n"] == 11
assert ben["metrics"]["accuracy"]["latest"] == (0.875 if rewrite else 0.8)
assert pgd["params"]["attack.eps"] == "0.03" and ben["params"]["score.pointing_game.tolerance"] == "15"
assert "exports/00001/03/metadata.txt" in ben["artifacts"] and "report.html" in pgd["artifacts"]
print(" ".join(sorted(runs)))
EOF
if $PY "$T/content.py" "$T/s1.json" 0 >"$T/ids1" 2>"$T/err"; then pass mlflow_content
else fail mlflow_content "$(tail -2 "$T/err")"; fi

# 3. bin/results reads it like Armory's EvaluationResults
if [ -x "$RESULTS" ]; then
    R() { "$RESULTS" --mlruns "$ROOT" "$@"; }
    expect_msg() {   # name, message pattern, results arguments...: must exit 1 saying so
        name=$1 pat=$2; shift 2
        msg=$(R "$@" 2>&1 >/dev/null); rc=$?
        if [ $rc -eq 1 ] && echo "$msg" | grep -q "$pat"; then pass "$name"; else fail "$name" "rc=$rc $msg"; fi
    }
    ok=1
    R --json details >"$T/d.json" 2>"$T/err" && $PY -c "
import json,sys; d=json.load(open('$T/d.json')); assert d['run_name']=='demo-00010001' and d['status']=='FAILED'" 2>>"$T/err" || ok=0
R --json chains >"$T/c.json" 2>>"$T/err" && $PY -c "
import json; c=json.load(open('$T/c.json')); assert sorted(x['run_name'] for x in c)==['benign','pgd']" 2>>"$T/err" || ok=0
    R --chain pgd --json metrics >"$T/m.json" 2>>"$T/err" && $PY -c "
import json; m=json.load(open('$T/m.json')); assert m['pointing_game/gradcam']=='NaN' and m['deletion_auc/rise']=='Infinity' and 'system/score/wall_seconds' not in m" 2>>"$T/err" || ok=0
    R --chain benign --json system-metrics >"$T/sm.json" 2>>"$T/err" && $PY -c "
import json; m=json.load(open('$T/sm.json')); assert m=={'system/score/cpu_seconds':2.75,'system/score/peak_memory_megabytes':120.5,'system/score/wall_seconds':1.5}" 2>>"$T/err" || ok=0
    R --json params >"$T/p.json" 2>>"$T/err" && $PY -c "
import json; p=json.load(open('$T/p.json')); assert p['evaluation.weird'].startswith('a: b # \"q\"') and '\U0001F600' in p['evaluation.weird']" 2>>"$T/err" || ok=0
    R --chain benign --json sample 1 3 >"$T/sa.json" 2>>"$T/err" && $PY -c "
import json; s=json.load(open('$T/sa.json')); assert s['files']==['input.png','metadata.txt'] and s['metadata']['targets']==3" 2>>"$T/err" || ok=0
    R --chain benign metrics deletion_curve/gradcam | grep -q '^10 ' || ok=0
    R --chain benign artifacts exports | grep -q 'exports/00000/00/saliency_gradcam.png' || ok=0
    if [ $ok = 1 ]; then pass mlflow_results_cli; else fail mlflow_results_cli "$(tail -3 "$T/err")"; fi
    expect_msg mlflow_results_no_chain "cannot find chain 'nope'" --chain nope
    expect_msg mlflow_results_no_sample "cannot find sample 9 9" --chain benign sample 9 9
    expect_msg mlflow_results_no_experiment "cannot find experiment 'nope'" --experiment nope
    expect_msg mlflow_results_no_metric "cannot find metric 'zz'" metrics zz
    R bogus >/dev/null 2>&1
    if [ $? -eq 2 ]; then pass mlflow_results_usage_exit; else fail mlflow_results_usage_exit "not exit 2"; fi
else
    fail mlflow_results_cli "$RESULTS not built"
fi

# 4. re-aggregate the same pipeline run: same run ids, new content, still valid
mkdir -p "$ROOT.tmp.999999/x"    # staging left by a dead process: removed by the next writer
if $WRITER --write-fixture "$ROOT" --rewrite >/dev/null 2>"$T/err" &&
   $PY $CHECK --armory --summary "$T/s2.json" "$ROOT" >"$T/out" 2>&1 &&
   $PY "$T/content.py" "$T/s2.json" 1 >"$T/ids2" 2>"$T/err" && cmp -s "$T/ids1" "$T/ids2"; then
    pass mlflow_rewrite_same_runs
else
    fail mlflow_rewrite_same_runs "$(cat "$T/err" "$T/out" | tail -3)"
fi
if [ -n "$SHARED" ] && ! $PY "$SHARED" --structure-only --armory --strict --quiet "$ROOT" >"$T/out" 2>&1; then
    fail mlflow_rewrite_shared_check "$(grep -E 'ERROR|WARNING' "$T/out" | head -3)"
else
    pass mlflow_rewrite_shared_check
fi

# 5. an injected commit failure (the 2nd atomic write: the parent's final meta.yaml) leaves
#    the published runs as they were and no staging directory
exp=$(cut -d' ' -f1 <<EOF
$ids
EOF
)
before=$(cat "$ROOT"/"$exp"/*/meta.yaml | cksum)
if SALBENCH_FAIL_COMMIT=2 $WRITER --write-fixture "$ROOT" >/dev/null 2>"$T/err"; then
    fail mlflow_commit_failure "writer succeeded despite the injected failure"
elif [ "$(cat "$ROOT"/"$exp"/*/meta.yaml | cksum)" = "$before" ] && ! ls -d "$ROOT".tmp.* >/dev/null 2>&1 &&
     grep -q 'cannot' "$T/err" && $PY $CHECK --armory "$ROOT" >/dev/null 2>&1; then
    pass mlflow_commit_failure
else
    fail mlflow_commit_failure "store changed or staging left: $(cat "$T/err")"
fi

# 6. the checker has teeth: each mutation of a valid store must be reported
mutate() {   # name, shell snippet run inside a copy of the store ($M)
    rm -rf "$T/m" && cp -r "$ROOT" "$T/m" && M="$T/m" && run=$(ls -d "$M/$exp"/*/ | head -1)
    (cd "$T" && eval "$2") >/dev/null 2>&1
    if $PY $CHECK --armory "$M" >"$T/out" 2>&1; then fail "mlflow_checker_catches_$1" "not reported"
    else pass "mlflow_checker_catches_$1"; fi
}
mutate nan_spelling 'f=$(ls "$run"metrics/accuracy); printf "1 NaN 0\n" > "$f"'
mutate unquoted_string 'sed -i "s/^run_name: \"\(.*\)\"$/run_name: \1/" "$run/meta.yaml"'
mutate missing_run_uuid 'sed -i "/^run_uuid:/d" "$run/meta.yaml"'
mutate temp_dir 'mkdir "$M/$exp/x.tmp.1"'
mutate double_space 'printf "1  0.5 0\n" > "$run/metrics/accuracy"'
mutate quoted_status 'sed -i "s/^status: \([0-9]\)$/status: \"\1\"/" "$run/meta.yaml"'
mutate bad_parent 'printf "0123" > "$run/tags/mlflow.parentRunId"'
mutate json_style 'f=$(find "$run/artifacts/metrics" -name "*.txt" | head -1); printf "[[8,2],[1,9]]" > "$f"'
mutate key_chars 'printf "x" > "$run/params/a:b"'
mutate artifact_uri 'sed -i "s|^artifact_uri: .*|artifact_uri: \"file:///elsewhere\"|" "$run/meta.yaml"'

# 7. a store as MLflow writes it (PyYAML safe_dump: plain, single-quoted, wrapped and folded
#    scalars) is read back exactly by bin/results
cat >"$T/pyyaml_store.py" <<'EOF'
import json, os, sys, yaml
root = sys.argv[1]
names = ["it's a \"name\": with # hash and a long tail that goes past eighty columns, wrapping here",
         "line1\nline2\n\nline4", "123", "tab\there", "\u00e9 \U0001F600 \u00fcn\u00ef", "- dash",
         "null", " lead", "trail ", "a" * 100 + " " + "b" * 100, "yes", "x: {y}"]
def dump(path, d):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(d, f, default_flow_style=False, allow_unicode=True, sort_keys=True)
os.makedirs(f"{root}/.trash")
os.makedirs(f"{root}/0")
dump(f"{root}/0/meta.yaml", {"artifact_location": f"file://{root}/0", "creation_time": 1,
     "experiment_id": "0", "last_update_time": 1, "lifecycle_stage": "active", "name": "Default"})
exp = "123"
os.makedirs(f"{root}/{exp}")
dump(f"{root}/{exp}/meta.yaml", {"artifact_location": f"file://{root}/{exp}", "creation_time": 1,
     "experiment_id": exp, "last_update_time": 1, "lifecycle_stage": "active", "name": names[0]})
for i, n in enumerate(names):
    rid = f"{i:032x}"
    d = f"{root}/{exp}/{rid}"
    for sub in ("metrics", "params", "tags", "artifacts"):
        os.makedirs(f"{d}/{sub}")
    dump(f"{d}/meta.yaml", {"artifact_uri": f"file://{d}/artifacts", "end_time": None,
         "entry_point_name": "", "experiment_id": exp, "lifecycle_stage": "active", "run_id": rid,
         "run_name": n, "run_uuid": rid, "source_name": "", "source_type": 4, "source_version": "",
         "start_time": 1795312189000 + i, "status": 1, "tags": [], "user_id": n})
    open(f"{d}/tags/mlflow.runName", "w").write(n)
    open(f"{d}/metrics/m", "w").write("1795312189000 0.5\n1795312189001 NaN 1\n")
print(json.dumps(names))
EOF
if $PY "$T/pyyaml_store.py" "$T/py/mlruns" >"$T/names.json" 2>"$T/err" && [ -x "$RESULTS" ] &&
   "$RESULTS" --mlruns "$T/py/mlruns" --json runs >"$T/runs.json" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$T/py/mlruns" --json experiments >"$T/exps.json" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$T/py/mlruns" --json --run 00000000000000000000000000000004 details >"$T/d4.json" 2>>"$T/err" &&
   $PY -c "
import json
names = json.load(open('$T/names.json'))
runs = json.load(open('$T/runs.json'))
assert sorted(r['run_name'] for r in runs) == sorted(names), [r['run_name'] for r in runs]
assert [e['name'] for e in json.load(open('$T/exps.json'))] == ['Default', names[0]]
d = json.load(open('$T/d4.json'))
assert d['user_id'] == names[4] and d['status'] == 'RUNNING' and d['end_time'] is None
" 2>>"$T/err"; then
    pass mlflow_read_pyyaml_store
else
    fail mlflow_read_pyyaml_store "$(tail -3 "$T/err")"
fi

# 8. MLflow itself, where installed (Debian has no mlflow package: apt-cache search mlflow)
if [ -n "$SHARED" ] && $PY -c 'import mlflow' 2>/dev/null; then
    if $PY "$SHARED" --armory --quiet "$ROOT" >"$T/out" 2>&1; then pass mlflow_real_client
    else fail mlflow_real_client "$(grep -E 'ERROR|FAIL' "$T/out" | head -3)"; fi
else
    echo "SKIP mlflow_real_client: the mlflow Python package is not installed (not in Debian)"
fi
exit 0
