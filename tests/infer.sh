#!/bin/sh
# bin/infer end to end with the shipped model on the first 200 shipped test scenes: a
# well-formed predictions.h5 (row-aligned ids, shapes, probs = sigmoid(logits), predicted =
# argmax, provenance hashes), the recorded mAP, shards that concatenate to the whole, the same
# bytes at 1 and 2 threads; and bad inputs (a model missing a tensor, examples of another size,
# swapped files, no such file, usage errors): clear message, exit 1 or 2, no output, a previous
# output left untouched.
. tests/lib.sh
INFER=${INFER:-bin/infer}
MODEL=${MODEL:-data/models/fashion-scenes-cnn.h5}
# mAP of the shipped model on the first 200 shipped test scenes (data/models/README.md)
RECORDED_MAP=0.915417
SC=data/fashion-scenes/test
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_infer.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in "$INFER" bin/load; do
    [ -x "$b" ] || { fail infer_binaries "$b not built"; exit 1; }
done
[ -f $MODEL ] || { fail infer_model "$MODEL missing"; exit 1; }
bin/load --coco $SC/annotations.json --images $SC --limit 200 --out "$T/ex.h5" 2>/dev/null &&
    bin/load --coco $SC/annotations.json --images $SC --limit 20 --size 32x32 \
        --out "$T/ex32.h5" 2>/dev/null || { fail infer_fixture "bin/load failed"; exit 1; }

if "$INFER" --model $MODEL --examples "$T/ex.h5" --out "$T/p.h5" --threads 2 >"$T/out.txt" \
    2>"$T/err.txt"; then
    pass infer_runs
else
    fail infer_runs "$(cat "$T/err.txt")"
fi
grep -q '^mAP 0\.' "$T/out.txt" && grep -q '^Ankle boot' "$T/out.txt" && pass infer_stdout_summary ||
    fail infer_stdout_summary "$(cat "$T/out.txt")"

# Well-formed table and arrays; the recorded mAP of the shipped model on these 200 scenes.
$PY - "$T/ex.h5" "$T/p.h5" "$RECORDED_MAP" <<'EOF'
import json, sys
import h5py, numpy as np
ex, p = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
t, e = p["predictions"][:], ex["examples"][:]
z, pr = p["logits"][:], p["probs"][:]
def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
check("infer_table_columns", t.dtype.names == ("example_id", "label", "predicted", "score", "correct"),
      str(t.dtype.names))
check("infer_rows_aligned", len(t) == 200 and (t["example_id"] == e["example_id"]).all())
check("infer_array_shapes", z.shape == (200, 10) and pr.shape == (200, 10) and z.dtype == np.float32)
check("infer_probs_sigmoid", np.allclose(pr, 1 / (1 + np.exp(-z.astype(np.float64))), atol=1e-6))
check("infer_predicted_argmax", (t["predicted"] == z.argmax(1)).all() and
      np.allclose(t["score"], pr[np.arange(200), t["predicted"]]))
hot = ex["labels"][:]
check("infer_correct_column", (t["correct"] == hot[np.arange(200), t["predicted"]]).all())
check("infer_label_column", (t["label"] == e["label"]).all())
inputs = json.loads(p.attrs["inputs"])
check("infer_provenance", p.attrs["stage"] == b"infer" and set(inputs) == {"model", "examples"}
      and len(inputs["model"]["hash"]) == 16, str(inputs))
RECORDED_MAP = float(sys.argv[3])
m = float(p.attrs["map"])
check("infer_recorded_map", abs(m - RECORDED_MAP) < 2e-4, "mAP %.6f, recorded %.6f" % (m, RECORDED_MAP))
aps = []
for k in range(10):
    s, y = pr[:, k].astype(np.float64), hot[:, k]
    o = np.argsort(-s, kind="stable"); s, y = s[o], y[o]
    last = np.r_[np.diff(s) != 0, True]
    tp = np.cumsum(y)[last]; fp = np.cumsum(1 - y)[last]
    rec = tp / y.sum(); prec = tp / (tp + fp)
    aps.append(np.sum(np.diff(np.r_[0, rec]) * prec))
check("infer_ap_recomputed", np.allclose(aps, p.attrs["ap"], atol=1e-9), "%s vs %s" % (aps, p.attrs["ap"]))
EOF

# Same bytes at 1 thread; shards concatenate to the whole.
"$INFER" --model $MODEL --examples "$T/ex.h5" --out "$T/p1.h5" --threads 1 --batch 7 >/dev/null 2>&1
$PY - "$T/p.h5" "$T/p1.h5" <<'EOF'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ok = all((a[k][:] == b[k][:]).all() for k in ("predictions", "logits", "probs"))
print("PASS infer_threads_and_batch" if ok else "FAIL infer_threads_and_batch: outputs differ")
EOF
"$INFER" --model $MODEL --examples "$T/ex.h5" --out "$T/s0.h5" --shard 0/2 >/dev/null 2>&1 &&
    "$INFER" --model $MODEL --examples "$T/ex.h5" --out "$T/s1.h5" --shard 1/2 >/dev/null 2>&1
$PY - "$T/p.h5" "$T/s0.h5" "$T/s1.h5" <<'EOF'
import sys, h5py, numpy as np
a, s0, s1 = (h5py.File(f, "r") for f in sys.argv[1:])
ok = 0 < len(s0["predictions"]) < 200 and all(
    (np.concatenate([s0[k][:], s1[k][:]]) == a[k][:]).all() for k in ("predictions", "logits", "probs"))
print("PASS infer_shards_concatenate" if ok else "FAIL infer_shards_concatenate: shards differ")
EOF

# Bad inputs. A model missing a tensor, made from the shipped one.
$PY - $MODEL "$T/missing.h5" <<'EOF'
import sys, h5py
with h5py.File(sys.argv[1], "r") as src, h5py.File(sys.argv[2], "w") as dst:
    for k, v in src.attrs.items():
        dst.attrs[k] = v
    for k in src:
        if k != "conv2.weight":
            src.copy(k, dst)
EOF
echo keep >"$T/keep.h5"
check_error() { # NAME WANT [infer args...]: exit 1, message with WANT, no output, keep.h5 intact
    name=$1; want=$2; shift 2
    msg=$("$INFER" "$@" --out "$T/keep.h5" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 1 ] && echo "$msg" | grep -q "cannot" && echo "$msg" | grep -q "$want" &&
        [ "$(cat "$T/keep.h5")" = keep ] && [ -z "$(ls "$T" | grep '\.tmp\.')" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc msg=$msg"
    fi
}
check_error infer_error_missing_tensor "conv2.weight' is missing" --model "$T/missing.h5" --examples "$T/ex.h5"
check_error infer_error_size "32x32x3" --model $MODEL --examples "$T/ex32.h5"
check_error infer_error_swapped "not a model file" --model "$T/ex.h5" --examples $MODEL
check_error infer_error_no_model "nothere.h5" --model "$T/nothere.h5" --examples "$T/ex.h5"
check_error infer_error_not_examples "examples" --model $MODEL --examples "$T/p.h5"
"$INFER" --model $MODEL --examples "$T/ex.h5" >/dev/null 2>&1
[ $? -eq 2 ] && pass infer_usage_exit_2 || fail infer_usage_exit_2 "missing --out not a usage error"
"$INFER" --model $MODEL --examples "$T/ex.h5" --out "$T/x.h5" --batch 0 >/dev/null 2>&1
[ $? -eq 2 ] && [ ! -e "$T/x.h5" ] && pass infer_usage_bad_batch || fail infer_usage_bad_batch "--batch 0 accepted"
