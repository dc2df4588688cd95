#!/bin/sh
# Resource limits, end to end through the stages: absurd image sizes, IDX dimensions, model
# shapes, deeply nested JSON, huge strings, corrupt HDF5 files and out-of-memory must each give
# exit 1 with one clear "cannot" line, no crash (no signal), no output file, and stay small in
# memory (peak RSS measured with /usr/bin/time where available). Inputs are tiny files that
# claim huge sizes; memory-hungry cases run under `ulimit -v` so they cannot hurt the machine.
. tests/lib.sh
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_limits.XXXXXX)
trap 'rm -rf "$T"' EXIT
for b in load infer; do
    [ -x bin/$b ] || { fail limits_binaries "bin/$b not built"; exit 1; }
done

$PY - "$T" <<'EOF' || fail limits_fixture "python fixture builder failed"
import gzip, json, os, struct, sys, zlib
t = sys.argv[1]
def chunk(k, v):
    return struct.pack(">I", len(v)) + k + v + struct.pack(">I", zlib.crc32(k + v))
def png(w, h, data=b""):
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b""))
for d, w in (("big", 20000), ("edge", 16384)):
    os.makedirs(f"{t}/{d}/a")
    open(f"{t}/{d}/a/x.png", "wb").write(png(w, w))
idx = lambda dims: bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims)
open(f"{t}/claims-images", "wb").write(idx([60000, 28, 28]))
open(f"{t}/labels", "wb").write(idx([1]) + b"\x00")
open(f"{t}/absurd-images.gz", "wb").write(gzip.compress(idx([65536, 65536, 65536]), mtime=0))
open(f"{t}/wide-images.gz", "wb").write(gzip.compress(idx([1, 1, 20000]) + bytes(20000), mtime=0))
img = {"id": 1, "file_name": "a.png", "width": 4, "height": 4}
cat = [{"id": 1, "name": "c"}]
open(f"{t}/deep.json", "w").write('{"images": ' + "[" * 100000 + "]" * 100000 + "}")
json.dump({"images": [dict(img, file_name="x" * (16 << 20))], "annotations": [],
           "categories": cat}, open(f"{t}/longname.json", "w"))
import h5py, numpy as np
def model(path, arch):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "salbench-model"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["architecture"] = arch if isinstance(arch, str) else json.dumps(arch)
head = [{"kind": "global_avgpool", "name": "g"}, {"kind": "flatten", "name": "f"},
        {"kind": "linear", "name": "fc", "out_features": 2}]
model(f"{t}/bigmodel.h5", {"layers": [
    {"kind": "input", "name": "input", "channels": 3, "height": 8192, "width": 8192},
    {"kind": "conv2d", "name": "c", "out_channels": 64, "kernel_size": 3, "padding": 1}] + head})
model(f"{t}/midmodel.h5", {"layers": [
    {"kind": "input", "name": "input", "channels": 3, "height": 4096, "width": 4096},
    {"kind": "conv2d", "name": "c", "out_channels": 64, "kernel_size": 3, "padding": 1}] + head})
model(f"{t}/hugemodel.h5", {"layers": [
    {"kind": "input", "name": "input", "channels": 16, "height": 65536, "width": 65536},
    {"kind": "conv2d", "name": "c", "out_channels": 1048576, "kernel_size": 1}] + head})
model(f"{t}/deepmodel.h5", '{"layers": ' + "[" * 5000 + "]" * 5000 + "}")
EOF

# limit NAME RSS_MAX_KB CMD...: exit 1 (not a signal, not 2), one "cannot" line, RSS bounded.
limit() {
    name=$1 maxkb=$2; shift 2
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -o "$T/time" -f '%x %M' "$@" >/dev/null 2>"$T/err"
        rc=$(tail -n 1 "$T/time" | cut -d' ' -f1); kb=$(tail -n 1 "$T/time" | cut -d' ' -f2)
        grep -q 'Command terminated by signal' "$T/time" && rc=signal
    else
        "$@" >/dev/null 2>"$T/err"; rc=$?; kb=0
    fi
    msg=$(head -c 400 "$T/err")
    lines=$(wc -l <"$T/err")
    if [ "$rc" = 1 ] && grep -q 'cannot' "$T/err" && [ "$lines" -le 1 ] && [ "${kb:-0}" -le "$maxkb" ] \
       && [ ! -e "$T/out.h5" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc rss=${kb}kB lines=$lines msg=$msg"
    fi
    rm -f "$T/out.h5"
}
expect_msg() { # NAME TEXT: the last limit's message contains TEXT
    if grep -q "$2" "$T/err"; then pass "$1"; else fail "$1" "$(head -c 300 "$T/err")"; fi
}

limit limits_png_above_side 100000 bin/load --imagefolder "$T/big" --out "$T/out.h5"
expect_msg limits_png_above_side_msg "20000x20000 pixels is above the limit"
limit limits_png_at_side_truncated 100000 bin/load --imagefolder "$T/edge" --out "$T/out.h5"
limit limits_idx_claims_more_than_file 100000 \
    bin/load --idx-images "$T/claims-images" --idx-labels "$T/labels" --out "$T/out.h5"
expect_msg limits_idx_claims_more_than_file_msg "header claims 47040000 bytes"
limit limits_idx_absurd_dims 100000 \
    bin/load --idx-images "$T/absurd-images.gz" --idx-labels "$T/labels" --out "$T/out.h5"
expect_msg limits_idx_absurd_dims_msg "larger than 2147483648 elements"
limit limits_idx_side 100000 \
    bin/load --idx-images "$T/wide-images.gz" --idx-labels "$T/labels" --out "$T/out.h5"
expect_msg limits_idx_side_msg "above the limit of 16384 per side"
limit limits_coco_deep_json 100000 bin/load --coco "$T/deep.json" --images "$T" --out "$T/out.h5"
expect_msg limits_coco_deep_json_msg "nested deeper than 64 levels"
limit limits_coco_huge_string 200000 \
    bin/load --coco "$T/longname.json" --images "$T" --out "$T/out.h5"
expect_msg limits_coco_huge_string_msg "16777216 bytes long (limit 4096)"
limit limits_model_absurd_shape 200000 \
    bin/infer --model "$T/hugemodel.h5" --examples "$T/none.h5" --out "$T/out.h5"
limit limits_model_deep_json 100000 \
    bin/infer --model "$T/deepmodel.h5" --examples "$T/none.h5" --out "$T/out.h5"
# 4.3 G activation floats at batch 1 (16.8 GiB): above net_build's 8 GiB arena limit, refused
# before anything is allocated (no ulimit needed)
limit limits_model_arena_limit 100000 \
    bin/infer --batch 1 --model "$T/bigmodel.h5" --examples "$T/none.h5" --out "$T/out.h5"
expect_msg limits_model_arena_limit_msg "activations need 16.8 GiB for max batch 1, above the 8 GiB"
# 1.1 G activation floats (4 GiB, under the limit): under a 3 GB address-space limit the
# allocation fails and is reported
limit limits_model_oom_reported 100000 \
    sh -c "ulimit -v 3000000; exec bin/infer --batch 1 --model '$T/midmodel.h5' \
           --examples '$T/none.h5' --out '$T/out.h5'"
expect_msg limits_model_oom_reported_msg "out of memory for"
# libhdf5 1.10.8 segfaults on this corrupt attribute message: the forked precheck reports it
limit limits_corrupt_hdf5_crash 100000 bin/infer --model \
    tests/fuzz/regressions/h5table/attr_msg_heap_overflow --examples "$T/none.h5" \
    --out "$T/out.h5"
expect_msg limits_corrupt_hdf5_crash_msg "corrupt HDF5 file"
# out of memory in a stage: 1000 scenes at 512x512 need 786 MB; 600 MB of address space
if [ -f data/fashion-scenes/test/annotations.json ]; then
    limit limits_oom_reported 700000 sh -c "ulimit -v 600000; exec bin/load --coco \
        data/fashion-scenes/test/annotations.json --images data/fashion-scenes/test \
        --size 512x512 --out '$T/out.h5'"
    expect_msg limits_oom_reported_msg "out of memory"
fi
