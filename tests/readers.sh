#!/bin/sh
# examples.h5 as written by bin/load, read by the tools users have: h5dump, h5py, PyTables and
# pandas (pd.read_hdf with a key; HDF5.md §1), all through Debian's /usr/bin/python3.
. tests/lib.sh
LOAD=${LOAD:-bin/load}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_readers.XXXXXX)
trap 'rm -rf "$T"' EXIT
SC=data/fashion-scenes/test
if [ ! -f "$SC/annotations.json" ]; then
    SC=$T/scenes
    bin/make_scenes --count 40 --out "$SC" >/dev/null 2>&1 || { fail readers_fixture "no scenes data"; exit 1; }
fi
F=$T/examples.h5
$LOAD --out "$F" --coco "$SC/annotations.json" --images "$SC" --limit 40 2>"$T/err" ||
    { fail readers_load "$(cat "$T/err")"; exit 1; }

if h5dump -H "$F" >"$T/dump" 2>&1 && grep -q 'DATASET "examples"' "$T/dump" &&
    grep -q 'H5T_STD_U64LE "example_id"' "$T/dump" && grep -q 'STRPAD H5T_STR_NULLTERM' "$T/dump"; then
    pass readers_h5dump_header
else fail readers_h5dump_header "$(head -n 5 "$T/dump")"; fi
h5dump -d /classes "$F" 2>&1 | grep -q '"T-shirt/top"' && pass readers_h5dump_strings ||
    fail readers_h5dump_strings "class names not printed cleanly"

$PY - "$F" <<'PYEOF'
import sys, warnings
warnings.simplefilter("ignore")
f = sys.argv[1]
def check(ok, name, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))
try:
    import h5py, numpy as np
    h = h5py.File(f, "r")
    ex, ob, cl = h["examples"][:], h["objects"][:], h["classes"][:]
    check(ex.dtype["example_id"] == np.dtype("<u8") and ex.dtype["source"].kind == "S"
          and len(ex) == 40 and h["images"].shape == (40, 64, 64, 3) and h["images"].dtype == np.uint8
          and h["masks"].shape[0] == len(ob) and h.attrs["stage"] == b"load"
          and h["examples"].attrs["CLASS"] == b"TABLE", "readers_h5py")
except Exception as e:
    check(False, "readers_h5py", repr(e))
try:
    import tables
    with tables.open_file(f) as t:
        kinds = {n: type(t.get_node("/" + n)).__name__ for n in
                 ["examples", "objects", "classes", "images", "masks", "labels"]}
        row = t.get_node("/examples")[0]
        check(kinds["examples"] == kinds["objects"] == kinds["classes"] == "Table"
              and kinds["images"] == "EArray" and t.get_node("/examples").nrows == 40
              and t.get_node("/classes").cols.name[9] == b"Ankle boot", "readers_pytables", str(kinds))
except Exception as e:
    check(False, "readers_pytables", repr(e))
try:
    import pandas as pd
    ex = pd.read_hdf(f, "examples")
    ob = pd.read_hdf(f, "objects")
    cl = pd.read_hdf(f, "classes")
    check(len(ex) == 40 and str(ex["example_id"].dtype) == "uint64"
          and isinstance(ex["source"][0], str) and ex["split"][0] == "test"
          and list(cl["name"])[:2] == ["T-shirt/top", "Trouser"] and len(ob) == int(ex["n_objects"].sum())
          and set(ob["example_id"]) <= set(ex["example_id"]), "readers_pandas_read_hdf",
          str(ex.dtypes.to_dict()))
    df = pd.DataFrame(h5py.File(f, "r")["examples"][:]).set_index("example_id")
    check(df.index.is_monotonic_increasing and df.index.is_unique, "readers_pandas_from_h5py")
except Exception as e:
    check(False, "readers_pandas_read_hdf", repr(e))
PYEOF
