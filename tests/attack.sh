#!/bin/sh
# bin/attack end to end on 120 shipped scenes (multi-label, sigmoid model) and 100 Fashion-MNIST
# test images (single-label, softmax model), with random models written by test_attack: the
# copied tables equal the input's, the eps ball holds in uint8, PGD raises the loss, targeting
# and success flags agree, 0 iterations is the identity, identical bytes at 1 and 2 threads,
# equal data at other batch sizes, pandas reads the new table, and every bad input gives a
# clear message, exit 1 or 2, no output and the previous output untouched.
. tests/lib.sh
BUILD=${BUILD:-build/release}
PY=/usr/bin/python3
FM=/usr/share/datasets/fashion-mnist
T=$(mktemp -d /tmp/test_attack.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in bin/attack bin/load "$BUILD/tests/test_attack"; do
    if [ ! -x "$b" ]; then fail attack_binaries "$b not built"; exit 1; fi
done
SC=data/fashion-scenes/test
if [ ! -f "$SC/annotations.json" ]; then
    SC=$T/scenes
    bin/make_scenes --count 120 --out "$SC" >/dev/null 2>&1 || { fail attack_fixture "no scenes"; exit 1; }
fi
bin/load --out "$T/ex.h5" --coco "$SC/annotations.json" --images "$SC" --limit 120 2>/dev/null &&
    "$BUILD/tests/test_attack" --write-model "$T/model.h5" "$T/ex.h5" sigmoid ||
    { fail attack_fixture "cannot make examples/model"; exit 1; }
A="bin/attack --model $T/model.h5 --examples $T/ex.h5"

# --- PGD: tables copied, ball, loss up, determinism ------------------------------------------
$A --out "$T/pgd.h5" --attack pgd --iters 3 --random-start --seed 5 --threads 1 2>"$T/err" &&
    $A --out "$T/pgd2.h5" --attack pgd --iters 3 --random-start --seed 5 --threads 2 2>>"$T/err" &&
    $A --out "$T/pgd7.h5" --attack pgd --iters 3 --random-start --seed 5 --batch 7 2>>"$T/err"
if [ $? -eq 0 ]; then pass attack_pgd_runs; else fail attack_pgd_runs "$(cat "$T/err")"; fi
if cmp -s "$T/pgd.h5" "$T/pgd2.h5"; then pass attack_threads_identical; else fail attack_threads_identical "files differ"; fi
ok=1
for d in examples objects classes masks labels images perturbation; do
    h5diff "$T/pgd.h5" "$T/pgd7.h5" "/$d" "/$d" >/dev/null || ok=0
done
if [ $ok = 1 ]; then pass attack_batch_size_same_data; else fail attack_batch_size_same_data "batch 7 differs from 32"; fi
ok=1
for d in examples objects classes masks labels; do
    h5diff "$T/ex.h5" "$T/pgd.h5" "/$d" "/$d" >/dev/null || ok=0
done
if [ $ok = 1 ]; then pass attack_tables_copied; else fail attack_tables_copied "a copied table differs"; fi

$PY - "$T" <<'EOF' | while read -r line; do echo "$line"; done
import sys, h5py, numpy as np, pandas as pd
t = sys.argv[1]
ex, f = h5py.File(t + "/ex.h5"), h5py.File(t + "/pgd.h5")
p = f["perturbation"][:]
a, b = f["images"][:].astype(int), ex["images"][:].astype(int)
d = np.abs(a - b).reshape(len(a), -1)
def check(name, ok, why):
    print(("PASS " + name) if ok else ("FAIL %s: %s" % (name, why)))
check("attack_ids_kept", (p["example_id"] == ex["examples"]["example_id"]).all() and
      (f["examples"]["example_id"] == p["example_id"]).all(), "example_id changed")
check("attack_pgd_eps_ball", d.max() <= 8 and (p["linf_levels"] == d.max(1)).all(),
      "max %d, table %s" % (d.max(), p["linf_levels"][:5]))
l2 = np.sqrt((((a - b) / 255.0) ** 2).reshape(len(a), -1).sum(1))
check("attack_norms_recorded", np.allclose(p["l2"], l2, rtol=1e-5) and
      np.allclose(p["linf"], p["linf_levels"] / 255.0), "l2/linf columns wrong")
check("attack_pgd_loss_up", (p["loss_attacked"] > p["loss_benign"]).mean() > 0.95,
      "loss up for %.2f" % (p["loss_attacked"] > p["loss_benign"]).mean())
check("attack_success_flag", ((p["attacked_pred"] != p["benign_pred"]) == (p["success"] == 1)).all()
      and (p["target"] == -1).all(), "success != prediction changed")
r = pd.read_hdf(t + "/pgd.h5", "perturbation")
check("attack_pandas_reads", len(r) == len(p) and "loss_attacked" in r.columns, "pandas")
a = dict(f.attrs)
check("attack_provenance", a["stage"] == b"attack" and b'"attack":"pgd"' in a["params"] and
      a["attack_eps_levels"] == 8 and b"benign" in a["example_id_note"], str(a.get("params")))
e = dict(ex.attrs)
check("attack_keeps_data_attrs", all(k in a and a[k] == e[k] for k in
      ("source_format", "boxes_clipped", "boxes_empty")), {k: a.get(k) for k in ("source_format",)})
EOF

# --- the other kinds ---------------------------------------------------------------------------
$A --out "$T/p0.h5" --attack pgd --iters 0 2>/dev/null
if h5diff "$T/ex.h5" "$T/p0.h5" /images /images >/dev/null; then pass attack_pgd_0_iters_identity; else fail attack_pgd_0_iters_identity "images changed"; fi
$A --out "$T/fgsm.h5" --attack fgsm --eps 4/255 --targeted 3 2>/dev/null &&
    $A --out "$T/next.h5" --attack pgd --iters 2 --target-next 2>/dev/null &&
    $A --out "$T/noise.h5" --attack noise --sigma 0.05 --seed 1 2>/dev/null &&
    $A --out "$T/blur.h5" --attack blur --sigma 1.5 2>/dev/null &&
    $A --out "$T/jpeg.h5" --attack jpeg --quality 30 2>/dev/null
if [ $? -eq 0 ]; then pass attack_kinds_run; else fail attack_kinds_run "a kind failed"; fi
$PY - "$T" <<'EOF'
import sys, h5py, numpy as np
t = sys.argv[1]
ex = h5py.File(t + "/ex.h5")
b = ex["images"][:].astype(int)
def check(name, ok, why):
    print(("PASS " + name) if ok else ("FAIL %s: %s" % (name, why)))
f = h5py.File(t + "/fgsm.h5"); p = f["perturbation"][:]
check("attack_fgsm_targeted", (p["target"] == 3).all() and (p["linf_levels"] == 4).all() and
      ((p["attacked_pred"] == 3) == (p["success"] == 1)).all() and
      (p["loss_attacked"] < p["loss_benign"]).mean() > 0.7 and
      p["loss_attacked"].mean() < p["loss_benign"].mean(), "targeted fgsm columns")
f = h5py.File(t + "/next.h5"); p = f["perturbation"][:]
y = np.where(p["label"] >= 0, p["label"], p["benign_pred"])
check("attack_target_next", (p["target"] == (y + 1) % 10).all(), "target != label+1")
for k in ("noise", "blur", "jpeg"):
    f = h5py.File(t + "/%s.h5" % k); p = f["perturbation"][:]
    d = np.abs(f["images"][:].astype(int) - b)
    check("attack_%s_changes_images" % k, d.mean() > 0.5 and (p["target"] == -1).all() and
          f.attrs["attack_mode"] == b"corruption", "mean change %.3f" % d.mean())
EOF

# attacking an attacked file: chains compose, the new perturbation table replaces the old
bin/attack --model "$T/model.h5" --examples "$T/noise.h5" --out "$T/twice.h5" --attack blur 2>"$T/err"
if [ $? -eq 0 ] && h5diff "$T/ex.h5" "$T/twice.h5" /examples /examples >/dev/null; then
    pass attack_on_attacked_file; else fail attack_on_attacked_file "$(cat "$T/err")"; fi

# --- single-label grey images (IDX, softmax) ---------------------------------------------------
if [ -f "$FM/t10k-images-idx3-ubyte.gz" ]; then
    bin/load --out "$T/fm.h5" --idx-images "$FM/t10k-images-idx3-ubyte.gz" \
        --idx-labels "$FM/t10k-labels-idx1-ubyte.gz" --limit 100 2>/dev/null &&
        "$BUILD/tests/test_attack" --write-model "$T/fm_model.h5" "$T/fm.h5" softmax &&
        bin/attack --model "$T/fm_model.h5" --examples "$T/fm.h5" --out "$T/fm_pgd.h5" --attack pgd 2>"$T/err" &&
        bin/attack --model "$T/fm_model.h5" --examples "$T/fm.h5" --out "$T/fm_jpeg.h5" --attack jpeg 2>>"$T/err"
    if [ $? -eq 0 ]; then pass attack_idx_grey_runs; else fail attack_idx_grey_runs "$(cat "$T/err")"; fi
    $PY - "$T" <<'EOF'
import sys, h5py, numpy as np
p = h5py.File(sys.argv[1] + "/fm_pgd.h5")["perturbation"][:]
ok = (p["linf_levels"] <= 8).all() and (p["loss_attacked"] > p["loss_benign"]).mean() > 0.95
print("PASS attack_idx_softmax_pgd" if ok else "FAIL attack_idx_softmax_pgd: columns")
EOF
fi

# --- bad inputs: message, exit code, nothing written, old output untouched --------------------
cp "$T/pgd.h5" "$T/keep.h5"
code() { "$@" >/dev/null 2>"$T/msg"; echo $?; }
bad() { # NAME EXPECTED-CODE ARGS...: exit code, 'cannot' or usage message, pgd.h5 unchanged
    name=$1; want=$2; shift 2
    rc=$(code "$@")
    if [ "$rc" = "$want" ] && [ -s "$T/msg" ] && cmp -s "$T/pgd.h5" "$T/keep.h5" &&
        [ -z "$(ls "$T" | grep '\.tmp\.')" ]; then pass "$name"
    else fail "$name" "rc=$rc (want $want) msg=$(cat "$T/msg")"; fi
}
bad attack_bad_kind 2 $A --out "$T/pgd.h5" --attack cw
bad attack_bad_quality_for_pgd 2 $A --out "$T/pgd.h5" --attack pgd --quality 50
bad attack_bad_eps 2 $A --out "$T/pgd.h5" --attack fgsm --eps 8
bad attack_bad_target_class 2 $A --out "$T/pgd.h5" --attack fgsm --targeted 10
bad attack_bad_both_targets 2 $A --out "$T/pgd.h5" --attack pgd --targeted 1 --target-next
bad attack_missing_model 1 bin/attack --model "$T/none.h5" --examples "$T/ex.h5" --out "$T/pgd.h5" --attack pgd
bad attack_model_not_model 1 bin/attack --model "$T/ex.h5" --examples "$T/ex.h5" --out "$T/pgd.h5" --attack pgd
if [ -f "$T/fm_model.h5" ]; then
    bad attack_model_mismatch 1 bin/attack --model "$T/fm_model.h5" --examples "$T/ex.h5" --out "$T/pgd.h5" --attack noise
fi
bad attack_missing_examples 1 bin/attack --model "$T/model.h5" --examples "$T/none.h5" --out "$T/pgd.h5" --attack pgd
rc=$(code $A --out "$T/nodir/x.h5" --attack noise)
if [ "$rc" = 1 ] && grep -q cannot "$T/msg" && [ ! -e "$T/nodir" ]; then pass attack_bad_out_dir; else fail attack_bad_out_dir "rc=$rc $(cat "$T/msg")"; fi
rc=$(SALBENCH_FAIL_COMMIT=1 code $A --out "$T/pgd.h5" --attack noise)
if [ "$rc" = 1 ] && cmp -s "$T/pgd.h5" "$T/keep.h5" && [ -z "$(ls "$T" | grep '\.tmp\.')" ]; then
    pass attack_failed_commit_keeps_old; else fail attack_failed_commit_keeps_old "rc=$rc $(cat "$T/msg")"; fi
