/* What every stage main shares: long-option parsing from a table, usage text as a string array
 * (git's *_usage[]), --help/--version/--threads, --shard K/N with its id-range helpers, the
 * exit-code mapping and error exits, xmalloc, the options as a provenance JSON string, and a
 * progress line on stderr when stderr is a terminal. Stage-side only: pipeline/ and formats/
 * never exit or print, they err_set() and the stage calls cli_fail().
 *
 * A stage main:
 *     static const char *const usage[] = {
 *         "load --out FILE (--coco FILE --images DIR | --imagefolder DIR) [options]",
 *         "  --out FILE       examples.h5 to write",
 *         NULL};
 *     const char *out = NULL; long limit = 0;
 *     const struct cli_option opts[] = {
 *         CLI_OUTPUT("out", &out),                 // a string left out of the params JSON
 *         CLI_RANGE("limit", CLI_INT, &limit, 0, 1e9),
 *         CLI_END};
 *     cli_init("load", usage);
 *     cli_parse(opts, argc, argv);           // exits 0 (--help) or 2 (usage error) itself
 *     if (!out) cli_usage_error("missing --out");
 *     ... if (step()) cli_fail();              // prints "load: <err_msg()>", exits 1
 *     return cli_exit(0);                      // checks stdout was written
 *
 * Options are "--name value" or "--name=value"; "--" ends options. --threads N (omp threads,
 * default all cores), --help and --version are built in and need no table entry.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error. Messages: one line on stderr,
 * "<stage>: cannot VERB 'THING': REASON". Not thread-safe: call from the main thread. */
#ifndef SALBENCH_STAGES_COMMON_H
#define SALBENCH_STAGES_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_RUNTIME = 1, CLI_EXIT_USAGE = 2 };

enum cli_kind {
    CLI_FLAG = 1, /* int *: set to 1, takes no value */
    CLI_STRING,   /* const char **: points into argv */
    CLI_INT,      /* long long *: integer in [min, max] */
    CLI_DOUBLE,   /* double *: finite number in [min, max] */
    CLI_SIZE,     /* struct cli_size *: "HxW" or "N" (= NxN), each side in [1, 16384] */
    CLI_SHARD,    /* struct cli_shard *: "K/N", 0 <= K < N <= 65536 */
    CLI_LIST,     /* struct cli_list *: repeatable and/or comma-separated ("a,b" = "a" "b");
                     starts empty (no default); items are freed at exit */
};

enum { CLI_NOT_PARAM = 1 << 0 }; /* leave out of cli_params_json (output paths) */

struct cli_size {
    int h, w; /* 0 when not given */
};

struct cli_shard {
    uint32_t k, n; /* n == 0 or 1: whole data set */
};

struct cli_list {
    const char **items;
    int n;
};

struct cli_option {
    const char *name; /* without the leading "--"; NULL ends the table */
    enum cli_kind kind;
    void *value;
    double min, max; /* CLI_INT / CLI_DOUBLE range, inclusive; ignored when min == max == 0 */
    unsigned flags;  /* CLI_NOT_PARAM */
};

/* Table entries as designated initializers (no -Wmissing-field-initializers noise). */
#define CLI_OPT(name_, kind_, ptr_) {.name = (name_), .kind = (kind_), .value = (ptr_)}
#define CLI_RANGE(name_, kind_, ptr_, lo_, hi_)                                                 \
    {.name = (name_), .kind = (kind_), .value = (ptr_), .min = (lo_), .max = (hi_)}
#define CLI_OUTPUT(name_, ptr_)                                                                 \
    {.name = (name_), .kind = CLI_STRING, .value = (ptr_), .flags = CLI_NOT_PARAM}
#define CLI_END {.name = NULL}

/* Names the stage for messages and sets its usage lines (usage[0] is the synopsis; NULL-ended). */
void cli_init(const char *stage, const char *const *usage);
/* The stage name given to cli_init. */
const char *cli_stage(void);

/* Parses argv against the table (plus --threads, --help, --version). Returns the index of the
 * first positional argument (argc when none); the stage decides whether it accepts any. */
int cli_parse(const struct cli_option *opts, int argc, char **argv);

/* Threads OpenMP will use (after --threads), 1 without OpenMP. */
int cli_threads(void);

/* Every option of the table with its current value (given or default) as one JSON object, in
 * table order, minus CLI_NOT_PARAM ones and --threads (results never depend on it). xmalloc'd. */
char *cli_params_json(void);

/* "<stage>: <msg>", usage synopsis and a --help hint on stderr; exit 2. */
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<stage>: <err_msg()>" on stderr; exit 1. */
_Noreturn void cli_fail(void);
/* "<stage>: <msg>" on stderr; exit 1. */
_Noreturn void cli_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Flushes and checks stdout (a full disk or closed pipe is exit 1), then returns `code` for
 * main to return. */
int cli_exit(int code);

/* Stage timing record: after parsing, a stage with an output calls cli_set_output(out) (NULL:
 * no-op). At exit a JSON record "<out>.time.json" (trailing '/' of a directory output dropped)
 * is written atomically beside it, on success and on failure alike:
 *   {"stage": "score", "exit_code": 0, "wall_seconds": 1.25, "cpu_seconds": 2.5,
 *    "max_rss_kb": 51200, "argv": ["bin/score", "--out", "..."]}
 * wall from cli_init, cpu = user + system of the process and its waited-for children
 * (getrusage), max_rss_kb of the process. exit_code is what cli_exit returned or the code of
 * cli_fail/cli_die/cli_usage_error; a main that returns without cli_exit is recorded as 1. A
 * process killed by a signal leaves no record (its output is missing too). aggregate reads
 * these as MLflow system metrics; tables stay free of wall-clock times. */
void cli_set_output(const char *out);
/* For a stage that takes arguments out of argv before cli_parse (attribute's --METHOD.PARAM):
 * keeps a copy of the whole command line for the timing record. Call before changing argv. */
void cli_keep_argv(int argc, char **argv);

/* Allocation that cannot fail: on OOM prints "<stage>: cannot allocate N bytes: out of
 * memory" and exits 1. xcalloc checks n * size for overflow. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Shard of an id: (id * n) >> 64, monotonic in id, so with ids sorted ascending each shard is
 * one contiguous row range and shards in k order concatenate to the whole (HDF5.md §3). */
static inline uint32_t cli_shard_of(uint64_t id, uint32_t n)
{
    return n <= 1 ? 0 : (uint32_t)(((unsigned __int128)id * n) >> 64);
}
/* Row range [*begin, *end) of shard s in ascending ids[0..n) (binary search). */
void cli_shard_range(const struct cli_shard *s, const uint64_t *ids, size_t n, size_t *begin,
                     size_t *end);

/* Progress on stderr, only when stderr is a terminal (SALBENCH_PROGRESS=1 forces it on, =0
 * off): "<stage>: <what> 120/1000 (12%) 85/s ETA 10s", redrawn at most 5 times a second, and
 * a final line from cli_progress_finish. Call from one thread (e.g. between batches). */
struct cli_progress {
    const char *what;
    uint64_t total, done;
    double t0, last;
    int active;
};
void cli_progress_start(struct cli_progress *p, const char *what, uint64_t total);
void cli_progress_update(struct cli_progress *p, uint64_t done);
void cli_progress_finish(struct cli_progress *p);

#endif
