#!/bin/sh
# bin/score --reference-saliency (map_stability): a map against itself gives 1 (constant maps
# NaN), a negated map -1, a trial missing from the reference NaN and counted, the metric in the
# summary, paired and metrics tables and the reference's hash in the provenance; a real attack
# chain (bin/attack pgd, bin/attribute) scored against the benign maps, bitwise at 1 and 2
# threads, with the attack recorded; and the bad references: other model, other examples, a
# method missing, other map shape, the metric without a reference.
. tests/lib.sh
score_fixture stability
Q="--metrics sparseness --bootstrap 100"

# Modified references, written with h5py: gradient negated, the last trial dropped, no center.
$PY - "$T" <<'EOF2' || fail stability_make_refs "h5py could not write the references"
import sys, shutil, h5py
T = sys.argv[1]
def copy(name):
    shutil.copy(T + "/sal.h5", T + "/" + name)
    return h5py.File(T + "/" + name, "r+")
with copy("ref_neg.h5") as f:
    f["maps/gradient"][...] = -f["maps/gradient"][:]
with copy("ref_nocenter.h5") as f:
    del f["maps/center"]
def cut(f, name):
    data, attrs = f[name][:-1], dict(f[name].attrs)
    del f[name]
    d = f.create_dataset(name, data=data)
    for k, v in attrs.items():
        d.attrs[k] = v
with copy("ref_drop.h5") as f:
    cut(f, "trials")
    for m in list(f["maps"].keys()):
        cut(f, "maps/" + m)
EOF2

# ---- a map against itself ---------------------------------------------------------------------
if $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/sal.h5 --out $T/self.h5 $Q \
    >$T/self.txt 2>$T/self.err && grep -q '^gradient  *map_stability  *1.0000' $T/self.txt &&
    grep -q '^oracle  *map_stability_topk  *1.0000' $T/self.txt; then
    pass stability_self_prints_one
else
    fail stability_self_prints_one "$(cat $T/self.err $T/self.txt)"
fi
$PY - "$T" <<'EOF2'
import sys, json, h5py, numpy as np
T = sys.argv[1]
def ok(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))
f = h5py.File(T + "/self.h5", "r")
g = f["trials/gradient"][:]
ok("stability_self_columns", g.dtype.names == ("example_id", "class_id", "sparseness",
   "map_stability", "map_stability_topk"), g.dtype.names)
ok("stability_self_is_one", np.all(g["map_stability"] == 1) and np.all(g["map_stability_topk"] == 1),
   g["map_stability"])
c = f["trials/constant"][:]
ok("stability_constant_nan", np.isnan(c["map_stability"]).all() and np.isnan(c["map_stability_topk"]).all(),
   c["map_stability"])
s = f["summary"][:]
row = s[(s["method"] == b"gradient") & (s["metric"] == b"map_stability")]
ok("stability_in_summary", len(row) == 1 and row[0]["mean"] == 1 and row[0]["n"] == 9 and
   row[0]["ci_lo"] == 1, row)
row = s[(s["method"] == b"constant") & (s["metric"] == b"map_stability")]
ok("stability_summary_undefined", len(row) == 1 and row[0]["undefined"] == 9 and row[0]["n"] == 0, row)
p = f["paired"][:]
ok("stability_in_paired", ((p["metric"] == b"map_stability_topk") & (p["method_a"] == b"center") &
   (p["method_b"] == b"gradient")).sum() == 1, len(p))
m = f["metrics"][:]
r = m[(m["method"] == b"oracle") & (m["metric"] == b"map_stability")][0]
ok("stability_metrics_row", r["family"] == b"robustness" and r["higher_is_better"] == 1 and
   r["forward_per_trial"] == 0, r)
inputs = json.loads(f.attrs["inputs"])
params = json.loads(f.attrs["metric_params"])
ok("stability_provenance", inputs["reference_saliency"]["path"].endswith("/sal.h5") and
   len(inputs["reference_saliency"]["hash"]) == 16 and params["map_stability.k"] == 230 and
   params["map_stability.top_fraction"] == 0.1 and f.attrs["map_stability_missing"] == 0 and
   "attack" not in f.attrs, (inputs, params))
EOF2

# ---- negated maps, a missing trial, abs and k options --------------------------------------
$SCORE $S --saliency $T/sal.h5 --reference-saliency $T/ref_neg.h5 --out $T/neg.h5 $Q \
    --methods gradient >/dev/null 2>&1
$SCORE $S --saliency $T/sal.h5 --reference-saliency $T/ref_neg.h5 --out $T/negabs.h5 $Q \
    --methods gradient --map_stability.abs 1 --map_stability.top_fraction 0.5 >/dev/null 2>&1
$SCORE $S --saliency $T/sal.h5 --reference-saliency $T/ref_drop.h5 --out $T/drop.h5 $Q \
    --methods gradient,oracle >/dev/null 2>$T/drop.err
$PY - "$T" <<'EOF2'
import sys, json, h5py, numpy as np
T = sys.argv[1]
def ok(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))
g = h5py.File(T + "/neg.h5", "r")["trials/gradient"][:]
ok("stability_negated_minus_one", np.allclose(g["map_stability"], -1, atol=1e-12), g["map_stability"])
f = h5py.File(T + "/negabs.h5", "r")
g = f["trials/gradient"][:]
ok("stability_abs_option", np.all(g["map_stability"] == 1) and np.all(g["map_stability_topk"] == 1) and
   json.loads(f.attrs["metric_params"])["map_stability.k"] == 48 * 48 // 2, g["map_stability"])
f = h5py.File(T + "/drop.h5", "r")
g = f["trials/oracle"][:]
ok("stability_missing_trial_nan", np.isnan(g["map_stability"][-1]) and
   np.all(g["map_stability"][:-1] == 1) and f.attrs["map_stability_missing"] == 1, g["map_stability"])
s = f["summary"][:]
row = s[(s["method"] == b"oracle") & (s["metric"] == b"map_stability")][0]
ok("stability_missing_counted", row["undefined"] == 1 and row["n"] == 8, row)
EOF2
if grep -q "1 of 9 trials have no trial in" $T/drop.err; then pass stability_missing_note
else fail stability_missing_note "$(cat $T/drop.err)"; fi

# ---- sharded: the dropped reference trial lands in the last shard; merged == unsharded ------
D="$S --saliency $T/sal.h5 --reference-saliency $T/ref_drop.h5 $Q --methods gradient,oracle"
ok=1
for k in 0 1; do $SCORE $D --shard $k/2 --out $T/dp$k.h5 >/dev/null 2>&1 || ok=0; done
$SCORE $D --out $T/dmerged.h5 --merge $T/dp0.h5 $T/dp1.h5 >/dev/null 2>&1 || ok=0
if [ $ok = 1 ] && cmp -s $T/drop.h5 $T/dmerged.h5 &&
   [ "$($PY -c "import h5py; print(h5py.File('$T/dp1.h5').attrs['map_stability_missing'])")" = 1 ]; then
    pass stability_shard_merge_identical
else
    fail stability_shard_merge_identical "ok=$ok"
fi

# ---- an attack chain against its benign chain -------------------------------------------------
A="--model $T/model.h5 --examples $T/att_ex.h5 --saliency $T/att.h5 --reference-saliency $T/ben.h5 $Q"
if bin/attribute $S --methods gradient,guided_backprop --out $T/ben.h5 >/dev/null 2>&1 &&
   bin/attack $S --attack pgd --iters 3 --out $T/att_ex.h5 >/dev/null 2>&1 &&
   bin/attribute --model $T/model.h5 --examples $T/att_ex.h5 --methods gradient,guided_backprop \
       --out $T/att.h5 >/dev/null 2>&1 &&
   $SCORE $A --out $T/chain1.h5 --threads 1 >$T/chain.txt 2>&1 &&
   $SCORE $A --out $T/chain2.h5 --threads 2 >/dev/null 2>&1 &&
   $PY -c "
import h5py, numpy as np
f = h5py.File('$T/chain1.h5', 'r')
g = f['trials/guided_backprop'][:]
assert len(g) == 9 and np.all(np.abs(g['map_stability']) <= 1) and np.all(g['map_stability'] < 1)
assert np.all((g['map_stability_topk'] >= 0) & (g['map_stability_topk'] <= 1))
assert f.attrs['attack'] == b'pgd' and f.attrs['attack_mode'] == b'untargeted'
assert abs(f.attrs['attack_eps'] - 8 / 255) < 1e-6"; then
    pass stability_attack_chain
else
    fail stability_attack_chain "$(tail -3 $T/chain.txt)"
fi
if cmp -s $T/chain1.h5 $T/chain2.h5; then pass stability_threads_bitwise
else fail stability_threads_bitwise "1 and 2 threads differ"; fi

# ---- bad references ---------------------------------------------------------------------------
echo previous >$T/prev.h5
cp $T/prev.h5 $T/prev.orig
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
bad stability_bad_other_model 1 "cannot use reference saliency '.*sal_other.h5': it was computed with model" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/sal_other.h5 $Q
bad stability_bad_other_examples 1 "cannot use reference saliency .*neither" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/sal_nomask.h5 $Q
bad stability_bad_missing_method 1 "method 'center'.*has no map 'maps/center'" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/ref_nocenter.h5 $Q
bad stability_bad_shape 1 "cannot use reference saliency.*not one 48x48 map per trial" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/sal_shape.h5 --methods gradient $Q
bad stability_bad_no_reference 2 "needs --reference-saliency" \
    $SCORE $S --saliency $T/sal.h5 --metrics map_stability
bad stability_bad_fraction 2 "top_fraction" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/sal.h5 --map_stability.top_fraction 2
bad stability_bad_missing_file 1 "cannot" \
    $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/nope.h5
# without the method missing from the reference selected, the same reference is fine
if $SCORE $S --saliency $T/sal.h5 --reference-saliency $T/ref_nocenter.h5 --methods gradient $Q \
    --out $T/ok.h5 >/dev/null 2>&1; then pass stability_methods_subset
else fail stability_methods_subset "exit $?"; fi
