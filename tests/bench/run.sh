#!/bin/sh
# make bench: runs the C engine benchmark and, when Debian's python3-torch is installed, the
# same work in PyTorch, then prints one table with the images/s ratio (C / torch) and conv
# GFLOP/s next to the measured FP32 peak. Each figure is the median of REPEATS repeats
# (default 5); with ROUNDS > 1 (default 2) the whole alternation runs again and the best
# round's median is shown for each engine, which filters out spells of load from elsewhere.
#   tests/bench/run.sh BENCH_BINARY   (THREADS=2 REPEATS=5 ROUNDS=2 MODEL=all by default)
set -u
bin=${1:?usage: tests/bench/run.sh BENCH_BINARY}
threads=${THREADS:-2}
repeats=${REPEATS:-5}
model=${MODEL:-all}
rounds=${ROUNDS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

has_torch=0
/usr/bin/python3 -c 'import torch' 2>/dev/null && has_torch=1
echo "engine: $bin, OMP_NUM_THREADS=$threads, $repeats repeats, model $model" >&2
[ $has_torch = 1 ] &&
    echo "pytorch: torch.set_num_threads($threads), channels_last, OPENBLAS_NUM_THREADS=1" >&2
[ $has_torch = 1 ] || echo "bench: python3-torch not installed; C figures only" >&2
: >"$out/c.txt"
: >"$out/t.txt"
# C and PyTorch alternate per (model, batch) so a busy machine hits both alike.
r=0
while [ $r -lt "$rounds" ]; do
    r=$((r + 1))
    for mb in default:1 default:64 compact:1 compact:64 vgg11:1 vgg11:8; do
        m=${mb%:*} b=${mb#*:}
        [ "$model" = all ] || [ "$model" = "$m" ] || continue
        echo "bench: round $r, $m batch $b" >&2
        OMP_NUM_THREADS=$threads "$bin" --model "$m" --batch "$b" --repeats "$repeats" \
            >>"$out/c.txt" || exit 1
        [ $has_torch = 1 ] || continue
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$threads /usr/bin/python3 \
            "$(dirname "$0")/bench_torch.py" --model "$m" --batch "$b" --repeats "$repeats" \
            >>"$out/t.txt" || echo "bench: pytorch run failed" >&2
    done
done
cat "$out/c.txt" "$out/t.txt" | grep '^#' | sort -u
awk '
function field(name,   i, kv) {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] }
    return ""
}
function show(v) { return v == "" ? "-" : sprintf("%.1f", v) }
/^PEAK/ { if (field("fp32_gflops") + 0 > peak + 0) peak = field("fp32_gflops") }
/^RESULT/ {
    key = field("model") " " field("task") " " field("batch")
    v = field("images_per_s") + 0
    if (field("engine") == "c") {
        if (!(key in c)) order[++n] = key
        if (!(key in c) || v > c[key]) {
            c[key] = v; cb[key] = field("best_images_per_s"); cg[key] = field("conv_gflops")
        }
    } else if (!(key in t) || v > t[key]) {
        t[key] = v; tb[key] = field("best_images_per_s"); tg[key] = field("conv_gflops")
    }
}
END {
    printf "%-8s %-14s %5s %9s %9s %9s %9s %7s %8s %8s\n", "model", "task", "batch",
        "C img/s", "(best)", "torch", "(best)", "C/torch", "C GF/s", "torch GF/s"
    for (i = 1; i <= n; i++) {
        k = order[i]; split(k, p, " ")
        ratio = (k in t) && t[k] > 0 ? sprintf("%.2f", c[k] / t[k]) : "-"
        printf "%-8s %-14s %5s %9s %9s %9s %9s %7s %8s %8s\n", p[1], p[2], p[3], show(c[k]),
            show(cb[k]), show(t[k]), show(tb[k]), ratio, show(cg[k]), show(tg[k])
    }
    printf "img/s: median of the repeats in the best round (best repeat in brackets). "
    printf "GF/s: forward conv FLOPs x "
    printf "(1 forward, 3 train step, 2 saliency step) per second.\n"
    printf "measured FP32 peak of this machine with %s threads: %.0f GFLOP/s\n",
        ENVIRON["THREADS"] == "" ? 2 : ENVIRON["THREADS"], peak
}' "$out/c.txt" "$out/t.txt"
