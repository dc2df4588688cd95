#!/bin/sh
# bin/attribute end to end with a tiny random model (tests/ref/saliency_model.h5) on the first
# shipped test scenes: every method runs; a well-formed saliency.h5 (trials = the classes
# present, maps [T,64,64] float32 and finite, parameters / pass counts / CPU seconds as
# attributes, provenance hashes); adding a method copies the other maps instead of recomputing
# them; shards concatenate to the whole and 1 or 2 threads give the same maps; --target
# predicted agrees with bin/infer's predictions; bad inputs (unknown method, parameter or
# layer, examples of another size, predictions of another model, missing file): a clear
# message, exit 1 or 2, no output, a previous output untouched.
. tests/lib.sh
A=${ATTRIBUTE:-bin/attribute}
MODEL=tests/ref/saliency_model.h5
SC=data/fashion-scenes/test
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_attribute.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in "$A" bin/load bin/infer; do
    [ -x "$b" ] || { fail attribute_binaries "$b not built"; exit 1; }
done
bin/load --coco $SC/annotations.json --images $SC --limit 8 --out "$T/ex.h5" 2>/dev/null &&
    bin/load --coco $SC/annotations.json --images $SC --limit 4 --size 32x32 \
        --out "$T/ex32.h5" 2>/dev/null || { fail attribute_fixture "bin/load failed"; exit 1; }

ALL=center,random,gradient,input_x_gradient,deconvnet,guided_backprop,gradcam,guided_gradcam
ALL=$ALL,linear_approx,excitation_backprop,contrastive_excitation_backprop,integrated_gradients
ALL=$ALL,smoothgrad,smoothgrad_sq,vargrad,occlusion,rise,extremal_perturbation
SMALL="--integrated_gradients.steps 6 --smoothgrad.samples 3 --smoothgrad_sq.samples 3
 --vargrad.samples 3 --rise.masks 40 --extremal_perturbation.iterations 3
 --occlusion.window 16 --occlusion.stride 16 --seed 9"
# shellcheck disable=SC2086
if "$A" --model $MODEL --examples "$T/ex.h5" --methods $ALL $SMALL --limit 5 --batch 16 \
    --out "$T/s.h5" >"$T/out.txt" 2>"$T/err.txt"; then
    pass attribute_all_methods_run
else
    fail attribute_all_methods_run "$(cat "$T/err.txt")"
fi
grep -q '^attribute: rise: .* 200 forward + 0 backward passes' "$T/out.txt" &&
    pass attribute_stdout_costs || fail attribute_stdout_costs "$(cat "$T/out.txt")"
# the timing record keeps the whole command line, --METHOD.PARAM options included
grep -q '"--rise.masks", "40", .*"--seed", "9"' "$T/s.h5.time.json" &&
    pass attribute_time_record_argv || fail attribute_time_record_argv "$(cat "$T/s.h5.time.json")"

$PY - "$T/ex.h5" "$T/s.h5" "$ALL" <<'EOF'
import json, sys
import h5py, numpy as np
ex, s, methods = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), sys.argv[3].split(",")
def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
t = s["trials"][:]
hot, ids = ex["labels"][:5], ex["examples"]["example_id"][:5]
want = [(ids[r], k) for r in range(5) for k in range(10) if hot[r, k]]
check("attribute_trials_columns", t.dtype.names == ("example_id", "class_id", "row", "reason"),
      str(t.dtype.names))
check("attribute_trials_are_labels", [(a, b) for a, b in zip(t["example_id"], t["class_id"])] == want
      and (ids[t["row"]] == t["example_id"]).all() and (t["reason"] == b"label").all())
check("attribute_all_maps", sorted(s["maps"]) == sorted(methods), str(list(s["maps"])))
ok, why = True, ""
for m in methods:
    d = s["maps"][m]
    a = d[:]
    p = json.loads(d.attrs["params"])
    good = (d.shape == (len(t), 64, 64) and d.dtype == np.float32 and np.isfinite(a).all()
            and p["method"] == m and "cpu_seconds" in d.attrs and "forward_passes" in d.attrs
            and (m in ("center", "random") or a.std() > 0))
    if not good:
        ok, why = False, "%s %s %s" % (m, d.shape, dict(d.attrs))
check("attribute_maps_wellformed", ok, why)
g = s["maps"]["gradcam"]
check("attribute_gradcam_params", json.loads(g.attrs["params"]) ==
      {"method": "gradcam", "layer": "relu3", "relu": True, "upsample": "bilinear", "smooth": 0})
check("attribute_ep_costs", s["maps"]["extremal_perturbation"].attrs["forward_passes"] ==
      len(t) * 4 * 2 and s["maps"]["rise"].attrs["forward_passes_per_trial"] > 0)
inputs = json.loads(s.attrs["inputs"])
params = json.loads(s.attrs["params"])
check("attribute_provenance", s.attrs["stage"] == b"attribute" and set(inputs) == {"model", "examples"}
      and params["method_params"]["rise"]["masks"] == 40 and params["seed"] == 9, str(params))
EOF

# Adding a method keeps the others byte for byte (their CPU seconds too: not recomputed).
cp "$T/s.h5" "$T/s0.h5"
# shellcheck disable=SC2086
"$A" --model $MODEL --examples "$T/ex.h5" --methods gradient,rise --rise.masks 60 --seed 9 \
    --limit 5 --batch 16 --out "$T/s.h5" >"$T/out2.txt" 2>&1 || fail attribute_add_method "$(cat "$T/out2.txt")"
$PY - "$T/s0.h5" "$T/s.h5" <<'EOF'
import sys
import h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
same = all((a["maps"][m][:] == b["maps"][m][:]).all() and
           a["maps"][m].attrs["cpu_seconds"] == b["maps"][m].attrs["cpu_seconds"]
           for m in a["maps"] if m != "rise")
check("attribute_add_keeps_others", same and sorted(a["maps"]) == sorted(b["maps"]))
check("attribute_changed_params_recomputed", b"\"masks\": 60" in b["maps"]["rise"].attrs["params"]
      and b["maps"]["rise"].attrs["forward_passes"] == 300)
EOF
grep -q 'gradient: up to date (kept)' "$T/out2.txt" && pass attribute_up_to_date ||
    fail attribute_up_to_date "$(cat "$T/out2.txt")"

# Shards concatenate to the whole; 1 and 2 threads give the same maps.
M="gradient,excitation_backprop,smoothgrad,rise"
S="--smoothgrad.samples 4 --rise.masks 30 --seed 3"
# shellcheck disable=SC2086
"$A" --model $MODEL --examples "$T/ex.h5" --methods $M $S --out "$T/w.h5" --threads 2 >/dev/null &&
    "$A" --model $MODEL --examples "$T/ex.h5" --methods $M $S --out "$T/w1.h5" --threads 1 \
        --batch 3 >/dev/null &&
    "$A" --model $MODEL --examples "$T/ex.h5" --methods $M $S --out "$T/p0.h5" --shard 0/2 >/dev/null &&
    "$A" --model $MODEL --examples "$T/ex.h5" --methods $M $S --out "$T/p1.h5" --shard 1/2 >/dev/null ||
    fail attribute_shards_run "stage failed"
$PY - "$T/w.h5" "$T/w1.h5" "$T/p0.h5" "$T/p1.h5" <<'EOF'
import sys
import h5py, numpy as np
w, w1, p0, p1 = (h5py.File(f, "r") for f in sys.argv[1:])
def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
check("attribute_threads_batch_bitwise",
      all((w["maps"][m][:] == w1["maps"][m][:]).all() for m in w["maps"]))
cat = lambda k: np.concatenate([p0[k][:], p1[k][:]])
check("attribute_shards_concatenate", len(p0["trials"]) > 0 and len(p1["trials"]) > 0 and
      (cat("trials")["example_id"] == w["trials"]["example_id"]).all() and
      all((cat("maps/" + m) == w["maps"][m][:]).all() for m in w["maps"]))
EOF

# --target predicted: one trial per example, the class bin/infer predicts.
bin/infer --model $MODEL --examples "$T/ex.h5" --out "$T/pred.h5" >/dev/null 2>&1 &&
    "$A" --model $MODEL --examples "$T/ex.h5" --methods gradient --target predicted \
        --predictions "$T/pred.h5" --out "$T/tp.h5" >/dev/null &&
    "$A" --model $MODEL --examples "$T/ex.h5" --methods gradient --target predicted \
        --out "$T/tp2.h5" >/dev/null || fail attribute_target_predicted_runs "stage failed"
$PY - "$T/pred.h5" "$T/tp.h5" "$T/tp2.h5" <<'EOF'
import sys
import h5py
p, a, b = (h5py.File(f, "r") for f in sys.argv[1:])
t = a["trials"][:]
ok = (len(t) == 8 and (t["class_id"] == p["predictions"]["predicted"]).all()
      and (t["reason"] == b"predicted").all() and (b["trials"][:] == t).all()
      and (a["maps/gradient"][:] == b["maps/gradient"][:]).all())
print("PASS attribute_target_predicted" if ok else "FAIL attribute_target_predicted: %s" % t)
EOF

# Bad inputs: clear message, non-zero exit, no output, previous output untouched.
sum0=$(cksum <"$T/s.h5")
expect_fail attribute_unknown_method "$A" --model $MODEL --examples "$T/ex.h5" --methods lime \
    --out "$T/s.h5"
"$A" --model $MODEL --examples "$T/ex.h5" --methods lime --out "$T/bad.h5" 2>/dev/null
[ $? -eq 2 ] && pass attribute_usage_exit_2 || fail attribute_usage_exit_2 "not exit 2"
expect_fail attribute_unknown_param "$A" --model $MODEL --examples "$T/ex.h5" --methods rise \
    --rise.cell 4 --out "$T/s.h5"
expect_fail attribute_param_for_unlisted_method "$A" --model $MODEL --examples "$T/ex.h5" \
    --methods gradient --rise.masks 4 --out "$T/s.h5"
expect_fail attribute_unknown_layer "$A" --model $MODEL --examples "$T/ex.h5" --methods gradcam \
    --gradcam.layer conv9 --out "$T/s.h5"
expect_fail attribute_batch_too_small "$A" --model $MODEL --examples "$T/ex.h5" \
    --methods gradient,extremal_perturbation --batch 2 --out "$T/s.h5"
expect_fail attribute_other_size "$A" --model $MODEL --examples "$T/ex32.h5" --methods gradient \
    --out "$T/s.h5"
expect_fail attribute_missing_examples "$A" --model $MODEL --examples "$T/nope.h5" \
    --methods gradient --out "$T/s.h5"
expect_fail attribute_predictions_not_predictions "$A" --model $MODEL --examples "$T/ex.h5" \
    --methods gradient --target predicted --predictions "$T/s.h5" --out "$T/s.h5"
bin/infer --model data/models/fashion-scenes-cnn.h5 --examples "$T/ex.h5" \
    --out "$T/pred_other.h5" >/dev/null 2>&1
msg=$("$A" --model $MODEL --examples "$T/ex.h5" --methods gradient --target predicted \
    --predictions "$T/pred_other.h5" --out "$T/s.h5" 2>&1 >/dev/null)
echo "$msg" | grep -q "cannot use predictions '.*pred_other.h5': it was computed with model" &&
    pass attribute_predictions_other_model || fail attribute_predictions_other_model "$msg"
[ "$(cksum <"$T/s.h5")" = "$sum0" ] && pass attribute_previous_output_untouched ||
    fail attribute_previous_output_untouched "s.h5 changed"
[ ! -e "$T/bad.h5" ] && ! ls "$T"/*.tmp.* >/dev/null 2>&1 && pass attribute_no_partial_output ||
    fail attribute_no_partial_output "$(ls "$T")"
"$A" --help >/dev/null 2>&1 && pass attribute_help || fail attribute_help "--help failed"
