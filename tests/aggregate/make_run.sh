#!/bin/sh
# Makes a tiny evaluation run directory for tests/aggregate.sh and tests/report.sh with the real
# stages: tests/test_score_fixture's 6 scenes and model, then per chain load's examples (benign)
# or bin/attack pgd's, bin/infer, bin/attribute (gradient, gradcam, center), bin/score (cheap
# settings; attacked chains add map_stability against the benign maps) and bin/export. Give
# the benign chain first. About 10 s on 2 cores.
# Usage: make_run.sh WORK RUN_DIR CHAIN...   (a chain named benign* is unattacked, others pgd)
set -e
W=$1 R=$2; shift 2
BUILD=${BUILD:-build/release}
"$BUILD/tests/test_score_fixture" "$W" >/dev/null
FAST="--metrics pointing_game,relevance_mass,deletion,insertion,sparseness --deletion.steps 8
      --insertion.steps 8 --bootstrap 100"
# shellcheck disable=SC2086
for ch in "$@"; do
    C="$R/$ch"
    mkdir -p "$C"
    case "$ch" in
    benign*) cp "$W/examples.h5" "$C/examples.h5" ;;
    *) bin/attack --model "$W/model.h5" --examples "$W/examples.h5" --attack pgd --iters 2 \
           --out "$C/examples.h5" >/dev/null ;;
    esac
    bin/infer --model "$W/model.h5" --examples "$C/examples.h5" --out "$C/predictions.h5" >/dev/null
    bin/attribute --model "$W/model.h5" --examples "$C/examples.h5" --methods gradient,gradcam,center \
        --out "$C/saliency.h5" >/dev/null
    case "$ch" in
    benign*) bin/score --model "$W/model.h5" --examples "$C/examples.h5" --saliency "$C/saliency.h5" \
                 --out "$C/scores.h5" $FAST >/dev/null ;;
    *) bin/score --model "$W/model.h5" --examples "$C/examples.h5" --saliency "$C/saliency.h5" \
           --out "$C/scores.h5" $FAST --reference-saliency "$R/benign/saliency.h5" >/dev/null ;;
    esac
    bin/export --examples "$C/examples.h5" --predictions "$C/predictions.h5" \
        --saliency "$C/saliency.h5" --scores "$C/scores.h5" --out "$C" --first 4 --batch-size 2 >/dev/null
done
