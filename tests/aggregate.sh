#!/bin/sh
# bin/aggregate end to end on a tiny evaluation made by the real stages (tests/aggregate/
# make_run.sh: chains benign and an attacked one, in a run directory whose name has spaces,
# quotes and non-ASCII): the timing records the stages leave, the MLflow store checked by our
# independent checker and by shared/tools/mlflow_check.py --structure-only, its content read
# from the files (params, tags, metrics, curves, system metrics, artifacts), bin/results reading
# it back, re-aggregation rewriting the same runs, a new pipeline run beside it, FAILED chains
# (a stage's timing record with exit code 1, a missing table), injected commit failures and
# kills that never leave half a run, and bad usage.
. tests/lib.sh
BUILD=${BUILD:-build/release}
PY=/usr/bin/python3
AGG=${AGGREGATE:-bin/aggregate}
RESULTS=${RESULTS:-bin/results}
CHECK=tests/mlflow_layout_check.py
SHARED=
for d in "$(cd .. && pwd)/shared/tools" /work/shared/tools; do
    [ -f "$d/mlflow_check.py" ] && SHARED=$d/mlflow_check.py && break
done
T=$(mktemp -d /tmp/test_aggregate.XXXXXX)
trap 'rm -rf "$T"' EXIT
R="$T/runs/ev é 'q'"
ATT="pgd é x"
EVAL='demo: "fashion" é #1'
DESC='# Demo
Saliency on *scenes*: "quotes" & <b>'
WEIRD='a: b # "q" \ back
line2	tab é'

for b in "$AGG" "$RESULTS" bin/attack bin/export "$BUILD/tests/test_score_fixture"; do
    [ -x "$b" ] || { fail aggregate_binaries "$b not built"; exit 1; }
done
if ! sh tests/aggregate/make_run.sh "$T/w" "$R" benign "$ATT" >"$T/mk.out" 2>&1; then
    fail aggregate_fixture "$(tail -n 3 "$T/mk.out")"; exit 1
fi

# ---- timing records of the stages -----------------------------------------------------------
if $PY - "$R" "$ATT" <<'EOF' >"$T/out" 2>&1; then pass aggregate_stage_timing_records; else fail aggregate_stage_timing_records "$(tail -n 2 "$T/out")"; fi
import json, sys
for ch, first in (("benign", None), (sys.argv[2], "attack")):
    for f, st in (("examples.h5", first), ("predictions.h5", "infer"), ("saliency.h5", "attribute"), ("scores.h5", "score")):
        if st is None:
            continue
        r = json.load(open(f"{sys.argv[1]}/{ch}/{f}.time.json"))
        assert r["stage"] == st and r["exit_code"] == 0, r
        assert r["wall_seconds"] > 0 and r["cpu_seconds"] > 0 and r["max_rss_kb"] > 1000, r
        assert r["argv"][0].endswith(st) and "--out" in r["argv"], r
EOF
rm -f "$T/fail.h5.time.json"
bin/infer --model "$T/w/nope.h5" --examples "$R/benign/examples.h5" --out "$T/fail.h5" 2>/dev/null
if grep -q '"exit_code": 1' "$T/fail.h5.time.json" 2>/dev/null && [ ! -e "$T/fail.h5" ]; then
    pass aggregate_stage_timing_on_failure
else
    fail aggregate_stage_timing_on_failure "no record with exit_code 1"
fi

# ---- aggregate ------------------------------------------------------------------------------
ROOT="$R/mlruns"
run_agg() { "$AGG" --run-dir "$R" --evaluation "$EVAL" --description "$DESC" --param dataset=scenes \
    --param "weird=$WEIRD" --param seed=0 "$@"; }
if run_agg >"$T/a.out" 2>"$T/a.err"; then pass aggregate_runs; else fail aggregate_runs "$(cat "$T/a.err")"; exit 1; fi
if grep -q '^chain benign: FINISHED, accuracy 0\.' "$T/a.out" &&
   grep -q "^chain $ATT: FINISHED, accuracy under attack 0\..*attack success" "$T/a.out" &&
   grep -q '^  method  *pointing_game  *relevance_mass  *deletion  *insertion  *sparseness$' "$T/a.out" &&
   grep -q '^  gradcam  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*  *[0-9.]*$' "$T/a.out" &&
   grep -qF "mlruns: $ROOT (experiment" "$T/a.out" && grep -qF "report: $R/report.html" "$T/a.out" &&
   [ -s "$R/report.html" ] && [ ! -s "$T/a.err" ]; then
    pass aggregate_stdout_summary
else
    fail aggregate_stdout_summary "$(head -12 "$T/a.out")"
fi
if $PY $CHECK --armory --summary "$T/s1.json" "$ROOT" >"$T/out" 2>&1; then pass aggregate_layout_check
else fail aggregate_layout_check "$(grep -v '^OK' "$T/out" | head -5)"; fi
if [ -n "$SHARED" ]; then
    if $PY "$SHARED" --structure-only --armory --strict --quiet "$ROOT" >"$T/out" 2>&1; then pass aggregate_shared_check
    else fail aggregate_shared_check "$(grep -E 'ERROR|WARNING|FAIL' "$T/out" | head -5)"; fi
else
    fail aggregate_shared_check "shared/tools/mlflow_check.py not found beside the repository"
fi

# ---- the store's content, read from the files -------------------------------------------------
cat >"$T/content.py" <<'EOF'
import json, os, sys
s = json.load(open(sys.argv[1]))
ev, att, weird, desc, expect_status = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
exps = {e["name"]: e for e in s["experiments"].values()}
e = exps[ev]
runs = e["runs"]
parents = {k: r for k, r in runs.items() if r["parent"] is None}
assert len(parents) == 1 and len(runs) == 3, (len(parents), len(runs))
pid, p = next(iter(parents.items()))
assert p["status"] == expect_status, p["status"]
pp = p["params"]
assert pp["evaluation.name"] == ev and pp["evaluation.dataset"] == "scenes" and pp["evaluation.weird"] == weird, pp
assert pp["evaluation.chains"] == "benign," + att and pp["evaluation.methods"] == "center,gradcam,gradient", pp
assert "pointing_game" in pp["evaluation.metrics"].split(","), pp
assert p["tags"]["mlflow.note.content"] == desc and len(p["tags"]["salbench.pipeline_run_id"]) == 16
assert p["run_name"] == ev + "-" + p["tags"]["salbench.pipeline_run_id"][:8], p["run_name"]
for k in ("system/total/wall_seconds", "system/total/cpu_seconds", "system/total/peak_memory_megabytes",
          "system/aggregate/wall_seconds"):
    assert k in p["metrics"], k
assert "report.html" in p["artifacts"]
ch = {r["run_name"]: r for r in runs.values() if r["parent"] == pid}
assert sorted(ch) == sorted(["benign", att]), sorted(ch)
b, a = ch["benign"], ch[att]
for r, name in ((b, "benign"), (a, att)):
    assert r["tags"]["salbench.chain"] == name and r["tags"]["salbench.pipeline_run_id"] == p["tags"]["salbench.pipeline_run_id"]
    m = r["metrics"]
    assert 0 <= m["accuracy"]["latest"] <= 1
    for k in ("pointing_game/gradcam", "pointing_game/gradcam.std", "pointing_game/gradcam.ci_lo",
              "pointing_game/gradcam.ci_hi", "pointing_game/gradcam.n", "pointing_game/gradcam.undefined",
              "deletion/gradient", "sparseness/center", "pointing_game_torchray/gradient",
              "system/score/wall_seconds", "system/score/cpu_seconds", "system/score/peak_memory_megabytes",
              "system/infer/wall_seconds", "system/attribute/wall_seconds", "forward_passes_per_trial/gradcam"):
        assert k in m, (name, k)
    assert m["deletion_curve/gradcam"]["n"] == 9 and m["insertion_curve/center"]["n"] == 9, m["deletion_curve/gradcam"]
    assert m["pointing_game/gradcam.n"]["latest"] == 9.0
    assert r["params"]["score.version"] and r["params"]["infer.batch"] == "64", sorted(r["params"])[:5]
    assert r["params"]["score.deletion.steps"] == "8", r["params"].get("score.deletion.steps")
    assert len(r["params"]["score.output.scores.h5"]) == 16
    arts = r["artifacts"]
    for f in ("metrics/accuracy.txt", "metrics/summary.txt", "metrics/paired.txt", "metrics/pointing_game.txt",
              "metrics/pointing_game_classes.txt", "metrics/confusion_matrix.txt", "tables/scores.h5", "report.html"):
        assert f in arts, (name, f)
    ex = [f for f in arts if f.startswith("exports/")]
    assert any(f.endswith("/input.png") for f in ex) and any(f.endswith("/saliency_gradcam.png") for f in ex), ex
    assert all(len(f.split("/")[1]) == 5 and len(f.split("/")[2]) == 2 for f in ex), ex
assert "system/load/wall_seconds" not in b["metrics"]   # benign examples were copied, not loaded
assert "system/attack/wall_seconds" in a["metrics"] and "attack/success_rate" in a["metrics"]
assert "attack/linf_mean" in a["metrics"] and "attack/l2_mean" in a["metrics"]
assert abs(a["metrics"]["attack/linf_mean"]["latest"] - 4 / 255) < 1e-6, a["metrics"]["attack/linf_mean"]
assert a["params"]["attack.attack"] == "pgd" and a["params"]["attack.iters"] == "2"
assert "attack/success_rate" not in b["metrics"]
# score's map_stability (attacked vs benign maps) flows through like any metric
assert "map_stability/gradcam" in a["metrics"] and "map_stability/gradcam.ci_lo" in a["metrics"]
assert "map_stability/gradcam" not in b["metrics"]
print(" ".join(sorted(runs)))
EOF
CONTENT() { $PY "$T/content.py" "$1" "$EVAL" "$ATT" "$WEIRD" "$DESC" "$2"; }
if CONTENT "$T/s1.json" 3 >"$T/ids1" 2>"$T/err"; then pass aggregate_store_content
else fail aggregate_store_content "$(tail -n 2 "$T/err")"; fi

# artifact files exactly as MLflow's log_dict / Armory write them
exp=$(ls "$ROOT" | grep -v '^0$' | grep -v '^\.trash$' | head -1)
if $PY - "$ROOT/$exp" <<'EOF' >"$T/out" 2>&1; then pass aggregate_artifact_json; else fail aggregate_artifact_json "$(tail -n 2 "$T/out")"; fi
import glob, json, sys
done = 0
for run in glob.glob(sys.argv[1] + "/*/"):
    for f in glob.glob(run + "artifacts/metrics/*.txt"):
        text = open(f).read()
        obj = json.loads(text)
        assert json.dumps(obj, indent=2) == text, f           # Python's json.dump(indent=2), no newline
        done += 1
    cm = run + "artifacts/metrics/confusion_matrix.txt"
    if glob.glob(cm):
        m = json.load(open(cm))
        assert len(m) == 4 and all(len(r) == 4 for r in m) and sum(map(sum, m)) == 6, m
        acc = json.load(open(run + "artifacts/metrics/accuracy.txt"))
        assert abs(acc - sum(m[i][i] for i in range(4)) / 6) < 1e-12, acc
    summ = run + "artifacts/metrics/summary.txt"
    if glob.glob(summ):
        rows = json.load(open(summ))
        d = {r["metric"]: r["higher_is_better"] for r in rows}
        assert d["deletion"] == -1 and d["insertion"] == 1 and d["pointing_game"] == 1, d
assert done >= 12, done
EOF

# ---- bin/results reads it back --------------------------------------------------------------
if "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --json chains >"$T/c.json" 2>"$T/err" &&
   "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --chain "$ATT" --json metrics >"$T/m.json" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --chain benign --json system-metrics >"$T/sm.json" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --json params >"$T/p.json" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --chain benign metrics deletion_curve/gradient >"$T/curve.txt" 2>>"$T/err" &&
   $PY - "$T" "$ATT" "$WEIRD" <<'EOF' 2>>"$T/err"; then
import json, sys
t, att, weird = sys.argv[1:4]
c = json.load(open(t + "/c.json"))
assert sorted(x["run_name"] for x in c) == sorted(["benign", att]), c
m = json.load(open(t + "/m.json"))
assert "attack/success_rate" in m and "pointing_game/gradcam" in m and not any(k.startswith("system/") for k in m)
sm = json.load(open(t + "/sm.json"))
assert "system/score/wall_seconds" in sm and all(k.startswith("system/") for k in sm), sm
assert json.load(open(t + "/p.json"))["evaluation.weird"] == weird
assert len([l for l in open(t + "/curve.txt") if l[:1].isdigit()]) == 9
EOF
    pass aggregate_results_reads_back
else
    fail aggregate_results_reads_back "$(tail -n 3 "$T/err")"
fi

# ---- re-aggregation: the same runs rewritten; another pipeline run: a second parent -----------
if run_agg >/dev/null 2>"$T/err" && $PY $CHECK --armory --summary "$T/s2.json" "$ROOT" >"$T/out" 2>&1 &&
   CONTENT "$T/s2.json" 3 >"$T/ids2" 2>>"$T/err" && cmp -s "$T/ids1" "$T/ids2"; then
    pass aggregate_rerun_same_runs
else
    fail aggregate_rerun_same_runs "$(cat "$T/err" "$T/out" | tail -n 3)"
fi
if run_agg --pipeline-run-id 00000000000000ff >/dev/null 2>"$T/err" &&
   "$RESULTS" --mlruns "$ROOT" --experiment "$EVAL" --json runs >"$T/runs.json" 2>>"$T/err" &&
   $PY -c "
import json; r = json.load(open('$T/runs.json'))
assert len(r) == 2 and r[0]['run_name'].endswith('-00000000'), [x['run_name'] for x in r]" 2>>"$T/err" &&
   $PY $CHECK --armory "$ROOT" >"$T/out" 2>&1; then
    pass aggregate_new_pipeline_run
else
    fail aggregate_new_pipeline_run "$(cat "$T/err" "$T/out" | tail -n 3)"
fi

# ---- FAILED chains ----------------------------------------------------------------------------
F="$T/failrun"
mkdir -p "$F" && cp -r "$R/benign" "$R/$ATT" "$F/"
printf '{"stage": "score", "exit_code": 1, "wall_seconds": 0.5, "cpu_seconds": 0.25, "max_rss_kb": 2048, "argv": ["bin/score"]}\n' \
    >"$F/$ATT/scores.h5.time.json"
if "$AGG" --run-dir "$F" --evaluation failing >"$T/f.out" 2>"$T/f.err" &&
   grep -q "chain '$ATT' recorded as FAILED: stage score exited with status 1" "$T/f.err" &&
   $PY $CHECK --armory --summary "$T/f.json" "$F/mlruns" >"$T/out" 2>&1 && $PY -c "
import json; s = json.load(open('$T/f.json'))
e = [e for e in s['experiments'].values() if e['name'] == 'failing'][0]
st = {r['run_name']: r['status'] for r in e['runs'].values()}
p = [r for r in e['runs'].values() if r['parent'] is None][0]
assert st['benign'] == 3 and st['$ATT'] == 4 and p['status'] == 4, st
fr = [r for r in e['runs'].values() if r['run_name'] == '$ATT'][0]
assert 'exited with status 1' in fr['tags']['salbench.failure']
assert fr['metrics']['system/score/wall_seconds']['latest'] == 0.5" 2>"$T/err"; then
    pass aggregate_failed_stage_status
else
    fail aggregate_failed_stage_status "$(cat "$T/f.err" "$T/err" | tail -n 3)"
fi
rm "$F/benign/saliency.h5" "$F/$ATT/scores.h5.time.json"
if "$AGG" --run-dir "$F" --evaluation failing >"$T/f.out" 2>"$T/f.err" &&
   grep -q "chain 'benign' recorded as FAILED: missing table '.*benign/saliency.h5'" "$T/f.err" &&
   "$RESULTS" --mlruns "$F/mlruns" --experiment failing --json runs >"$T/r.json" 2>"$T/err" && $PY -c "
import json; r = json.load(open('$T/r.json'))
assert r[0]['status'] == 'FAILED', r[0]" 2>>"$T/err" &&
   "$RESULTS" --mlruns "$F/mlruns" --experiment failing --chain benign --json details >"$T/d.json" 2>>"$T/err" &&
   grep -q '"status": *"FAILED"' "$T/d.json" &&
   "$RESULTS" --mlruns "$F/mlruns" --experiment failing --chain "$ATT" --json details 2>>"$T/err" | grep -q '"status": *"FINISHED"'; then
    pass aggregate_missing_table_status
else
    fail aggregate_missing_table_status "$(cat "$T/f.err" "$T/err" | tail -n 3)"
fi
if "$AGG" --run-dir "$F" --evaluation failing --chains benign,absent >"$T/f.out" 2>"$T/f.err" &&
   grep -q "chain 'absent' recorded as FAILED: missing table" "$T/f.err"; then
    pass aggregate_absent_chain_failed
else
    fail aggregate_absent_chain_failed "$(cat "$T/f.err")"
fi

# ---- never half a run: injected commit failures, kills ------------------------------------------
# every atomic commit of an aggregate (meta.yaml files, the report) made to fail in turn: each
# failure exits 1 with a message, leaves no staging directory and a store the checker accepts
ok=1 n=1
while [ $n -le 40 ]; do
    if SALBENCH_FAIL_COMMIT=$n run_agg >/dev/null 2>"$T/err"; then break; fi
    grep -q '^aggregate: cannot' "$T/err" || { ok=0; break; }
    ls -d "$ROOT".tmp.* >/dev/null 2>&1 && { ok=0; echo "staging left after failure $n" >"$T/err"; break; }
    $PY $CHECK --armory "$ROOT" >"$T/out" 2>&1 || { ok=0; cp "$T/out" "$T/err"; break; }
    n=$((n + 1))
done
# a clean re-run afterwards gives the same 3 + 3 runs (no duplicate from the failed attempts)
if [ $ok = 1 ] && [ $n -gt 3 ] && run_agg >/dev/null 2>>"$T/err" &&
   $PY $CHECK --armory --summary "$T/s3.json" "$ROOT" >/dev/null 2>&1 && $PY -c "
import json; s = json.load(open('$T/s3.json'))
e = [e for e in s['experiments'].values() if e['name'] == '''$EVAL'''][0]
assert len(e['runs']) == 6, len(e['runs'])" 2>>"$T/err"; then
    pass aggregate_commit_failures
else
    fail aggregate_commit_failures "after $n commits: $(tail -n 3 "$T/err")"
fi
ok=1
for d in 0.05 0.1 0.15 0.2 0.3 0.4; do
    "$AGG" --run-dir "$R" --evaluation "$EVAL" --description "$DESC" --param dataset=scenes \
        --param "weird=$WEIRD" --param seed=0 >/dev/null 2>&1 &
    pid=$!
    sleep $d
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    # what MLflow reads is the store itself; a SIGKILL'ed writer leaves its staging directory
    # beside it (outside the store) until the next writer removes it: moved away during the
    # check, then put back for the next writer to clean up
    rm -rf "$T/aside" && mkdir "$T/aside"
    for st in "$ROOT".tmp.*; do [ -d "$st" ] && mv "$st" "$T/aside/"; done
    if ! $PY $CHECK --armory "$ROOT" >"$T/out" 2>&1; then ok=0; break; fi
    for st in "$T"/aside/*; do [ -d "$st" ] && mv "$st" "$R/"; done
done
if [ $ok = 1 ] && run_agg >/dev/null 2>"$T/err" && ! ls -d "$ROOT".tmp.* >/dev/null 2>&1 &&
   $PY $CHECK --armory --summary "$T/s4.json" "$ROOT" >"$T/out" 2>&1 && $PY -c "
import json; s = json.load(open('$T/s4.json'))
e = [e for e in s['experiments'].values() if e['name'] == '''$EVAL'''][0]
assert len(e['runs']) == 6, len(e['runs'])" 2>>"$T/out"; then
    pass aggregate_kill_safety
else
    fail aggregate_kill_safety "$(cat "$T/out" "$T/err" | tail -n 3)"
fi

# ---- usage and input errors ---------------------------------------------------------------------
"$AGG" --evaluation x >/dev/null 2>&1; [ $? = 2 ] && pass aggregate_usage_missing_run_dir || fail aggregate_usage_missing_run_dir "not exit 2"
"$AGG" --run-dir "$R" --evaluation x --pipeline-run-id xyz >/dev/null 2>&1
[ $? = 2 ] && pass aggregate_usage_bad_pipeline_id || fail aggregate_usage_bad_pipeline_id "not exit 2"
"$AGG" --run-dir "$R" --evaluation x --param novalue >/dev/null 2>&1
[ $? = 2 ] && pass aggregate_usage_bad_param || fail aggregate_usage_bad_param "not exit 2"
expect_fail aggregate_no_run_dir "$AGG" --run-dir "$T/nope" --evaluation x
mkdir -p "$T/empty"
expect_fail aggregate_no_chains "$AGG" --run-dir "$T/empty" --evaluation x
if [ ! -e "$T/empty/mlruns" ] && [ ! -e "$T/nope" ]; then pass aggregate_errors_write_nothing
else fail aggregate_errors_write_nothing "a store was created"; fi
