#!/bin/sh
# The cluster recipes of tests/cluster/ on this machine, on 60 scenes with a random model:
# `make -j2` with tests/cluster/shards.mk (SHARDS=3), the Slurm job-array script run task by task
# with the variables Slurm would set (plus its merge command), and Snakemake -j2 when installed.
# Each sharded run must be h5diff-equal to the unsharded run (datasets; infer's per-shard summary
# attributes are left out by design) and the three engines must give byte-identical files.
. tests/lib.sh
BUILD=${BUILD:-build/release}
T=$(mktemp -d /tmp/test_cluster.XXXXXX)
trap 'rm -rf "$T"' EXIT
ROOT=$(pwd)
SC=$ROOT/data/fashion-scenes/test
if [ ! -f "$SC/annotations.json" ] || [ ! -x "$BUILD/tests/test_attack" ]; then
    fail cluster_fixture "needs data/fashion-scenes and $BUILD/tests/test_attack"; exit 1
fi
LA="--coco $SC/annotations.json --images $SC --limit 60"
bin/load $LA --out "$T/ex.h5" 2>/dev/null && "$BUILD/tests/test_attack" --write-model "$T/model.h5" "$T/ex.h5" sigmoid ||
    { fail cluster_fixture "model"; exit 1; }
ATT="--attack pgd --iters 2"
R=$T/run
FILES="benign/examples benign/predictions pgd/examples pgd/predictions"
mk() { make -s -f tests/cluster/shards.mk RUN_DIR="$R" MODEL="$T/model.h5" LOAD_ARGS="$LA" \
       CHAINS=pgd ATTACK_pgd="$ATT" "$@" shards-run >"$T/make.log" 2>&1; }

same_data() { # A B: every dataset equal (attributes aside)
    for d in $(h5ls -r "$1" | awk '$2 == "Dataset" {print $1}'); do
        h5diff "$1" "$2" "$d" "$d" >/dev/null 2>&1 || return 1
    done
}
compare() { # NAME DIR: DIR's files equal to the unsharded reference
    ok=1
    for f in $FILES; do same_data "$T/ref/$f.h5" "$2/$f.h5" || { ok=0; why="$f differs"; }; done
    if [ $ok = 1 ]; then pass "$1"; else fail "$1" "$why"; fi
}
keep() { mkdir -p "$1"; for f in $FILES; do mkdir -p "$1/$(dirname $f)"; cp "$R/$f.h5" "$1/$f.h5"; done; rm -rf "$R"; }

# --- unsharded reference, then make -j2 with 3 shards -----------------------------------------
if mk SHARDS=1; then pass cluster_make_unsharded; else fail cluster_make_unsharded "$(tail -3 "$T/make.log")"; fi
keep "$T/ref"
if mk -j2 SHARDS=3 && [ -f "$R/pgd/predictions.part2-of-3.h5" ]; then pass cluster_make_j2_shards; else fail cluster_make_j2_shards "$(tail -3 "$T/make.log")"; fi
# a failed shard: its part and everything after it missing; make redoes only that
rm -f "$R/pgd/examples.part1-of-3.h5" "$R/pgd/examples.h5" "$R"/pgd/predictions*
mk -n SHARDS=3
if [ "$(grep -c 'bin/attack' "$T/make.log")" = 1 ] && grep -q 'shard 1/3 --out .*pgd/examples.part1' "$T/make.log" &&
    ! grep -q 'bin/load\|benign/predictions.part' "$T/make.log"; then
    pass cluster_make_remakes_one_part; else fail cluster_make_remakes_one_part "$(cat "$T/make.log")"; fi
mk -j2 SHARDS=3
compare cluster_make_equals_unsharded "$R"
keep "$T/make"

# --- the Slurm array script, task by task, then its merge ------------------------------------
slurm() { # PREFIX STAGE ARGS...: the 3 array tasks and the merge job's command
    prefix=$1
    for k in 0 1 2; do
        SLURM_ARRAY_TASK_ID=$k SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 \
            sh tests/cluster/stage-array.sbatch "$@" >/dev/null 2>&1 || return 1
    done
    flags=""
    case "$prefix" in *predictions) flags="--sum n_examples --drop-differing" ;; esac
    bin/merge $flags --out "$prefix.h5" "$prefix.part0-of-3.h5" "$prefix.part1-of-3.h5" "$prefix.part2-of-3.h5" 2>/dev/null
}
slurm "$R/benign/examples" load $LA &&
    slurm "$R/benign/predictions" infer --model "$T/model.h5" --examples "$R/benign/examples.h5" &&
    slurm "$R/pgd/examples" attack --model "$T/model.h5" --examples "$R/benign/examples.h5" $ATT &&
    slurm "$R/pgd/predictions" infer --model "$T/model.h5" --examples "$R/pgd/examples.h5"
if [ $? -eq 0 ]; then pass cluster_slurm_script_runs; else fail cluster_slurm_script_runs "a task or merge failed"; fi
out=$(SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 sh tests/cluster/stage-array.sbatch "$R/benign/examples" load $LA)
case "$out" in *skipped*) pass cluster_slurm_skips_done_part ;; *) fail cluster_slurm_skips_done_part "$out" ;; esac
msg=$(sh tests/cluster/stage-array.sbatch "$R/x" load $LA 2>&1); rc=$?
if [ $rc -ne 0 ] && echo "$msg" | grep -q "job array"; then pass cluster_slurm_needs_array; else fail cluster_slurm_needs_array "rc=$rc $msg"; fi
compare cluster_slurm_equals_unsharded "$R"
ok=1
for f in $FILES; do cmp -s "$R/$f.h5" "$T/make/$f.h5" || ok=0; done
if [ $ok = 1 ]; then pass cluster_slurm_bytes_equal_make; else fail cluster_slurm_bytes_equal_make "files differ"; fi
keep "$T/slurm"

# --- Snakemake (Debian package snakemake), metadata kept out of the repository ----------------
if command -v snakemake >/dev/null 2>&1; then
    mkdir -p "$T/work"
    snakemake -s "$ROOT/tests/cluster/Snakefile" -d "$T/work" -j2 -q --config shards=3 \
        run_dir="$R" model="$T/model.h5" bin="$ROOT/bin" load_args="$LA" \
        "chains={'pgd': '$ATT'}" >"$T/snake.log" 2>&1
    if [ $? -eq 0 ]; then pass cluster_snakemake_runs; else fail cluster_snakemake_runs "$(tail -5 "$T/snake.log")"; fi
    compare cluster_snakemake_equals_unsharded "$R"
    ok=1
    for f in $FILES; do cmp -s "$R/$f.h5" "$T/make/$f.h5" || ok=0; done
    if [ $ok = 1 ]; then pass cluster_snakemake_bytes_equal_make; else fail cluster_snakemake_bytes_equal_make "files differ"; fi
else
    echo "cluster.sh: snakemake not installed (apt-get install --no-install-recommends snakemake); skipped"
fi
