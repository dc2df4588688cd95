#!/bin/sh
# bin/train end to end on 120 shipped test scenes with the shipped architecture: two runs give
# byte-identical model files, so do 1 and 2 threads, and a run stopped after epoch 1 (or killed
# with SIGKILL at any moment) then resumed gives the same file as an uninterrupted run; the
# model file loads in bin/infer; and bad inputs fail with a clear message, exit 1 (runtime) or
# 2 (usage), and no output.
. tests/lib.sh
TRAIN=${TRAIN:-bin/train}
INFER=${INFER:-bin/infer}
ARCH=data/models/fashion-scenes-cnn.json
SC=data/fashion-scenes/test
T=$(mktemp -d /tmp/test_train.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in "$TRAIN" "$INFER" bin/load; do
    [ -x "$b" ] || { fail train_binaries "$b not built"; exit 1; }
done
bin/load --coco $SC/annotations.json --images $SC --limit 120 --out "$T/ex.h5" 2>/dev/null ||
    { fail train_fixture "bin/load failed"; exit 1; }

# Small recipe: 2 epochs of batch 32, AdamW, flips and shifts (every random path is exercised).
run() { # run OUT THREADS [extra options]
    out=$1; th=$2; shift 2
    "$TRAIN" --arch $ARCH --examples "$T/ex.h5" --out "$out" --epochs 2 --batch 32 \
        --optimizer adamw --lr 0.003 --weight-decay 0.05 --warmup-epochs 0.5 --flip --shift 2 \
        --seed 7 --threads "$th" "$@"
}

if run "$T/a.h5" 2 2>"$T/a.log" && [ -f "$T/a.h5" ] && [ ! -e "$T/a.h5.ckpt" ]; then
    pass train_runs
else
    fail train_runs "$(tail -n 3 "$T/a.log")"
fi
grep -q 'epoch 2/2 .*val_map' "$T/a.log" && pass train_epoch_log || fail train_epoch_log "$(cat "$T/a.log")"

run "$T/b.h5" 2 2>/dev/null
cmp -s "$T/a.h5" "$T/b.h5" && pass train_deterministic || fail train_deterministic "two runs differ"

run "$T/c.h5" 1 2>/dev/null
cmp -s "$T/a.h5" "$T/c.h5" && pass train_threads_1_vs_2 || fail train_threads_1_vs_2 "1 and 2 threads differ"

# Stopped after epoch 1 (as a time-limited job would be), then resumed.
run "$T/d.h5" 2 --stop-after 1 2>/dev/null
if [ ! -e "$T/d.h5" ] && [ -f "$T/d.h5.ckpt" ]; then pass train_stop_keeps_checkpoint
else fail train_stop_keeps_checkpoint "expected only d.h5.ckpt"; fi
run "$T/d.h5" 2 --resume 2>"$T/d.log"
if grep -q 'resuming from .* after epoch 1' "$T/d.log" && cmp -s "$T/a.h5" "$T/d.h5"; then
    pass train_resume_same_weights
else
    fail train_resume_same_weights "$(tail -n 2 "$T/d.log")"
fi

# SIGKILL at some moment (after the first checkpoint when the machine lets us), then resume.
run "$T/k.h5" 2 2>/dev/null &
pid=$!
i=0
while [ $i -lt 200 ] && [ ! -f "$T/k.h5.ckpt" ] && kill -0 $pid 2>/dev/null; do
    sleep 0.05; i=$((i + 1))
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
rm -f "$T"/k.h5.tmp.* "$T"/k.h5.ckpt.tmp.* # a SIGKILLed writer cannot clean up its temps
run "$T/k.h5" 2 --resume 2>/dev/null
cmp -s "$T/a.h5" "$T/k.h5" && pass train_kill_resume || fail train_kill_resume "resumed file differs"

# A checkpoint made with other options is refused.
run "$T/e.h5" 2 --stop-after 1 2>/dev/null
msg=$("$TRAIN" --arch $ARCH --examples "$T/ex.h5" --out "$T/e.h5" --epochs 3 --batch 32 \
    --resume 2>&1); rc=$?
if [ $rc -eq 1 ] && echo "$msg" | grep -q 'other parameters' && [ ! -e "$T/e.h5" ]; then
    pass train_resume_other_params
else
    fail train_resume_other_params "rc=$rc $msg"
fi

# The trained model runs in bin/infer.
"$INFER" --model "$T/a.h5" --examples "$T/ex.h5" --out "$T/p.h5" >/dev/null 2>&1 &&
    pass train_model_infers || fail train_model_infers "bin/infer failed on the trained model"

# Bad inputs: clear message, exit 1, no output.
sed 's/"batchnorm2d"/"batchnorm3d"/' $ARCH >"$T/bad_kind.json"
sed 's/"height": 64/"height": 32/; s/"width": 64/"width": 32/' $ARCH >"$T/small.json"
sed 's/"sigmoid"/"softmax"/' $ARCH >"$T/softmax.json"
head -c 200 $ARCH >"$T/truncated.json"
for c in bad_kind:batchnorm3d small:32x32x3 softmax:single\ label truncated:malformed; do
    name=${c%%:*}; want=${c#*:}
    msg=$("$TRAIN" --arch "$T/$name.json" --examples "$T/ex.h5" --out "$T/bad.h5" --epochs 1 \
        2>&1); rc=$?
    if [ $rc -eq 1 ] && echo "$msg" | grep -q "cannot" && echo "$msg" | grep -q "$want" &&
        [ ! -e "$T/bad.h5" ]; then
        pass "train_error_$name"
    else
        fail "train_error_$name" "rc=$rc $msg"
    fi
done
expect_fail train_error_no_examples "$TRAIN" --arch $ARCH --examples "$T/none.h5" --out "$T/bad.h5"
"$TRAIN" --examples "$T/ex.h5" --out "$T/bad.h5" >/dev/null 2>&1
[ $? -eq 2 ] && pass train_usage_exit_2 || fail train_usage_exit_2 "missing --arch/--init not a usage error"
[ ! -e "$T/bad.h5" ] && pass train_no_output_on_error || fail train_no_output_on_error "bad.h5 exists"
