#!/bin/sh
# bin/score end to end on hand-built inputs (tests/test_score_fixture writes them): hand-known
# scores (oracle map = mask, constant map), the file's schema, identical bytes at 1 and 2
# threads, re-scoring with a new parameter, NaN maps as per-trial NaN, the re-attribution
# metrics, and every bad input: clear message, exit 1 (runtime) or 2 (usage), no output,
# previous output untouched, no temp left.
. tests/lib.sh
score_fixture score
# Cheap settings: the metrics' code paths are the same at any step count.
FAST="--deletion.steps 16 --insertion.steps 16 --faithfulness_correlation.runs 20 --bootstrap 200"

# ---- a full default run ---------------------------------------------------------------------
if $SCORE $S --saliency $T/sal.h5 --out $T/a.h5 $FAST --threads 1 >$T/a.txt 2>$T/a.err; then
    pass score_runs
else
    fail score_runs "$(cat $T/a.err)"
fi
if grep -q '^method  *metric  *mean' $T/a.txt && grep -q '^oracle  *relevance_mass  *1.0000' $T/a.txt &&
   grep -q '^pointing game (TorchRay' $T/a.txt; then
    pass score_prints_summary
else
    fail score_prints_summary "$(head -3 $T/a.txt)"
fi
$PY - "$T/a.h5" <<'EOF' >$T/check.txt 2>&1
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
def ok(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))
methods = ["center", "constant", "gradient", "oracle"]
ok("score_schema_methods", sorted(f["trials"].keys()) == methods, list(f["trials"].keys()))
tr = {m: f["trials/" + m][:] for m in methods}
T = len(tr["oracle"])
ok("score_schema_trials", T == 9 and all(len(tr[m]) == T for m in methods), T)
cols = tr["oracle"].dtype.names
want = ("example_id", "class_id", "gt_area", "difficult", "pointing_game", "energy_pointing_game",
        "relevance_mass", "relevance_rank", "top_k_intersection", "localisation_auc", "deletion",
        "insertion", "faithfulness_correlation", "infidelity", "sparseness", "complexity")
ok("score_schema_columns", cols == want, cols)
o = tr["oracle"]
defined = ~np.isnan(o["relevance_mass"])
ok("score_oracle_mass_one", defined.sum() == 9 and np.all(o["relevance_mass"][defined] == 1) and
   np.all(o["pointing_game"][defined] == 1) and np.all(o["localisation_auc"][defined] == 1),
   o["relevance_mass"])
# the difficult flag of examples.h5 (EBP subset) marks the trial; it is still scored
ok("score_difficult_flag", o["difficult"].sum() == 1 and not np.isnan(o["pointing_game"]).any())
c = tr["constant"]
ok("score_constant_map", np.all(c["sparseness"] == 0) and
   np.all(np.isnan(c["faithfulness_correlation"])) and
   np.all(c["pointing_game"][defined] == 0) and np.all(c["localisation_auc"][defined] == 0.5),
   c["pointing_game"])
d = f["curves/gradient/deletion"][:]
ok("score_curves_shape", d.shape == (9, 17) and f["curves/oracle/insertion"].shape == (9, 17),
   d.shape)
auc = (d.sum(1) - d[:, 0] / 2 - d[:, -1] / 2) / 16
ok("score_deletion_auc_is_curve_trapezoid", np.allclose(auc, tr["gradient"]["deletion"],
   rtol=1e-6, atol=1e-7), auc - tr["gradient"]["deletion"])
s = f["summary"][:]
ok("score_summary_rows", len(s) == 4 * 12, len(s))
row = s[(s["method"] == b"constant") & (s["metric"] == b"faithfulness_correlation")][0]
ok("score_summary_undefined", row["n"] == 0 and row["undefined"] == 9 and np.isnan(row["mean"]), row)
row = s[(s["method"] == b"oracle") & (s["metric"] == b"pointing_game")][0]
ok("score_summary_ci", row["n"] == 9 and row["undefined"] == 0 and row["ci_lo"] == 1 and
   row["n_boot"] == 200 and abs(row["level"] - 0.95) < 1e-12, row)
p = f["paired"][:]
ok("score_paired_rows", len(p) == 6 * 12 and p[0]["method_a"] == b"center", len(p))
row = p[(p["method_a"] == b"constant") & (p["method_b"] == b"oracle") & (p["metric"] == b"pointing_game")][0]
ok("score_paired_diff", row["mean_diff"] == -1 and row["n"] == 9, row)
pg = f["pointing_game"][:]
r = pg[(pg["method"] == b"oracle") & (pg["subset"] == b"all")][0]
ok("score_pointing_table", r["score"] == 1 and r["n_classes"] == 4 and
   abs(r["tolerance"] - 15 * 48 / 224) < 1e-12 and r["hits"] == 9, r)
r = pg[(pg["method"] == b"oracle") & (pg["subset"] == b"difficult")][0]
ok("score_pointing_difficult_subset", r["hits"] == 1 and r["score"] == 0.25, r)
pc = f["pointing_game_classes"][:]
ok("score_pointing_classes", len(pc) == 4 * 2 * 4, len(pc))
m = f["metrics"][:]
r = m[(m["method"] == b"gradient") & (m["metric"] == b"deletion")][0]
ok("score_metrics_cost", r["forward_per_trial"] == 17 and r["higher_is_better"] == -1, r)
a = dict(f.attrs)
ok("score_provenance", a["stage"] == b"score" and b"saliency" in a["inputs"] and
   b'"pointing_game.tolerance":3.21' in a["metric_params"], a.get("stage"))
EOF
cat $T/check.txt

# ---- determinism: same bytes at 1 and 2 threads ---------------------------------------------
$SCORE $S --saliency $T/sal.h5 --out $T/b.h5 $FAST --threads 2 >/dev/null 2>&1
if cmp -s $T/a.h5 $T/b.h5; then pass score_threads_bitwise; else fail score_threads_bitwise "a.h5 and b.h5 differ"; fi

# ---- results do not depend on the batch or block sizes ----------------------------------------
$SCORE $S --saliency $T/sal.h5 --out $T/bb.h5 $FAST --batch 7 --block 3 >/dev/null 2>&1
if $PY -c "
import h5py, sys
a, b = h5py.File('$T/a.h5'), h5py.File('$T/bb.h5')
keys = ['trials/gradient', 'trials/oracle', 'curves/gradient/deletion', 'summary', 'paired']
sys.exit(0 if all(a[k][:].tobytes() == b[k][:].tobytes() for k in keys) else 1)"; then
    pass score_batch_independent
else
    fail score_batch_independent "--batch 7 --block 3 changed the scores"
fi

# ---- re-scoring with another tolerance: no maps recomputed, new pointing values -------------
$SCORE $S --saliency $T/sal.h5 --out $T/c.h5 --metrics pointing_game --pointing_game.tolerance 20 \
    --bootstrap 100 >$T/c.txt 2>&1
if grep -q '^constant  *pointing_game  *0.5556' $T/c.txt && grep -q 'tolerance 20 px' $T/c.txt &&
   grep -q '"pointing_game.tolerance":20' $T/c.h5; then
    pass score_rescore_tolerance
else
    fail score_rescore_tolerance "$(cat $T/c.txt)"
fi

# ---- NaN maps: per-trial NaN, counted as undefined -----------------------------------------
if $SCORE $S --saliency $T/sal_nan.h5 --out $T/n.h5 $FAST >$T/n.txt 2>&1 &&
   $PY -c "
import sys, h5py, numpy as np
t = h5py.File('$T/n.h5')['trials/gradient'][:]
metrics = t.dtype.names[4:]
bad = [n for n in metrics if not np.isnan(t[n][3])]
bad += [n for n in ('deletion', 'insertion', 'infidelity', 'sparseness', 'complexity')
        if np.isnan(np.delete(t[n], 3)).any()]
sys.exit(1 if bad else 0)"; then
    pass score_nan_map_trial_nan
else
    fail score_nan_map_trial_nan "$(tail -3 $T/n.txt)"
fi

# ---- --limit ------------------------------------------------------------------------------
$SCORE $S --saliency $T/sal.h5 --out $T/l.h5 --metrics sparseness --limit 2 --paired 0 >/dev/null 2>&1
if [ "$($PY -c "import h5py; f=h5py.File('$T/l.h5'); print(len(f['trials/oracle']), len(f['paired']))")" = "3 0" ]; then
    pass score_limit
else
    fail score_limit "wrong trial count"
fi

# ---- --rerun-limit: re-run metrics on a prefix, NaN after it, the rest on every trial ------
# rl.h5 against a full run (rf.h5) and a --limit 2 run (rp.h5) of the same metrics
M="--methods center,gradient --metrics relevance_mass,deletion,insertion,faithfulness_correlation,sanity_check $FAST"
M="$M --sanity_check.layers conv2 --sanity_check.mode cascading"
if $SCORE $S --saliency $T/sal.h5 --out $T/rl.h5 $M --rerun-limit 2 >$T/rl.txt 2>&1 &&
   $SCORE $S --saliency $T/sal.h5 --out $T/rf.h5 $M >/dev/null 2>&1 &&
   $SCORE $S --saliency $T/sal.h5 --out $T/rp.h5 $M --limit 2 >/dev/null 2>&1 &&
   $PY - "$T" <<'EOF' >$T/rl.check 2>&1
import sys, h5py, numpy as np
d = sys.argv[1]
l, f, p = (h5py.File(d + n, "r") for n in ("/rl.h5", "/rf.h5", "/rp.h5"))
for m in ("center", "gradient"):
    tl, tf, tp = l["trials/" + m][:], f["trials/" + m][:], p["trials/" + m][:]
    n = len(tp)
    assert len(tl) == len(tf) == 9 and n == 3, (len(tl), n)
    assert np.array_equal(tl["relevance_mass"], tf["relevance_mass"], equal_nan=True)
    for c in ("deletion", "insertion", "faithfulness_correlation", "sanity_check_ssim"):
        assert np.array_equal(tl[c][:n], tp[c], equal_nan=True), c
        assert np.isnan(tl[c][n:]).all(), c
    for c in ("deletion", "insertion"):
        cl, cp = l["curves/%s/%s" % (m, c)][:], p["curves/%s/%s" % (m, c)][:]
        assert cl.shape == (9, 17) and np.array_equal(cl[:n], cp), c
        assert np.isnan(cl[n:]).all(), c
    s = l["curves/%s/sanity_cascading" % m][:]
    assert np.isnan(s[n:]).all() and not np.isnan(s[:n]).all()
sl = {(r["method"], r["metric"]): r for r in l["summary"][:]}
sp = {(r["method"], r["metric"]): r for r in p["summary"][:]}
k = (b"gradient", b"deletion")
assert sl[k]["n"] == 3 and sl[k]["mean"] == sp[k]["mean"], (sl[k], sp[k])
assert sl[(b"gradient", b"relevance_mass")]["n"] == 9
EOF
then
    pass score_rerun_limit
else
    fail score_rerun_limit "$(tail -3 $T/rl.txt $T/rl.check 2>/dev/null)"
fi

# ---- re-attribution metrics ---------------------------------------------------------------
if $SCORE $S --saliency $T/sal.h5 --out $T/r.h5 --methods gradient,center --bootstrap 100 \
    --metrics max_sensitivity,avg_sensitivity,sanity_check,random_logit --sensitivity.samples 3 \
    >$T/r.txt 2>&1 && grep -q '^center  *max_sensitivity  *0.0000' $T/r.txt &&
    grep -q '^center  *sanity_check_ssim  *1.0000' $T/r.txt &&
    $PY -c "
import h5py, numpy as np
f = h5py.File('$T/r.h5')
L = [x.decode() for x in f['sanity_layers']['layer']]
c = f['curves/gradient/sanity_cascading'][:]
t = f['trials/gradient'][:]
assert L == ['fc', 'conv2', 'conv1'] and c.shape == (9, 3, 4)
assert np.array_equal(c[:, -1, 2], t['sanity_check_ssim'])
assert np.all(t['random_logit_class'] != t['class_id'])"; then
    pass score_reattribution_metrics
else
    fail score_reattribution_metrics "$(cat $T/r.txt)"
fi

# ---- bad inputs ---------------------------------------------------------------------------
echo previous >$T/prev.h5
cp $T/prev.h5 $T/prev.orig
# bad NAME EXIT GREP ARGS...: exit code, message, previous output untouched, no temp left
bad() {
    name=$1; code=$2; pat=$3; shift 3
    msg=$("$@" --out $T/prev.h5 2>&1 >/dev/null); rc=$?
    if [ $rc -eq $code ] && echo "$msg" | grep -q "$pat" && cmp -s $T/prev.h5 $T/prev.orig &&
       [ -z "$(ls $T | grep tmp)" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc msg=$msg"
    fi
}
bad score_bad_other_model 1 "cannot score.*other.h5.*content hash" $SCORE $S --saliency $T/sal_other.h5
bad score_bad_model_arg 1 "computed with model" $SCORE --model $T/other.h5 --examples $T/examples.h5 --saliency $T/sal.h5
bad score_bad_unknown_id 1 "which is not in" $SCORE $S --saliency $T/sal_badid.h5
bad score_bad_unsorted 1 "not in example_id order" $SCORE $S --saliency $T/sal_unsorted.h5
bad score_bad_row 1 "rows misaligned" $SCORE $S --saliency $T/sal_badrow.h5
bad score_bad_map_shape 1 "not one 48x48 map per trial" $SCORE $S --saliency $T/sal_shape.h5
bad score_bad_other_examples 1 "computed with examples" $SCORE $S --saliency $T/sal_nomask.h5
bad score_bad_no_masks 1 "has no object masks" $SCORE --model $T/model.h5 --examples $T/examples_nomask.h5 --saliency $T/sal_nomask.h5 --metrics pointing_game
bad score_bad_not_rerunnable 1 "cannot re-run method 'oracle'" $SCORE $S --saliency $T/sal.h5 --metrics random_logit --methods oracle
bad score_bad_method 1 "no such map" $SCORE $S --saliency $T/sal.h5 --methods nosuch
bad score_bad_metric 2 "unknown" $SCORE $S --saliency $T/sal.h5 --metrics nosuch
bad score_bad_substrate 2 "unknown value" $SCORE $S --saliency $T/sal.h5 --deletion.substrate grey
bad score_bad_layer 1 "no such layer" $SCORE $S --saliency $T/sal.h5 --metrics sanity_check --methods gradient --sanity_check.layers conv9
bad score_bad_missing_file 1 "cannot" $SCORE $S --saliency $T/nope.h5
bad score_bad_usage 2 "required" $SCORE --model $T/model.h5
# ---- --shard K/N parts and --merge: the merged file is the unsharded run's, byte for byte --
# block 2 and --rerun-limit 3 put shard and block edges inside the re-run prefix
SH="--methods center,gradient --metrics relevance_mass,pointing_game,deletion,insertion,faithfulness_correlation,sanity_check,max_sensitivity"
SH="$S --saliency $T/sal.h5 $SH $FAST --sensitivity.samples 2 --rerun-limit 3 --block 2"
ok=1
$SCORE $SH --out $T/sh_full.h5 >$T/sh_full.txt 2>&1 || ok=0
for k in 0 1 2; do $SCORE $SH --shard $k/3 --out $T/sh_p$k.h5 >/dev/null 2>&1 || ok=0; done
$SCORE $SH --threads 1 --out $T/sh_merged.h5 --merge $T/sh_p0.h5 $T/sh_p1.h5 $T/sh_p2.h5 \
    >$T/sh_merged.txt 2>&1 || ok=0
if [ $ok = 1 ] && cmp -s $T/sh_full.h5 $T/sh_merged.h5 && cmp -s $T/sh_full.txt $T/sh_merged.txt &&
   [ "$($PY -c "import h5py; print(*(len(h5py.File('$T/sh_p%d.h5' % k)['trials/gradient']) for k in range(3)))")" = "3 2 4" ]; then
    pass score_shard_merge_identical
else
    fail score_shard_merge_identical "ok=$ok; $(tail -2 $T/sh_merged.txt)"
fi
# bad merges: exit 1 (2 for usage), a 'cannot merge' line, the previous output untouched
cp $T/sh_full.h5 $T/prev.h5 && cp $T/prev.h5 $T/prev.orig
$SCORE $SH --seed 1 --shard 1/3 --out $T/sh_seed1.h5 >/dev/null 2>&1
$SCORE $SH --reference-saliency $T/sal.h5 --shard 0/3 --out $T/sh_ref.h5 >/dev/null 2>&1
bad_merge() {
    name=$1; code=$2; pat=$3; shift 3
    msg=$($SCORE $SH --out $T/prev.h5 "$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq $code ] && echo "$msg" | grep -q "$pat" && cmp -s $T/prev.h5 $T/prev.orig &&
       [ -z "$(ls $T | grep tmp)" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc msg=$msg"
    fi
}
bad_merge score_merge_order 1 "cannot merge '.*sh_p1.h5': it is not shard 0/3" --merge $T/sh_p1.h5 $T/sh_p0.h5 $T/sh_p2.h5
bad_merge score_merge_missing_part 1 "not shard 0/2" --merge $T/sh_p0.h5 $T/sh_p2.h5
bad_merge score_merge_other_options 1 "not shard 1/3 .*\"seed\":1" --merge $T/sh_p0.h5 $T/sh_seed1.h5 $T/sh_p2.h5
bad_merge score_merge_other_inputs 1 "with a reference_saliency input, this run without" --merge $T/sh_ref.h5 $T/sh_p1.h5 $T/sh_p2.h5
bad_merge score_merge_other_stage 1 "written by stage 'attribute'" --merge $T/sal.h5 $T/sh_p1.h5 $T/sh_p2.h5
bad_merge score_merge_no_parts 2 "needs the parts" --merge
bad_merge score_merge_with_shard 2 "no --shard" --shard 1/3 --merge $T/sh_p0.h5
bad_merge score_merge_not_scores 1 "cannot" --merge $T/nope.h5 $T/sh_p1.h5 $T/sh_p2.h5
bad_merge score_merge_option_after_parts 2 "options go before" --merge $T/sh_p0.h5 $T/sh_p1.h5 $T/sh_p2.h5 --threads 1
bad score_positional_without_merge 2 "unexpected argument" $SCORE $SH $T/sh_p0.h5

# boxes instead of masks work on the same data
if $SCORE --model $T/model.h5 --examples $T/examples_nomask.h5 --saliency $T/sal_nomask.h5 \
    --metrics pointing_game --ground-truth boxes --out $T/x.h5 >/dev/null 2>&1; then
    pass score_boxes_ground_truth
else
    fail score_boxes_ground_truth "exit $?"
fi

# ---- bin/roar (remove and retrain) on the same fixture ------------------------------------
ROAR=${ROAR:-bin/roar}
RO="--model $T/model.h5 --train-examples $T/examples.h5 --train-saliency $T/sal.h5
    --test-examples $T/examples.h5 --test-saliency $T/sal.h5 --methods gradient,oracle
    --fractions 0,0.5 --trials 2 --epochs 2 --batch 2"
if $ROAR $RO --out $T/roar1.h5 --threads 1 >$T/roar.txt 2>&1 &&
   $ROAR $RO --out $T/roar2.h5 --threads 2 >/dev/null 2>&1 &&
   grep -q '^random  *0.50' $T/roar.txt && cmp -s $T/roar1.h5 $T/roar2.h5 &&
   $PY -c "
import h5py
f = h5py.File('$T/roar1.h5')
t = f['roar_trials'][:]
s = f['roar_summary'][:]
assert len(t) == 2 + 3 * 2 and len(s) == 4, (len(t), len(s))
assert list(s['method']) == [b'none', b'gradient', b'oracle', b'random']
assert all(t['removed'][t['fraction'] == 0.5] == 48 * 48 // 2)
assert f.attrs['score'] == b'accuracy'"; then
    pass roar_runs_bitwise
else
    fail roar_runs_bitwise "$(tail -5 $T/roar.txt)"
fi
bad roar_bad_other_model 1 "computed with model" $ROAR --model $T/other.h5 --train-examples $T/examples.h5 --train-saliency $T/sal.h5 --test-examples $T/examples.h5 --test-saliency $T/sal.h5 --batch 2
bad roar_bad_fraction 2 "not in" $ROAR $RO --fractions 1.5
bad roar_bad_usage 2 "required" $ROAR --model $T/model.h5
