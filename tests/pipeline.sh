#!/bin/sh
# make run end to end on the smoke evaluation (pipeline/smoke.json: 8 scenes, chains benign and
# pgd, cheap methods, a metric of each family), in a scratch RUN_DIR with a private copy of bin/
# (BIN=...), so other builds cannot touch the binaries mid-test. Checks: every output exists; a
# second make does nothing; a changed score option reruns only score, export and aggregate;
# make redo-infer; a failing stage (corrupt model) stops make with the stage's message and leaves
# no output; SHARDS=2 under make -j2 gives the same datasets as the unsharded run.
. tests/lib.sh
T=$(mktemp -d /tmp/test_pipeline.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/bin"
for b in load infer attack attribute score merge export aggregate; do
    [ -x "bin/$b" ] && cp -p "bin/$b" "$T/bin/$b"
done
if [ ! -x "$T/bin/score" ] || [ ! -f data/fashion-scenes/test/annotations.json ]; then
    fail pipeline_fixture "needs bin/ (make all) and data/fashion-scenes"; exit 1
fi
# every shipped evaluation file parses (a broken one would stop every make command)
bad=""
for f in pipeline/*.json; do build-aux/evalvars.sh "$f" >/dev/null 2>&1 || bad="$bad $f"; done
if [ -z "$bad" ]; then pass pipeline_eval_files_parse; else fail pipeline_eval_files_parse "$bad"; fi
R=$T/run
mk() { # RUN_DIR, then make arguments; the log is $T/make.log
    dir=$1; shift
    SALBENCH_PROGRESS=0 make --no-print-directory EVAL=smoke RUN_DIR="$dir" BIN="$T/bin" "$@" \
        >"$T/make.log" 2>&1
}
mt() { stat -c %.9Y "$@" 2>/dev/null; }
TABLES="benign/examples.h5 benign/predictions.h5 benign/saliency.h5 benign/scores.h5
pgd/examples.h5 pgd/predictions.h5 pgd/saliency.h5 pgd/scores.h5"
OUTS="$TABLES"
[ -x "$T/bin/export" ] && OUTS="$OUTS benign/exports pgd/exports"
[ -x "$T/bin/aggregate" ] && OUTS="$OUTS report.html summary.txt"
snap() { (cd "$R" && for f in $OUTS; do echo "$f $(mt "$f")"; done); }
# which of OUTS have a new mtime since the snapshot file $1
changed() { snap >"$T/now"; paste "$1" "$T/now" | awk '$2 != $4 {print $1}' | tr '\n' ' '; }

# --- the whole evaluation ----------------------------------------------------------------------
if mk "$R" run; then pass pipeline_run; else fail pipeline_run "$(tail -5 "$T/make.log")"; fi
missing=""
for f in $OUTS $([ -x "$T/bin/aggregate" ] && echo mlruns); do [ -e "$R/$f" ] || missing="$missing $f"; done
if [ -z "$missing" ]; then pass pipeline_outputs; else fail pipeline_outputs "missing:$missing"; fi
if [ -x "$T/bin/aggregate" ]; then
    if grep -q "report: .*report.html" "$T/make.log" && grep -q "mlruns: " "$T/make.log"; then
        pass pipeline_prints_summary; else fail pipeline_prints_summary "$(tail -3 "$T/make.log")"; fi
fi
if grep -q 'random_logit' "$R/benign/score.opts" && grep -q 'reference-saliency' "$R/pgd/score.opts"; then
    pass pipeline_option_stamps; else fail pipeline_option_stamps "$(cat "$R"/*/score.opts)"; fi

# --- nothing to do the second time --------------------------------------------------------------
snap >"$T/t0"
mk "$R" run
c=$(changed "$T/t0")
if [ -z "$c" ]; then pass pipeline_rerun_noop; else fail pipeline_rerun_noop "remade: $c"; fi

# --- a changed score option: score, export, aggregate only --------------------------------------
mk "$R" run SCORE_OPTS="--deletion.steps 8 --bootstrap 100 --sanity_check.mode independent --sanity_check.layers conv4,conv1"
c=$(changed "$T/t0")
want="benign/scores.h5 pgd/scores.h5"
[ -x "$T/bin/export" ] && want="$want benign/exports pgd/exports"
[ -x "$T/bin/aggregate" ] && want="$want report.html summary.txt"
if [ "$(echo $c | tr ' ' '\n' | sort)" = "$(echo $want | tr ' ' '\n' | sort)" ]; then
    pass pipeline_score_option_reruns_score_only; else fail pipeline_score_option_reruns_score_only "remade: $c"; fi
# and back: the stamp changes again, so score reruns once more, upstream still untouched
snap >"$T/t1"
mk "$R" run
c=$(changed "$T/t1")
case " $c " in *" benign/scores.h5 "*) ok=1 ;; *) ok=0 ;; esac
case " $c " in *examples*|*predictions*|*saliency*) ok=0 ;; esac
if [ $ok = 1 ]; then pass pipeline_option_back; else fail pipeline_option_back "remade: $c"; fi

# --- make redo-infer: infer and everything after it, not load or attack -------------------------
snap >"$T/t2"
mk "$R" redo-infer
c=$(changed "$T/t2")
case " $c " in *" benign/predictions.h5 "*" pgd/predictions.h5 "*"scores"*) ok=1 ;; *) ok=0 ;; esac
case " $c " in *examples*|*saliency*) ok=0 ;; esac
if [ $ok = 1 ]; then pass pipeline_redo_infer; else fail pipeline_redo_infer "remade: $c"; fi

# --- a failing stage: make stops with the stage's message, no output, no temp files -------------
head -c 4000 data/models/fashion-scenes-cnn.h5 >"$T/bad.h5"
if mk "$T/bad" run MODEL="$T/bad.h5"; then rc=0; else rc=$?; fi
msg=$(grep -E '^(infer|attack): cannot' "$T/make.log" | head -1)
left=$(cd "$T/bad" && find . -name '*.h5' ! -path ./benign/examples.h5 -o -name '*.tmp.*' | tr '\n' ' ')
if [ $rc -ne 0 ] && [ -n "$msg" ] && [ -z "$left" ] && grep -q 'Error 1' "$T/make.log"; then
    pass pipeline_failed_stage_stops; else fail pipeline_failed_stage_stops "rc=$rc msg=$msg left=$left"; fi

# --- SHARDS=2 under make -j2 (score too: parts and score --merge) equals the unsharded run ---
same_data() { # A B: the datasets of A, bit for bit in B (attributes aside: per-shard summaries,
    # paths of inputs); prints the first that differs
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys, h5py
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
for n in names:
    x, y = a[n], b.get(n)
    if y is None or x.shape != y.shape or x.dtype != y.dtype or x[()].tobytes() != y[()].tobytes():
        print(n); sys.exit(1)
EOF
}
if mk "$T/sh2" -j2 run SHARDS=2 && [ -f "$T/sh2/pgd/saliency.part1-of-2.h5" ] &&
   [ -f "$T/sh2/benign/scores.part1-of-2.h5" ]; then
    pass pipeline_shards_j2_run; else fail pipeline_shards_j2_run "$(tail -5 "$T/make.log")"; fi
bad=""
for f in $TABLES; do
    d=$(same_data "$R/$f" "$T/sh2/$f") || bad="$bad $f:$d"
done
if [ -z "$bad" ]; then pass pipeline_shards_equal_unsharded; else fail pipeline_shards_equal_unsharded "$bad"; fi
# load's provenance holds only the data set's paths, so its merged file is the same bytes
if cmp -s "$R/benign/examples.h5" "$T/sh2/benign/examples.h5"; then
    pass pipeline_shards_examples_bytes; else fail pipeline_shards_examples_bytes "merged examples.h5 differs in bytes"; fi

# --- a bad evaluation file is refused before anything runs --------------------------------------
printf '{"DATA": {"nested": 1}}\n' >"$T/bad.json"
if make --no-print-directory EVAL=badeval EVAL_FILE="$T/bad.json" RUN_DIR="$T/be" BIN="$T/bin" run >"$T/make.log" 2>&1; then rc=0; else rc=$?; fi
if [ $rc -ne 0 ] && grep -q "evalvars: cannot read" "$T/make.log" && [ ! -e "$T/be" ]; then
    pass pipeline_bad_eval_file; else fail pipeline_bad_eval_file "rc=$rc $(head -2 "$T/make.log")"; fi
rm -f build/eval/badeval.mk build/eval/badeval.mk.tmp
