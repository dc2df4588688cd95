/* MLflow file store ("mlruns/") writer and reader, in C, per /work/shared/MLFLOW.md (section A,
 * read by MLflow 1.30 to 3.6 and by Armory's EvaluationResults). Not a tracking client: no
 * server, no model registry, no dataset inputs, no deletion into .trash; runs are published
 * whole (built beside the store, renamed in) instead of being logged to live.
 *
 * ---- How aggregate maps the pipeline onto the store (design note) -------------------------
 * Store    runs/<evaluation>/mlruns (override --mlruns). mlflowstore_open creates it, .trash/
 *          and the Default experiment 0 like MLflow's FileStore does.
 * Experiment = evaluation name: mlflowstore_experiment() finds an active one by name or
 *          creates it once (random 18-digit id, like MLflow >= 2.0).
 * Pipeline run id: a 16-hex XXH3-64 over, in chain-name order, "<chain>\0<stage>\0<content
 *          hash>\0" of every table the aggregate reads (the hashes h5table_content_hash_path
 *          gives), overridable with --pipeline-run-id. Same tables -> same id -> the same MLflow
 *          runs are rewritten (mlflowstore_find_run on tag salbench.pipeline_run_id); new
 *          tables (say a re-score with another tolerance) -> a new parent run.
 * Parent run (one per pipeline run). run_name "<evaluation>-<first 8 hex of pipeline id>".
 *          params: evaluation.name, .dataset, .model, .seed, .methods, .metrics, .chains (lists
 *          comma-joined), salbench.version. tags: mlflow.note.content = description,
 *          salbench.pipeline_run_id, salbench.version, mlflow.user/source.* (set by run_begin).
 *          metrics: system/total/wall_seconds, system/total/cpu_seconds,
 *          system/total/peak_memory_megabytes (max over stages), system/aggregate/... .
 *          status FAILED when any chain failed, else FINISHED.
 * Chain run (one per runs/<evaluation>/<chain>/). run_name = chain; tags mlflow.parentRunId,
 *          salbench.pipeline_run_id, salbench.chain, salbench.version.
 *   params   every table's provenance params JSON flattened by mlflowstore_run_params_json with
 *          prefix = stage ("load.size", "attribute.methods", "score.pointing_game.tolerance"),
 *          plus "<stage>.version" and "<stage>.input.<role>" = 16-hex content hash of each input,
 *          and each saliency method's attributes as "attribute.<method>.<attr>".
 *   metrics  step 0, one shared timestamp (as Lightning logs Armory's), from formats/scores.h:
 *          accuracy (predictions.h5), <metric>/<method> = summary mean, and
 *          <metric>/<method>.std, .ci_lo, .ci_hi, .n, .undefined (a dotted suffix, never a
 *          sub-key: "a/b" and "a/b/c" cannot both exist on disk); curves as stepped metrics:
 *          deletion_curve/<method>, insertion_curve/<method> (step = curve point, value = mean
 *          over trials of curves/<method>/deletion|insertion), sanity_<kind>_<measure>/<method>
 *          (kind cascading|independent, step = layer index in sanity_layers order, value = mean
 *          over trials). Names go through mlflowstore_key_sanitise (they are user data).
 *   system metrics  system/<stage>/wall_seconds, system/<stage>/cpu_seconds,
 *          system/<stage>/peak_memory_megabytes, from a per-stage timing record
 *          "<output>.time.json" beside each output ({wall_seconds, cpu_seconds, max_rss_kb}, from
 *          getrusage at exit; still to be added to stages/common): tables hold no wall-clock
 *          times.
 *   artifacts  exports/{batch:05d}/{sample:02d}/... (mlflowstore_run_artifact_tree of the
 *          chain's exports/), metrics/<name>.txt JSON via mlflowstore_run_artifact_json:
 *          accuracy, confusion_matrix (nested lists, Armory's shape), summary, paired,
 *          pointing_game, pointing_game_classes (each table as a list of row objects);
 *          tables/scores.h5 (the chain's scores table), report.html.
 *   status  FAILED when a stage of the chain failed (its output table missing or marked
 *          failed), else FINISHED; commit order: parent first, then chains.
 * ---------------------------------------------------------------------------------------------
 *
 * Writing a run (every run is staged under "<root>.tmp.<pid>/" beside the store, on the same
 * file system, then renamed into <root>/<exp>/<run_id>/; MLflow never sees a half run, and
 * never a temp directory inside the store, which it would list as a malformed run):
 *     struct mlflowstore s;
 *     char exp[MLFLOWSTORE_ID_MAX], parent[MLFLOWSTORE_ID_MAX];
 *     if (mlflowstore_open(&s, "runs/demo/mlruns")) ...           // flock on the root dir
 *     if (mlflowstore_experiment(&s, "demo", exp)) ...
 *     const char *key[] = {"salbench.pipeline_run_id", id};
 *     int found = mlflowstore_find_run(s.root, exp, key, 1, 1, parent);  // 1, 0 or -1
 *     struct mlflowstore_run_writer w;
 *     if (mlflowstore_run_begin(&w, &s, exp, found ? parent : NULL, "demo-1a2b3c4d", t0)) ...
 *     ... mlflowstore_run_param / _tag / _metric / _artifact_* (w.run_id is the id) ...
 *     if (mlflowstore_run_commit(&w, MLFLOWSTORE_FINISHED, t1)) ...  // or _run_abort(&w)
 *     mlflowstore_release(&s);
 * Committing over an existing run (re-aggregation) swaps the two directories atomically
 * (renameat2 RENAME_EXCHANGE; where the file system lacks it, old aside then new in) and
 * removes the old one: a reader sees the old run or the new one. A parent and its chains are
 * separate swaps. Staging directories of this process are removed by mlflowstore_release and
 * at exit; ones left by a killed process (pid gone) are removed by the next mlflowstore_open.
 * meta.yaml files are written with atomicfile (temp, fsync, rename), so SALBENCH_FAIL_COMMIT
 * makes a run commit fail before anything is published.
 *
 * Format decisions (MLFLOW.md A.3-A.11): meta.yaml keys sorted like MLflow writes them, every
 * string double-quoted with JSON-style escapes (non-ASCII as \uXXXX / \UXXXXXXXX, so the file
 * is ASCII), integers bare, end_time null while running; run meta carries both run_id and
 * run_uuid and the legacy keys. Metric lines "<ms> <value> <step>\n" with the value spelled
 * like Python's repr (0.5, 1e-05, 100.0, nan, inf, -inf). Param and tag files hold the value
 * verbatim (no newline). Params are write-once (same value again: no-op; another value: error).
 * Values longer than MLflow's limits (param 6000, tag 5000 code points) are cut at a code point
 * boundary, as Lightning does for Armory. Keys must pass mlflowstore_key_valid (ASCII
 * [A-Za-z0-9_.- /], normalized relative path, <= 250); derive keys from user data with
 * mlflowstore_key_sanitise. Text must be valid UTF-8 (non-UTF-8 breaks MLflow's reader).
 * artifact_uri/artifact_location are absolute file:// URIs percent-encoded like Python's
 * pathlib as_uri(): moving the store needs the URIs rewritten (the reader falls back to the
 * run's own artifacts/ when the URI's folder is gone).
 *
 * Reading (no lock, read-only, tolerant of what MLflow itself writes: plain, single- and
 * double-quoted YAML scalars, 2/3/5-field metric lines): mlflowstore_list_experiments,
 * mlflowstore_find_experiment, mlflowstore_list_runs / mlflowstore_read_run (params, tags,
 * metrics with history and MLflow's "latest" value), mlflowstore_list_artifacts,
 * mlflowstore_read_artifact.
 *
 * Errors: functions return 0 (or the documented 1/0 answer) and -1 after err_set() with
 * "cannot <verb> '<thing>': <reason>". Strings returned through structs or pointers are
 * malloc'd and owned by the struct (released by the named _release/_free functions) or by the caller
 * (free()). Not thread-safe; one writer per store at a time (the flock makes a second writer
 * wait). */
#ifndef SALBENCH_MLFLOWSTORE_H
#define SALBENCH_MLFLOWSTORE_H

#include <stddef.h>
#include <stdint.h>

#define MLFLOWSTORE_ID_MAX 65          /* experiment ids <= 64 chars, our run ids 32 hex; + NUL */
#define MLFLOWSTORE_KEY_MAX 250        /* param/metric/tag key length */
#define MLFLOWSTORE_PARAM_VALUE_MAX 6000 /* code points (MLflow >= 2.8) */
#define MLFLOWSTORE_TAG_VALUE_MAX 5000   /* code points (8000 only from 2.17) */
#define MLFLOWSTORE_EXP_NAME_MAX 500
#define MLFLOWSTORE_FLOAT_MAX 32       /* buffer for mlflowstore_format_float */

enum mlflowstore_status {
    MLFLOWSTORE_RUNNING = 1,
    MLFLOWSTORE_SCHEDULED = 2,
    MLFLOWSTORE_FINISHED = 3,
    MLFLOWSTORE_FAILED = 4,
    MLFLOWSTORE_KILLED = 5,
};

/* "RUNNING" ... "KILLED", or "UNKNOWN". */
const char *mlflowstore_status_name(int status);

/* ---- helpers ------------------------------------------------------------------------------ */

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t mlflowstore_now_ms(void);

/* 1 when key is a key this writer accepts: 1..250 bytes of [A-Za-z0-9_.- /], no leading or
 * trailing '/', no "//", no "." or ".." segment. */
int mlflowstore_key_valid(const char *key);

/* Makes a valid key from any text: characters outside [A-Za-z0-9_.- /] become '_' (one per
 * byte of a multi-byte character), runs of '/' collapse, leading/trailing '/' go, "." and ".."
 * segments become "_" and "__", cut to 250 bytes (then trailing '/' dropped); empty -> "_".
 * Writes at most cap bytes including the NUL (cap >= 2; cap > 250 never truncates more). */
void mlflowstore_key_sanitise(char *out, size_t cap, const char *in);

/* The value as Python's repr(float) spells it: shortest round-trip digits, "1e-05", "1e+16",
 * "100.0", "nan", "inf", "-inf", "-0.0". */
void mlflowstore_format_float(char out[MLFLOWSTORE_FLOAT_MAX], double v);

/* "file:///abs/path" for an absolute path, percent-encoded like Python's pathlib as_uri()
 * (every byte outside [A-Za-z0-9_.~/-] as %XX). malloc'd; NULL + err_set on OOM. */
char *mlflowstore_path_uri(const char *abs_path);
/* The local path of a "file:" URI (percent-decoded), or NULL + err_set when it is not one. */
char *mlflowstore_uri_path(const char *uri);

/* Re-emits JSON text the way Python's json.dump(obj, indent=2) does (what MLflow's log_dict
 * writes for a .txt artifact and Armory's metadata.txt): 2-space indent, ", "-free newline
 * separators, ": " after keys, non-ASCII escaped as \uXXXX, no trailing newline, floats in
 * repr style, NaN/Infinity spelled as Python does. *out malloc'd. Fails on invalid JSON. */
int mlflowstore_json_pretty(const char *json, char **out);

/* ---- writing ------------------------------------------------------------------------------ */

struct mlflowstore {
    char *root;     /* absolute path of the store */
    char *root_uri; /* file:// URI of root */
    char *staging;  /* "<root>.tmp.<pid>", made on first use; NULL until then */
    int lock_fd;    /* the root directory, flock'ed exclusively; -1 when closed */
    unsigned seq;   /* names inside staging */
};

/* Opens (creating as needed, mkdir -p) the store at root: .trash/ and experiment 0 "Default"
 * as MLflow creates them; takes an exclusive flock on the root directory (waits for another
 * writer); removes staging directories of dead processes beside it. Release with
 * mlflowstore_release even on failure (s is initialised first). */
int mlflowstore_open(struct mlflowstore *s, const char *root);
/* Removes this process's staging directory and unlocks. Accepts a released or failed store. */
void mlflowstore_release(struct mlflowstore *s);

/* Finds the active experiment named `name` (first match in id order) or creates it; writes
 * its id. Names: 1..500 code points of valid UTF-8, no control characters. */
int mlflowstore_experiment(struct mlflowstore *s, const char *name, char id[MLFLOWSTORE_ID_MAX]);

/* Sets an experiment tag (tags/<key>, atomically replaced), e.g. mlflow.note.content. */
int mlflowstore_experiment_tag(struct mlflowstore *s, const char *exp_id, const char *key,
                               const char *value);

/* Finds an active run of experiment exp_id whose tags hold every (key, value) pair of
 * kv[0..2n) (kv[2i] key, kv[2i+1] value; a NULL value means "tag absent"); with top_level set
 * only runs without mlflow.parentRunId count. Several matches: the latest start_time wins.
 * Returns 1 and writes run_id, 0 when none, -1 on error. Reads without the lock. */
int mlflowstore_find_run(const char *root, const char *exp_id, const char *const *kv, size_t n,
                         int top_level, char run_id[MLFLOWSTORE_ID_MAX]);

/* Removes run exp_id/run_id (renamed out of the store first, then deleted), e.g. a chain that
 * no longer exists when a pipeline run is re-aggregated. Missing run: 0. */
int mlflowstore_delete_run(struct mlflowstore *s, const char *exp_id, const char *run_id);

struct mlflowstore_kv {
    char *key, *value;
};

struct mlflowstore_run_writer {
    struct mlflowstore *store;
    char exp_id[MLFLOWSTORE_ID_MAX];
    char run_id[MLFLOWSTORE_ID_MAX];
    char *dir;      /* staging directory of the run; NULL when not open */
    char *run_name;
    char *user;
    int64_t start_time;
    struct mlflowstore_kv *params; /* logged so far (write-once check) */
    size_t nparams, cap_params;
};

/* Starts a run in staging. run_id NULL: a new uuid4 hex id; else that id (to rewrite an
 * existing run). run_name non-empty UTF-8. Writes meta.yaml (RUNNING, end_time null) and the
 * tags mlflow.runName, mlflow.user ($USER, else the passwd name, else ""), mlflow.source.name
 * (this executable's absolute path) and mlflow.source.type = LOCAL; set mlflow.parentRunId
 * with mlflowstore_run_tag for a nested run. On failure nothing is left to release. */
int mlflowstore_run_begin(struct mlflowstore_run_writer *w, struct mlflowstore *s,
                          const char *exp_id, const char *run_id, const char *run_name,
                          int64_t start_ms);

int mlflowstore_run_param(struct mlflowstore_run_writer *w, const char *key, const char *value);
/* Flattens a JSON object into params "<prefix>.<key>" (nested objects join keys with '.';
 * strings verbatim; numbers, booleans, null, arrays as compact JSON text). Keys are sanitised.
 * prefix may be "" (no prefix). */
int mlflowstore_run_params_json(struct mlflowstore_run_writer *w, const char *prefix,
                                const char *json);
/* Tags may be overwritten (the last value wins). */
int mlflowstore_run_tag(struct mlflowstore_run_writer *w, const char *key, const char *value);
/* Appends one "<timestamp_ms> <value> <step>" line. */
int mlflowstore_run_metric(struct mlflowstore_run_writer *w, const char *key, double value,
                           int64_t timestamp_ms, int64_t step);
/* Appends n lines: values[i] at step steps ? steps[i] : i, all with one timestamp (a curve). */
int mlflowstore_run_metric_curve(struct mlflowstore_run_writer *w, const char *key,
                                 const double *values, const int64_t *steps, size_t n,
                                 int64_t timestamp_ms);

/* Artifacts: path is relative to the run's artifacts/ ("metrics/accuracy.txt"); a normalized
 * relative POSIX path, no "..", no empty segments. Existing files are replaced. */
int mlflowstore_run_artifact_data(struct mlflowstore_run_writer *w, const char *path,
                                  const void *data, size_t n);
/* JSON text re-emitted by mlflowstore_json_pretty (Armory's metrics/<name>.txt). */
int mlflowstore_run_artifact_json(struct mlflowstore_run_writer *w, const char *path,
                                  const char *json);
int mlflowstore_run_artifact_file(struct mlflowstore_run_writer *w, const char *path,
                                  const char *src);
/* Copies the regular files and directories under srcdir (recursively, symlinks followed to
 * regular files only, other entries skipped) to artifacts/<path>/; path "" = artifacts root. */
int mlflowstore_run_artifact_tree(struct mlflowstore_run_writer *w, const char *path,
                                  const char *srcdir);

/* Finishes the run: meta.yaml with status (FINISHED, FAILED or KILLED) and end_time, then
 * publishes it (rename, or atomic exchange with an existing run of the same id, whose old
 * directory is then removed). Releases w in every case; on failure nothing is published. */
int mlflowstore_run_commit(struct mlflowstore_run_writer *w, int status, int64_t end_ms);
/* Drops the staged run; releases w. Accepts a released writer. */
void mlflowstore_run_abort(struct mlflowstore_run_writer *w);

/* ---- reading ------------------------------------------------------------------------------ */

struct mlflowstore_experiment_info {
    char *id, *name, *artifact_location, *lifecycle_stage;
    int64_t creation_time, last_update_time; /* -1 when absent */
    int in_trash;                            /* found under .trash/ */
};

/* Every experiment MLflow would list (root sub-directories but .trash and models, plus those
 * in .trash), sorted by id (numeric order for digit ids). Malformed ones (no or bad meta.yaml) are
 * skipped like MLflow does. *out freed with mlflowstore_experiments_free. */
int mlflowstore_list_experiments(const char *root, struct mlflowstore_experiment_info **out,
                                 size_t *n);
void mlflowstore_experiments_free(struct mlflowstore_experiment_info *e, size_t n);
/* The active experiment named name: 1 and *out filled (release with
 * mlflowstore_experiment_release), 0 when none, -1 on error. */
int mlflowstore_find_experiment(const char *root, const char *name,
                                struct mlflowstore_experiment_info *out);
void mlflowstore_experiment_release(struct mlflowstore_experiment_info *e);

struct mlflowstore_point {
    int64_t timestamp;
    double value;
    int64_t step;
};

struct mlflowstore_metric {
    char *key;
    struct mlflowstore_point *points; /* history, in file order */
    size_t n;
    struct mlflowstore_point latest;  /* MLflow's summary: max by (step, timestamp, value) */
};

struct mlflowstore_run {
    char *experiment_id, *run_id, *run_name, *user_id, *lifecycle_stage, *artifact_uri;
    int status;                   /* 1..5 */
    int64_t start_time, end_time; /* end_time -1 when null */
    char *dir;                    /* the run's folder */
    char *artifact_dir;           /* local folder of artifact_uri, else dir/artifacts */
    struct mlflowstore_kv *params, *tags; /* sorted by key */
    size_t nparams, ntags;
    struct mlflowstore_metric *metrics; /* sorted by key */
    size_t nmetrics;
};

/* Reads <root>/<exp_id>/<run_id> completely. Fails (naming file and reason) on what MLflow
 * would fail on: bad status, non-int times, missing required keys, malformed metric lines,
 * non-UTF-8 values. run_name falls back to the mlflow.runName tag. */
int mlflowstore_read_run(const char *root, const char *exp_id, const char *run_id,
                         struct mlflowstore_run *r);
void mlflowstore_run_release(struct mlflowstore_run *r); /* accepts NULL / zeroed */
/* Every run of the experiment (sub-directories but tags/datasets/traces/models; ones without
 * meta.yaml skipped like MLflow), sorted by start_time descending then run_id. */
int mlflowstore_list_runs(const char *root, const char *exp_id, struct mlflowstore_run **runs,
                          size_t *n);
void mlflowstore_runs_free(struct mlflowstore_run *runs, size_t n);
/* Finds which experiment holds run_id: 1 and exp_id written, 0 when none, -1 on error. */
int mlflowstore_locate_run(const char *root, const char *run_id, char exp_id[MLFLOWSTORE_ID_MAX]);

/* A tag's or param's value, or NULL. */
const char *mlflowstore_run_get_tag(const struct mlflowstore_run *r, const char *key);
const char *mlflowstore_run_get_param(const struct mlflowstore_run *r, const char *key);
const struct mlflowstore_metric *mlflowstore_run_get_metric(const struct mlflowstore_run *r,
                                                            const char *key);

struct mlflowstore_artifact {
    char *path; /* relative to the artifacts root, '/'-separated */
    int64_t size;
};
/* Files under artifacts/<prefix> (prefix "" or NULL: all), recursively, sorted by path. */
int mlflowstore_list_artifacts(const struct mlflowstore_run *r, const char *prefix,
                               struct mlflowstore_artifact **out, size_t *n);
void mlflowstore_artifacts_free(struct mlflowstore_artifact *a, size_t n);
/* Reads one artifact file; *data malloc'd and NUL-terminated (*n excludes the NUL). */
int mlflowstore_read_artifact(const struct mlflowstore_run *r, const char *path, char **data,
                              size_t *n);

#endif
