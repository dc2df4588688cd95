#!/bin/sh
# bin/merge: shard parts of load, attack and infer concatenate to the unsharded file (h5diff
# clean; bytewise for load and attack, whose files hold no per-shard values), empty shards,
# merging one whole file is a byte copy, per-shard summaries need --sum or --drop-differing, and parts
# that do not fit together (order, missing, other runs, other stages, no provenance) fail with a
# clear message and write nothing.
. tests/lib.sh
BUILD=${BUILD:-build/release}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_merge.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in bin/merge bin/load bin/attack "$BUILD/tests/test_attack"; do
    if [ ! -x "$b" ]; then fail merge_binaries "$b not built"; exit 1; fi
done
SC=data/fashion-scenes/test
if [ ! -f "$SC/annotations.json" ]; then
    SC=$T/scenes
    bin/make_scenes --count 300 --out "$SC" >/dev/null 2>&1 || { fail merge_fixture "no scenes"; exit 1; }
fi
L="bin/load --coco $SC/annotations.json --images $SC --limit 300"

# bytewise: needs h5table to track attribute creation order (else attribute order is lost)
bytewise() { # NAME A B
    if cmp -s "$2" "$3"; then pass "$1"; return; fi
    crt=$($PY -c "import h5py,sys; print(h5py.File(sys.argv[1]).id.get_create_plist().get_attr_creation_order())" "$2" 2>/dev/null)
    if [ "$crt" = 0 ]; then
        fail "$1" "h5diff-equal but not bytewise: the files do not track attribute creation order (formats/h5table must set H5Pset_attr_creation_order, see the attack/merge report)"
    else fail "$1" "$(cmp "$2" "$3" 2>&1)"; fi
}
same_data() { h5diff "$1" "$2" >/dev/null 2>&1; }

# --- load: 4 shards and 8 shards (some tiny) -------------------------------------------------
$L --out "$T/full.h5" 2>/dev/null || { fail merge_fixture "load failed"; exit 1; }
parts=""
for k in 0 1 2 3; do $L --out "$T/l$k.h5" --shard $k/4 2>/dev/null; parts="$parts $T/l$k.h5"; done
if bin/merge --out "$T/m.h5" $parts 2>"$T/err"; then pass merge_load_runs; else fail merge_load_runs "$(cat "$T/err")"; fi
if same_data "$T/full.h5" "$T/m.h5"; then pass merge_load_h5diff; else fail merge_load_h5diff "h5diff differs"; fi
bytewise merge_load_bytewise "$T/full.h5" "$T/m.h5"
bin/merge --out "$T/one.h5" "$T/full.h5" 2>/dev/null
bytewise merge_single_part_is_copy "$T/full.h5" "$T/one.h5"

bin/load --coco "$SC/annotations.json" --images "$SC" --limit 3 --out "$T/tiny.h5" 2>/dev/null
parts=""
for k in 0 1 2 3 4 5 6 7; do
    bin/load --coco "$SC/annotations.json" --images "$SC" --limit 3 --shard $k/8 --out "$T/t$k.h5" 2>/dev/null
    parts="$parts $T/t$k.h5"
done
if bin/merge --out "$T/tm.h5" $parts 2>"$T/err" && same_data "$T/tiny.h5" "$T/tm.h5"; then
    pass merge_empty_shards; else fail merge_empty_shards "$(cat "$T/err")"; fi

# --- attack: 3 shards -------------------------------------------------------------------------
"$BUILD/tests/test_attack" --write-model "$T/model.h5" "$T/full.h5" sigmoid || fail merge_fixture "model"
A="bin/attack --model $T/model.h5 --examples $T/full.h5 --attack fgsm --threads 1"
$A --out "$T/a.h5" 2>/dev/null
for k in 0 1 2; do $A --out "$T/a$k.h5" --shard $k/3 2>/dev/null; done
if bin/merge --out "$T/am.h5" "$T/a0.h5" "$T/a1.h5" "$T/a2.h5" 2>"$T/err" && same_data "$T/a.h5" "$T/am.h5"; then
    pass merge_attack_h5diff; else fail merge_attack_h5diff "$(cat "$T/err")"; fi
bytewise merge_attack_bytewise "$T/a.h5" "$T/am.h5"

# --- infer: per-shard summary attributes ------------------------------------------------------
if [ -x bin/infer ]; then
    I="bin/infer --model $T/model.h5 --examples $T/full.h5 --threads 1"
    $I --out "$T/i.h5" >/dev/null 2>&1
    for k in 0 1; do $I --out "$T/i$k.h5" --shard $k/2 >/dev/null 2>&1; done
    msg=$(bin/merge --out "$T/im.h5" "$T/i0.h5" "$T/i1.h5" 2>&1); rc=$?
    if [ $rc = 1 ] && echo "$msg" | grep -q "differs" && [ ! -e "$T/im.h5" ]; then
        pass merge_refuses_per_shard_attrs; else fail merge_refuses_per_shard_attrs "rc=$rc $msg"; fi
    ok=1
    bin/merge --drop-differing --out "$T/im.h5" "$T/i0.h5" "$T/i1.h5" 2>"$T/err" || ok=0
    for d in predictions logits probs; do h5diff "$T/i.h5" "$T/im.h5" /$d /$d >/dev/null 2>&1 || ok=0; done
    if [ $ok = 1 ] && grep -q "left out" "$T/err"; then pass merge_infer_drop_differing; else fail merge_infer_drop_differing "$(cat "$T/err")"; fi
    bin/merge --sum n_examples --drop-differing --out "$T/is.h5" "$T/i0.h5" "$T/i1.h5" 2>/dev/null
    n=$($PY -c "import h5py,sys; print(*(h5py.File(f).attrs['n_examples'] for f in sys.argv[1:]))" "$T/i.h5" "$T/is.h5" 2>&1)
    if [ "$n" = "300 300" ]; then pass merge_sum_counts; else fail merge_sum_counts "n_examples unsharded/merged: $n"; fi
fi

# --- parts that do not fit: exit code, message, nothing written -------------------------------
bad() { # NAME CODE ARGS...
    name=$1; want=$2; shift 2
    msg=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc = "$want" ] && [ -n "$msg" ] && [ ! -e "$T/bad.h5" ] && [ -z "$(ls "$T" | grep '\.tmp\.')" ]; then
        pass "$name"; else fail "$name" "rc=$rc (want $want) $msg"; fi
}
bad merge_bad_order 1 bin/merge --out "$T/bad.h5" "$T/l1.h5" "$T/l0.h5" "$T/l2.h5" "$T/l3.h5"
bad merge_bad_missing_part 1 bin/merge --out "$T/bad.h5" "$T/l0.h5" "$T/l1.h5" "$T/l2.h5"
bad merge_bad_other_stage 1 bin/merge --out "$T/bad.h5" "$T/a0.h5" "$T/l1.h5" "$T/l2.h5"
$L --out "$T/s1.h5" --shard 1/3 --split train 2>/dev/null
bad merge_bad_other_params 1 bin/merge --out "$T/bad.h5" "$T/a0.h5" "$T/s1.h5" "$T/a2.h5"
bad merge_bad_unsharded_twice 1 bin/merge --out "$T/bad.h5" "$T/full.h5" "$T/full.h5"
$PY -c "import h5py,sys; h5py.File(sys.argv[1],'w')['x']=[1,2]" "$T/plain.h5"
bad merge_bad_no_provenance 1 bin/merge --out "$T/bad.h5" "$T/plain.h5"
bad merge_bad_not_hdf5 1 bin/merge --out "$T/bad.h5" "$SC/annotations.json"
bad merge_bad_no_parts 2 bin/merge --out "$T/bad.h5"
bad merge_bad_into_itself 2 bin/merge --out "$T/l0.h5" "$T/l0.h5"
