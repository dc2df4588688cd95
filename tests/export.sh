#!/bin/sh
# bin/export end to end on a small real chain (bin/load of 20 shipped scenes, bin/infer and
# bin/attribute with the tiny random tests/ref/saliency_model.h5, bin/score of two cheap
# metrics): every selection mode (--first, --every, --ids with --all-trials, --worst/--best
# --by), the exports/{batch:05d}/{sample:02d}/ layout and file names, metadata.txt as JSON
# with its fields checked against the HDF5 inputs, PNG sizes and pixels (input.png is the
# upscaled image, an overlay differs where the map is high and, weighted, equals the input
# where it is 0), bad inputs (clear message, exit 1 or 2, previous exports untouched), kill
# safety (injected write failure, SIGKILL mid-run, stale staging removed), determinism.
. tests/lib.sh
E=${EXPORT:-bin/export}
MODEL=tests/ref/saliency_model.h5
SC=data/fashion-scenes/test
PY=/usr/bin/python3
T=$(mktemp -d /tmp/test_export.XXXXXX)
trap 'rm -rf "$T"' EXIT

for b in "$E" bin/load bin/infer bin/attribute bin/score; do
    [ -x "$b" ] || { fail export_binaries "$b not built"; exit 1; }
done
{ bin/load --coco $SC/annotations.json --images $SC --limit 20 --out "$T/ex.h5" &&
  bin/load --coco $SC/annotations.json --images $SC --limit 10 --out "$T/ex10.h5" &&
  bin/infer --model $MODEL --examples "$T/ex.h5" --out "$T/pred.h5" &&
  bin/infer --model $MODEL --examples "$T/ex10.h5" --out "$T/pred10.h5" &&
  bin/attribute --model $MODEL --examples "$T/ex.h5" --methods gradient,gradcam,center \
      --out "$T/sal.h5" &&
  bin/score --model $MODEL --examples "$T/ex.h5" --saliency "$T/sal.h5" --out "$T/sc.h5" \
      --metrics pointing_game,sparseness --bootstrap 20; } >"$T/fx.log" 2>&1 ||
    { fail export_fixture "$(tail -3 "$T/fx.log")"; exit 1; }
IN="--examples $T/ex.h5 --predictions $T/pred.h5 --saliency $T/sal.h5"

# run NAME OUTDIR ARGS...: export must succeed
run() {
    name=$1; out=$2; shift 2
    if "$E" $IN --out "$out" "$@" >"$T/run.out" 2>"$T/run.err"; then pass "$name"
    else fail "$name" "$(cat "$T/run.err")"; fi
}

run export_first_runs "$T/a" --scores "$T/sc.h5" --first 4
run export_every_runs "$T/b" --every 5
run export_ids_all_trials_runs "$T/c" --ids "$($PY -c "
import h5py; i = h5py.File('$T/ex.h5')['examples']['example_id']
print('%016x,%016x' % (int(i[7]), int(i[3])))")" --all-trials --methods gradcam
run export_worst_runs "$T/d" --scores "$T/sc.h5" --worst 3 --by sparseness/gradient
run export_best_runs "$T/e" --scores "$T/sc.h5" --best 2 --by sparseness/gradcam --batch-size 4
run export_weighted_runs "$T/f" --first 3 --blend weighted --norm posmax --scale 2 --methods gradcam \
    --boxes none

$PY - "$T" <<'EOF'
import json, os, re, struct, sys, zlib
import h5py, numpy as np
T = sys.argv[1]
def check(name, ok, why=""):
    print(("PASS %s" % name) if ok else ("FAIL %s: %s" % (name, why)))

def png(path):
    """8-bit grey/RGB non-interlaced PNG -> HxWxC uint8 (what pngio writes)."""
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    p, idat, chunks = 8, b"", []
    while p < len(b):
        n, = struct.unpack(">I", b[p:p + 4]); t = b[p + 4:p + 8]; d = b[p + 8:p + 8 + n]
        chunks.append(t)
        if t == b"IHDR": w, h, depth, ctype, _, _, lace = struct.unpack(">IIBBBBB", d)
        if t == b"IDAT": idat += d
        p += 12 + n
    assert depth == 8 and lace == 0 and ctype in (0, 2)
    c = 1 if ctype == 0 else 3
    raw, st = zlib.decompress(idat), w * c
    out, prev = np.zeros((h, st), np.int32), np.zeros(st, np.int32)
    for y in range(h):
        f, line = raw[y * (st + 1)], np.frombuffer(raw[y * (st + 1) + 1:(y + 1) * (st + 1)], np.uint8).astype(np.int32)
        if f == 0: cur = line.copy()
        elif f == 1: cur = np.cumsum(line.reshape(w, c), 0).reshape(-1) & 255
        elif f == 2: cur = (line + prev) & 255
        else:
            cur = np.zeros(st, np.int32)
            for x in range(st):
                a = cur[x - c] if x >= c else 0; up = prev[x]; ul = prev[x - c] if x >= c else 0
                if f == 3: v = line[x] + (a + up) // 2
                else:
                    pa, pb, pc = abs(up - ul), abs(a - ul), abs(a + up - 2 * ul)
                    v = line[x] + (a if pa <= pb and pa <= pc else up if pb <= pc else ul)
                cur[x] = v & 255
        out[y], prev = cur, cur
    return out.reshape(h, w, c).astype(np.uint8), chunks

ex = h5py.File(T + "/ex.h5", "r"); sal = h5py.File(T + "/sal.h5", "r")
pred = h5py.File(T + "/pred.h5", "r"); sc = h5py.File(T + "/sc.h5", "r")
ids = ex["examples"]["example_id"][:]; tr = sal["trials"][:]
K = len(ex["classes"]); names = [n.decode() for n in ex["classes"]["name"]]
has_trials = [r for r in range(len(ids)) if (tr["example_id"] == ids[r]).any()]

def samples(d, bs=16):
    out = {}
    for b in sorted(os.listdir(d + "/exports")):
        for s in sorted(os.listdir(d + "/exports/" + b)):
            out[(b, s)] = d + "/exports/" + b + "/" + s
    return out

def meta(p):
    txt = open(p + "/metadata.txt").read()
    return json.loads(txt), txt

def shown(r):
    """the trial export shows for example row r: the predicted class's, else the lowest class"""
    rows = np.nonzero(tr["example_id"] == ids[r])[0]
    p = pred["predictions"][r]["predicted"]
    hit = [t for t in rows if tr["class_id"][t] == p]
    return hit[0] if hit else min(rows, key=lambda t: tr["class_id"][t])

# ---- layout, file names, addresses ----
a = samples(T + "/a")
want_rows = [shown(r) for r in has_trials[:4]]
got = {k: meta(p)[0] for k, p in a.items()}
check("export_layout_names", all(re.fullmatch(r"\d{5}", b) and re.fullmatch(r"\d{2}", s) for b, s in a)
      and all(sorted(os.listdir(p)) == ["input.png", "metadata.txt", "saliency_center.png",
              "saliency_gradcam.png", "saliency_gradient.png"] for p in a.values()), list(a))
check("export_address_is_trial_row", sorted(m["trial"]["row"] for m in got.values()) == sorted(want_rows)
      and all(int(b) * 16 + int(s) == m["trial"]["row"] for (b, s), m in got.items()),
      [(k, m["trial"]["row"]) for k, m in got.items()])

# ---- metadata.txt ----
ok, why = True, ""
for (b, s), m in got.items():
    t = m["trial"]["row"]; r = int(np.nonzero(ids == tr["example_id"][t])[0][0])
    labels = [k for k in range(K) if ex["labels"][r, k]]
    pr = pred["probs"][r]
    keys = list(m)
    scores_ok = all(
        (m["scores"][meth][met] is None and np.isnan(sc["trials/" + meth][met][t])) or
        m["scores"][meth][met] == float(sc["trials/" + meth][met][t])
        for meth in ("center", "gradcam", "gradient") for met in ("pointing_game", "sparseness"))
    cond = (keys[:3] == ["targets", "predictions", "example_id"] and
            m["example_id"] == "%016x" % ids[r] and
            (m["targets"] == labels or m["targets"] == labels[0]) and
            [l["class_id"] for l in m["labels"]] == labels and
            len(m["predictions"]) == K and np.allclose(m["predictions"], pr, rtol=0, atol=1e-9) and
            m["predicted"]["class_id"] == int(pred["predictions"][r]["predicted"]) and
            m["top_probs"][0]["class_id"] == int(np.argmax(pr)) and len(m["top_probs"]) == 5 and
            m["class_names"] == names and m["trial"]["class_id"] == int(tr["class_id"][t]) and
            m["trial"]["class_name"] == names[tr["class_id"][t]] and m["trial"]["reason"] == "label" and
            len(m["objects"]) == int(ex["examples"]["n_objects"][r]) and
            all(o["drawn"] == (o["class_id"] == m["trial"]["class_id"]) for o in m["objects"]) and
            m["saliency"]["gradcam"] == "saliency_gradcam.png" and scores_ok and
            m["selection"]["mode"] == "first" and m["render"]["scale"] == 4)
    if not cond: ok, why = False, (b, s, m)
    txt = meta(a[(b, s)])[1]
    if not txt.startswith('{\n  "targets": ') or txt.endswith("\n"): ok, why = False, txt[:40]
check("export_metadata_fields", ok, str(why)[:600])

# ---- pictures ----
k0 = sorted(a)[0]; m0 = got[k0]; t0 = m0["trial"]["row"]
r0 = int(np.nonzero(ids == tr["example_id"][t0])[0][0])
inp, chunks = png(a[k0] + "/input.png")
up = np.repeat(np.repeat(ex["images"][r0], 4, 0), 4, 1)
check("export_input_png", inp.shape == (256, 256, 3) and (inp == up).all(), inp.shape)
check("export_png_no_timestamps", b"tIME" not in chunks and b"tEXt" not in chunks, chunks)
ov, _ = png(a[k0] + "/saliency_gradcam.png")
mp = sal["maps/gradcam"][t0]
y, x = np.unravel_index(np.argmax(np.abs(mp)), mp.shape)
check("export_overlay_differs_where_high", ov.shape == (256, 256, 3) and
      (ov[4 * y + 1, 4 * x + 1] != inp[4 * y + 1, 4 * x + 1]).any(), (y, x))
red = (ov[..., 0] == 255) & (ov[..., 1] == 0) & (ov[..., 2] == 0)
drawn = [o for o in m0["objects"] if o["drawn"]]
x0, y0, x1, y1 = [int(v * 4) for v in drawn[0]["box"]]
check("export_overlay_box_drawn", red[y0, x0:x1].all() and red[y0:y1, x0].all(), drawn[0])

f = samples(T + "/f")
ok = True
for k, p in f.items():
    mm = meta(p)[0]; t = mm["trial"]["row"]; r = int(np.nonzero(ids == tr["example_id"][t])[0][0])
    o, _ = png(p + "/saliency_gradcam.png"); i, _ = png(p + "/input.png")
    zero = np.repeat(np.repeat(sal["maps/gradcam"][t] <= 0, 2, 0), 2, 1)
    hot = np.repeat(np.repeat(sal["maps/gradcam"][t] == sal["maps/gradcam"][t].max(), 2, 0), 2, 1)
    ok = ok and o.shape == (128, 128, 3) and (o[zero] == i[zero]).all() and (o[hot] != i[hot]).any(axis=-1).all()
check("export_weighted_overlay_is_input_where_zero", ok)

# ---- selection modes ----
b = samples(T + "/b")
check("export_every_n", sorted(meta(p)[0]["example_id"] for p in b.values()) ==
      sorted("%016x" % ids[has_trials[i]] for i in (4, 9, 14, 19)), list(b))
c = samples(T + "/c")
cm = [meta(p)[0] for p in c.values()]
want = [t for t in range(len(tr)) if tr["example_id"][t] in (ids[7], ids[3])]
check("export_ids_all_trials", sorted(m["trial"]["row"] for m in cm) == want and
      all(os.listdir(p) != [] and sorted(os.listdir(p)) == ["input.png", "metadata.txt", "saliency_gradcam.png"]
          for p in c.values()), (want, [m["trial"]["row"] for m in cm]))
d = samples(T + "/d")
v = sc["trials/gradient"]["sparseness"][:]
order = sorted([t for t in range(len(v)) if not np.isnan(v[t])], key=lambda t: (v[t], t))[:3]
dm = [meta(p)[0] for p in d.values()]
check("export_worst_by_metric", sorted(m["trial"]["row"] for m in dm) == sorted(order) and
      all(m["selection"]["mode"] == "worst" and m["selection"]["value"] == float(v[m["trial"]["row"]]) and
          order[m["selection"]["rank"]] == m["trial"]["row"] for m in dm), [m["selection"] for m in dm])
e = samples(T + "/e")
v = sc["trials/gradcam"]["sparseness"][:]
order = sorted([t for t in range(len(v)) if not np.isnan(v[t])], key=lambda t: (-v[t], t))[:2]
check("export_best_batch_size", sorted(meta(p)[0]["trial"]["row"] for p in e.values()) == sorted(order)
      and all(int(bb) * 4 + int(ss) == meta(p)[0]["trial"]["row"] for (bb, ss), p in e.items()), list(e))
EOF

# ---- determinism: same bytes twice and at 1 or 2 threads -------------------------------------
"$E" $IN --out "$T/a2" --scores "$T/sc.h5" --first 4 --threads 1 >/dev/null 2>&1
"$E" $IN --out "$T/a3" --scores "$T/sc.h5" --first 4 --threads 2 >/dev/null 2>&1
if diff -r "$T/a/exports" "$T/a2/exports" >/dev/null && diff -r "$T/a/exports" "$T/a3/exports" >/dev/null; then
    pass export_deterministic
else
    fail export_deterministic "two runs differ"
fi

# ---- bad inputs: clear message, exit 1 or 2, previous exports untouched ----------------------
sums() { (cd "$1" && find exports -type f | sort | xargs md5sum); }
sums "$T/a" >"$T/a.sums"
expect_fail export_bad_method "$E" $IN --out "$T/a" --methods gradcam,nope
expect_fail export_bad_metric "$E" $IN --out "$T/a" --scores "$T/sc.h5" --worst 2 --by deletion/gradcam
expect_fail export_bad_metric_method "$E" $IN --out "$T/a" --scores "$T/sc.h5" --worst 2 --by sparseness/rise
expect_fail export_missing_input "$E" --examples "$T/nope.h5" --predictions "$T/pred.h5" --saliency "$T/sal.h5" --out "$T/a"
expect_fail export_mismatched_predictions "$E" --examples "$T/ex.h5" --predictions "$T/pred10.h5" --saliency "$T/sal.h5" --out "$T/a"
expect_fail export_mismatched_examples "$E" --examples "$T/ex10.h5" --predictions "$T/pred10.h5" --saliency "$T/sal.h5" --out "$T/a"
expect_fail export_unknown_id "$E" $IN --out "$T/a" --ids 0123456789abcdef
$PY -c "
import shutil, h5py, numpy as np
shutil.copy('$T/sal.h5', '$T/sal_nan.h5')
f = h5py.File('$T/sal_nan.h5', 'r+'); m = f['maps/gradcam']; x = m[0]; x[5, 7] = np.nan; m[0] = x"
expect_fail export_nan_map "$E" --examples "$T/ex.h5" --predictions "$T/pred.h5" --saliency "$T/sal_nan.h5" --out "$T/a" --first 2
expect_fail export_scores_of_other_saliency "$E" --examples "$T/ex.h5" --predictions "$T/pred.h5" --saliency "$T/sal_nan.h5" --scores "$T/sc.h5" --out "$T/a" --first 2
msg=$("$E" $IN --out "$T/a" --saliency "$T/sal_nan.h5" --first 2 2>&1)
echo "$msg" | grep -q "^export: cannot export map 'gradcam' of trial 0 .* not finite" &&
    pass export_nan_map_message || fail export_nan_map_message "$msg"
for args in "--worst 2" "--by sparseness/gradcam --first 2" "--first 2 --every 3" "--ids 12" \
            "--worst 2 --by sparseness/gradcam" "--norm wrong" "--batch-size 101" "--scale 0"; do
    # shellcheck disable=SC2086
    "$E" $IN --out "$T/a" $args >/dev/null 2>&1
    rc=$?
    [ $rc -eq 2 ] && pass "export_usage_error ($args)" || fail "export_usage_error ($args)" "rc=$rc"
done
"$E" --help >/dev/null 2>&1 && pass export_help || fail export_help "rc=$?"
sums "$T/a" | cmp -s - "$T/a.sums" && pass export_bad_inputs_keep_previous ||
    fail export_bad_inputs_keep_previous "exports changed"

# ---- kill safety -------------------------------------------------------------------------------
if SALBENCH_FAIL_COMMIT=7 "$E" $IN --out "$T/a" --first 6 >/dev/null 2>"$T/inj.err"; then
    fail export_injected_failure "exit 0"
elif sums "$T/a" | cmp -s - "$T/a.sums" && [ -z "$(ls -d "$T"/a/exports.tmp.* "$T"/a/exports.old.* 2>/dev/null)" ]; then
    pass export_injected_failure
else
    fail export_injected_failure "previous exports changed or staging left: $(ls "$T/a")"
fi
"$E" $IN --out "$T/a" --all-trials --every 1 --scale 16 --threads 1 >/dev/null 2>&1 &
pid=$!
sleep 1
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
if [ -d "$T/a/exports.tmp.$pid" ]; then
    sums "$T/a" | cmp -s - "$T/a.sums" && pass export_sigkill_keeps_previous ||
        fail export_sigkill_keeps_previous "exports changed"
    "$E" $IN --out "$T/a" --first 1 >/dev/null 2>&1
    [ ! -e "$T/a/exports.tmp.$pid" ] && [ "$(ls "$T/a/exports")" = 00000 ] &&
        pass export_stale_staging_removed || fail export_stale_staging_removed "$(ls "$T/a")"
else
    pass "export_sigkill_keeps_previous (finished before the kill)"
fi
"$E" $IN --out "$T/a" --first 4 --scores "$T/sc.h5" >/dev/null 2>&1
sums "$T/a" | cmp -s - "$T/a.sums" && [ "$(ls "$T/a" | tr '\n' ' ')" = "exports exports.time.json " ] &&
    pass export_replaces_tree || fail export_replaces_tree "$(ls "$T/a")"
$PY -c "
import json, sys; t = json.load(open('$T/a/exports.time.json'))
sys.exit(0 if t['stage'] == 'export' and t['exit_code'] == 0 else 1)" &&
    pass export_timing_record || fail export_timing_record "$(cat "$T/a/exports.time.json")"
