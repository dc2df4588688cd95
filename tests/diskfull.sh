#!/bin/sh
# Output failures: a full disk (a 256 KiB tmpfs), a read-only file system (the tmpfs remounted
# ro: root cannot write either), a read-only directory for an unprivileged user (setpriv to
# nobody) and an injected commit failure (SALBENCH_FAIL_COMMIT, formats/atomicfile.h). Each
# writer (bin/load and bin/merge through h5table, bin/make_scenes through pngio/coco and its
# directory swap) must exit 1 with one clear "cannot" line, leave no partial or temp file, and
# keep the previous output byte for byte. Mounting needs root or an unprivileged user namespace
# (unshare -rm); without either, the tmpfs cases are reported as skipped (no PASS/FAIL line).
. tests/lib.sh
if [ "$(id -u)" != 0 ] && [ -z "${DISKFULL_NS:-}" ] && command -v unshare >/dev/null &&
   unshare -rm true 2>/dev/null; then
    DISKFULL_NS=1 exec unshare -rm sh "$0" "$@"
fi
T=$(mktemp -d /tmp/test_diskfull.XXXXXX)
M=$T/mnt
mounted=0
cleanup() {
    [ $mounted = 1 ] && umount "$M" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
for b in load merge make_scenes; do
    [ -x bin/$b ] || { fail diskfull_binaries "bin/$b not built"; exit 1; }
done
SC=data/fashion-scenes/test
if [ ! -f "$SC/annotations.json" ]; then
    SC=$T/scenes
    bin/make_scenes --count 100 --out "$SC" >/dev/null 2>&1 || { fail diskfull_fixture "no scenes"; exit 1; }
fi
/usr/bin/python3 - "$SC" "$T" <<'EOF' || fail diskfull_fixture "python fixture builder failed"
import json, os, sys
sc, t = sys.argv[1], sys.argv[2]
d = json.load(open(os.path.join(sc, "annotations.json")))
keep = {im["id"] for im in d["images"][:2]}
json.dump({"images": d["images"][:2], "categories": d["categories"],
           "annotations": [a for a in d["annotations"] if a["image_id"] in keep]},
          open(os.path.join(t, "two.json"), "w"))
EOF
LOAD_SMALL="bin/load --coco $T/two.json --images $SC --size 16x16"
LOAD_BIG="bin/load --coco $SC/annotations.json --images $SC --size 64x64"

# fails NAME DIR KEEP CMD...: exit 1 with one "cannot" line, DIR holds exactly the entries it
# held before, and KEEP (a file or directory in DIR) is unchanged.
fails() {
    name=$1 dir=$2 keep=$3; shift 3
    before=$(ls -A "$dir" | sort | tr '\n' ' ')
    sum_before=$(cd "$dir" && find "$keep" -type f -exec md5sum {} + | sort | md5sum)
    "$@" >/dev/null 2>"$T/err"
    rc=$?
    after=$(ls -A "$dir" | sort | tr '\n' ' ')
    sum_after=$(cd "$dir" && find "$keep" -type f -exec md5sum {} + | sort | md5sum)
    msg=$(head -c 300 "$T/err")
    if [ $rc = 1 ] && grep -q cannot "$T/err" && [ "$(wc -l <"$T/err")" -le 1 ] &&
       [ "$before" = "$after" ] && [ "$sum_before" = "$sum_after" ]; then
        pass "$name"
    else
        fail "$name" "rc=$rc entries before '$before' after '$after' msg=$msg"
    fi
}
msg_has() {
    if grep -q "$2" "$T/err"; then pass "$1"; else fail "$1" "$(head -c 300 "$T/err")"; fi
}

# ---- injected commit failure (works everywhere) ----
mkdir -p "$T/out"
$LOAD_SMALL --out "$T/out/examples.h5" >/dev/null 2>&1 || fail diskfull_setup "small load failed"
fails diskfull_inject_load "$T/out" examples.h5 env SALBENCH_FAIL_COMMIT=1 \
    $LOAD_SMALL --size 8x8 --out "$T/out/examples.h5"
bin/make_scenes --count 2 --out "$T/out/scenes" >/dev/null 2>&1 || fail diskfull_setup "make_scenes"
fails diskfull_inject_make_scenes "$T/out" scenes env SALBENCH_FAIL_COMMIT=1 \
    bin/make_scenes --count 3 --out "$T/out/scenes"

# ---- read-only directory, unprivileged (root would bypass the mode bits) ----
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ] && [ -z "${DISKFULL_NS:-}" ]; then
    chmod 755 "$T" && chmod 555 "$T/out"
    fails diskfull_readonly_dir_load "$T/out" examples.h5 setpriv --reuid=65534 --regid=65534 \
        --clear-groups $LOAD_SMALL --out "$T/out/examples.h5"
    msg_has diskfull_readonly_dir_load_msg "Permission denied"
    chmod 755 "$T/out"
else
    echo "# diskfull: no setpriv or not root: unprivileged read-only directory case skipped"
fi

# ---- a full file system and a read-only one (tmpfs) ----
mkdir -p "$M"
if ! mount -t tmpfs -o size=256k tmpfs "$M" 2>/dev/null; then
    echo "# diskfull: cannot mount a tmpfs (not root, no user namespace): disk-full cases skipped"
    exit 0
fi
mounted=1
$LOAD_SMALL --out "$M/examples.h5" >/dev/null 2>&1 || fail diskfull_setup "small load on tmpfs"
fails diskfull_full_load "$M" examples.h5 $LOAD_BIG --out "$M/examples.h5"
msg_has diskfull_full_load_msg "No space left on device"
$LOAD_SMALL --shard 0/2 --out "$T/part0.h5" >/dev/null 2>&1 &&
    $LOAD_SMALL --shard 1/2 --out "$T/part1.h5" >/dev/null 2>&1 &&
    $LOAD_BIG --shard 0/2 --out "$T/big0.h5" >/dev/null 2>&1 &&
    $LOAD_BIG --shard 1/2 --out "$T/big1.h5" >/dev/null 2>&1 || fail diskfull_setup "shards"
bin/merge --out "$M/merged.h5" "$T/part0.h5" "$T/part1.h5" >/dev/null 2>&1 ||
    fail diskfull_setup "small merge on tmpfs"
fails diskfull_full_merge "$M" merged.h5 bin/merge --out "$M/merged.h5" "$T/big0.h5" "$T/big1.h5"
bin/make_scenes --count 2 --out "$M/scenes" >/dev/null 2>&1 || fail diskfull_setup "scenes on tmpfs"
fails diskfull_full_make_scenes "$M" scenes bin/make_scenes --count 200 --out "$M/scenes"
msg_has diskfull_full_make_scenes_msg "No space left on device"
df_used=$(df -k "$M" | awk 'NR == 2 {print $3}')
rm -f "$M/merged.h5"
mount -t tmpfs -o remount,ro,size=256k tmpfs "$M" 2>/dev/null ||
    { fail diskfull_remount_ro "cannot remount read-only"; exit 0; }
fails diskfull_readonly_fs_load "$M" examples.h5 $LOAD_SMALL --size 8x8 --out "$M/examples.h5"
msg_has diskfull_readonly_fs_load_msg "Read-only file system"
fails diskfull_readonly_fs_make_scenes "$M" scenes bin/make_scenes --count 2 --out "$M/scenes"
echo "# diskfull: tmpfs held ${df_used} KiB after the failures (previous outputs only)"
