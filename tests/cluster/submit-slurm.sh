#!/bin/sh
# Submits a sharded salbench run to Slurm: per stage, one job array (tests/cluster/
# stage-array.sbatch) and one merge job that waits for it (afterok); each next stage waits for the
# merge it reads. The same commands as tests/cluster/shards.mk and the Snakefile.
#   tests/cluster/submit-slurm.sh RUN_DIR SHARDS MODEL [LOAD OPTIONS...]
# e.g. tests/cluster/submit-slurm.sh runs/slurm 8 data/models/fashion-scenes.h5 \
#        --coco data/fashion-scenes/test/annotations.json --images data/fashion-scenes/test
# Chains: benign (load -> infer) and pgd (attack -> infer); ATTACK (default "--attack pgd
# --eps 8/255 --iters 10") and SBATCH_OPTS (e.g. "--partition=cpu --time=1:00:00") are read from
# the environment. Prints the merge job ids; `squeue -u $USER` shows progress.
set -eu
run=$1 n=$2 model=$3
shift 3
attack=${ATTACK:---attack pgd --eps 8/255 --iters 10}
opts=${SBATCH_OPTS:-}
last=$((n - 1))

parts() { # PREFIX: the part files in shard order
    k=0
    while [ $k -lt "$n" ]; do printf '%s ' "$1.part$k-of-$n.h5"; k=$((k + 1)); done
}
# stage DEPENDENCY MERGE-FLAGS PREFIX STAGE OPTIONS...: array + merge; echoes the merge job id
stage() {
    dep=$1 mflags=$2 prefix=$3
    shift 3
    array=$(sbatch --parsable $opts ${dep:+--dependency=afterok:$dep} --array=0-$last \
        --output="$prefix.part%a-of-$n.log" \
        tests/cluster/stage-array.sbatch "$prefix" "$@")
    sbatch --parsable $opts --dependency=afterok:$array --job-name=salbench-merge \
        --output="$prefix.merge.log" --wrap "bin/merge $mflags --out $prefix.h5 $(parts "$prefix")"
}
mkdir -p "$run/benign" "$run/pgd"
ex=$(stage "" "" "$run/benign/examples" load "$@")
pred=$(stage "$ex" "--sum n_examples --drop-differing" "$run/benign/predictions" infer \
    --model "$model" --examples "$run/benign/examples.h5")
adv=$(stage "$ex" "" "$run/pgd/examples" attack --model "$model" \
    --examples "$run/benign/examples.h5" $attack)
advpred=$(stage "$adv" "--sum n_examples --drop-differing" "$run/pgd/predictions" infer \
    --model "$model" --examples "$run/pgd/examples.h5")
echo "merge jobs: examples $ex, predictions $pred, pgd examples $adv, pgd predictions $advpred"
