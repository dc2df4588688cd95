#!/bin/sh
# bin/make_scenes: regenerating the first scenes gives the shipped bytes (PNGs and their
# annotation lines), 1 and 2 threads agree, and bad uses fail cleanly without touching outputs.
. tests/lib.sh
src=/usr/share/datasets/fashion-mnist
ship=data/fashion-scenes/test
if [ ! -x bin/make_scenes ] || [ ! -f $src/t10k-images-idx3-ubyte.gz ] || [ ! -d $ship ]; then
    pass make_scenes_skipped_no_source_or_binary
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin/make_scenes --split test --count 8 --seed 1 --out "$tmp/a" --threads 1 2>/dev/null
bin/make_scenes --split test --count 8 --seed 1 --out "$tmp/b" --threads 2 2>/dev/null
same=1
for f in "$tmp"/a/images/*.png; do
    cmp -s "$f" "$ship/images/$(basename "$f")" || same=0
done
[ $same = 1 ] && [ "$(ls "$tmp/a/images" | wc -l)" = 8 ] && pass make_scenes_regenerates_shipped_pngs \
    || fail make_scenes_regenerates_shipped_pngs "PNG bytes differ from $ship"
grep '"image_id": [0-7],' "$ship/annotations.json" | sed 's/,$//' > "$tmp/ship.lines"
grep '"image_id": [0-7],' "$tmp/a/annotations.json" | sed 's/,$//' > "$tmp/new.lines"
[ -s "$tmp/new.lines" ] && cmp -s "$tmp/ship.lines" "$tmp/new.lines" \
    && pass make_scenes_regenerates_shipped_annotations \
    || fail make_scenes_regenerates_shipped_annotations "annotation lines differ"
diff -r "$tmp/a" "$tmp/b" >/dev/null && pass make_scenes_threads_1_2_identical \
    || fail make_scenes_threads_1_2_identical "outputs differ"

# replacing an earlier output, and refusing a directory holding foreign files
bin/make_scenes --count 3 --out "$tmp/a" 2>/dev/null && [ "$(ls "$tmp/a/images" | wc -l)" = 3 ] \
    && [ -z "$(ls -d "$tmp"/a.* 2>/dev/null)" ] && pass make_scenes_replaces_whole_dir \
    || fail make_scenes_replaces_whole_dir "stale or leftover files"
mkdir "$tmp/c" && touch "$tmp/c/precious"
expect_fail make_scenes_refuses_foreign_dir bin/make_scenes --count 2 --out "$tmp/c"
[ -f "$tmp/c/precious" ] && pass make_scenes_foreign_dir_untouched \
    || fail make_scenes_foreign_dir_untouched "file removed"
expect_fail make_scenes_bad_source bin/make_scenes --count 2 --source "$tmp/none" --out "$tmp/d"
[ ! -e "$tmp/d" ] && [ -z "$(ls -d "$tmp"/d.* 2>/dev/null)" ] && pass make_scenes_failure_leaves_nothing \
    || fail make_scenes_failure_leaves_nothing "output or temp left"
bin/make_scenes --count abc >/dev/null 2>&1
[ $? = 2 ] && pass make_scenes_usage_exit_2 || fail make_scenes_usage_exit_2 "exit status not 2"
