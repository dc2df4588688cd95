#!/bin/sh
# make bench (saliency part): ms per trial of every attribution method on the default model,
# C (bench_saliency) against the PyTorch reference (saliency_torch.py) on the same examples,
# trials and parameters, method by method in alternation so both see the same machine load.
# Prints one table: medians (and best) of REPEATS repeats and the speed-up torch / C.
#   tests/bench/saliency_run.sh BENCH_BINARY
# Environment: THREADS (2), REPEATS (3), N examples (8), METHODS (all), MODEL (the shipped
# model file when present, else the default architecture with seeded random weights), SETS
# (method parameters for both sides; default: rise.masks=2000 and
# extremal_perturbation.iterations=50 to keep the run short - both scale linearly).
set -u
bin=${1:?usage: tests/bench/saliency_run.sh BENCH_BINARY}
threads=${THREADS:-2}
repeats=${REPEATS:-3}
n=${N:-8}
methods=${METHODS:-center,random,gradient,input_x_gradient,deconvnet,guided_backprop,gradcam,guided_gradcam,linear_approx,excitation_backprop,contrastive_excitation_backprop,integrated_gradients,smoothgrad,smoothgrad_sq,vargrad,occlusion,rise,extremal_perturbation}
sets=${SETS:-rise.masks=2000 extremal_perturbation.iterations=50}
model=${MODEL:-data/models/fashion-scenes-cnn.h5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

bin/load --coco data/fashion-scenes/test/annotations.json --images data/fashion-scenes/test \
    --limit "$n" --out "$out/ex.h5" >/dev/null 2>&1 || { echo "bench: bin/load failed" >&2; exit 1; }
if [ -f "$model" ]; then src="--model $model"; else src="--arch data/models/fashion-scenes-cnn.json"; fi
cset=""
tset=""
for s in $sets; do cset="$cset --set $s"; tset="$tset --set $s"; done
torch=1
/usr/bin/python3 -c 'import torch' 2>/dev/null || { torch=0; echo "bench: python3-torch not installed; C figures only" >&2; }
echo "saliency: $bin vs PyTorch, OMP_NUM_THREADS=$threads, $repeats repeats, $n examples, ${src#--* }, $sets" >&2
for m in $(echo "$methods" | tr ',' ' '); do
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=$threads "$bin" --examples "$out/ex.h5" $src --n "$n" --repeats "$repeats" \
        --methods "$m" $cset | grep '^RESULT' >>"$out/r.txt" || { echo "bench: C $m failed" >&2; exit 1; }
    [ $torch = 1 ] || continue
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$threads /usr/bin/python3 "$(dirname "$0")/saliency_torch.py" \
        --examples "$out/ex.h5" $src --n "$n" --repeats "$repeats" --threads "$threads" \
        --methods "$m" $tset | grep '^RESULT' >>"$out/r.txt" || echo "bench: torch $m failed" >&2
done
awk '
function field(name,   i, kv) {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
}
/^RESULT/ {
    m = field("method")
    if (field("engine") == "c") { order[++n] = m; c[m] = field("ms_per_trial"); cb[m] = field("best_ms_per_trial"); tr[m] = field("trials") }
    else { t[m] = field("ms_per_trial"); tb[m] = field("best_ms_per_trial") }
}
END {
    printf "%-32s %6s %12s %10s %12s %10s %8s\n", "method", "trials", "C ms/trial", "(best)",
        "torch ms/tr", "(best)", "torch/C"
    for (i = 1; i <= n; i++) {
        m = order[i]
        r = (m in t) && c[m] > 0 ? sprintf("%.2f", t[m] / c[m]) : "-"
        printf "%-32s %6s %12.3f %10.3f %12s %10s %8s\n", m, tr[m], c[m], cb[m],
            (m in t) ? sprintf("%.3f", t[m]) : "-", (m in t) ? sprintf("%.3f", tb[m]) : "-", r
    }
}' "$out/r.txt"
