/* Shared stage CLI: option table parsing, usage and error exits, xmalloc, provenance params
 * JSON, shard ranges and the terminal progress line; see common.h. Stage-side code: it may
 * print and exit, unlike pipeline/ and formats/. */
#include "stages/common.h"

#include "formats/atomicfile.h"
#include "formats/h5table.h"
#include "pipeline/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *cli_name = "salbench";
static const char *const *cli_usage_lines;
static const struct cli_option *cli_opts;
static char **cli_owned; /* copies made for CLI_LIST items, freed at exit */
static size_t cli_nowned;
static double cli_now(void);

/* Timing record state (cli_set_output). The exit code starts as "failed" so that a main which
 * returns without cli_exit is not recorded as a success. */
static double cli_t0;
static int cli_argc;
static char **cli_argv;
static char *cli_time_path;
static int cli_exit_code = CLI_EXIT_RUNTIME;

void cli_init(const char *stage, const char *const *usage)
{
    cli_name = stage;
    cli_usage_lines = usage;
    cli_t0 = cli_now();
}

const char *cli_stage(void)
{
    return cli_name;
}

/* ---- exits and allocation ---------------------------------------------------------------- */

/* Prints "<stage>: <message>" as one write, so concurrent stages do not interleave lines. */
static void cli_vreport(const char *fmt, va_list ap)
{
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%s: ", cli_name);
    if (n < 0 || (size_t)n >= sizeof buf) n = 0;
    vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    fprintf(stderr, "%s\n", buf);
}

_Noreturn void cli_usage_error(const char *fmt, ...)
{
    cli_exit_code = CLI_EXIT_USAGE;
    va_list ap;
    va_start(ap, fmt);
    cli_vreport(fmt, ap);
    va_end(ap);
    fprintf(stderr, "usage: %s\ntry '%s --help' for the options\n",
            cli_usage_lines && cli_usage_lines[0] ? cli_usage_lines[0] : cli_name, cli_name);
    exit(CLI_EXIT_USAGE);
}

_Noreturn void cli_fail(void)
{
    cli_exit_code = CLI_EXIT_RUNTIME;
    fprintf(stderr, "%s: %s\n", cli_name, err_msg()[0] ? err_msg() : "failed (no message)");
    exit(CLI_EXIT_RUNTIME);
}

_Noreturn void cli_die(const char *fmt, ...)
{
    cli_exit_code = CLI_EXIT_RUNTIME;
    va_list ap;
    va_start(ap, fmt);
    cli_vreport(fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_RUNTIME);
}

int cli_exit(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: cannot write 'stdout': %s\n", cli_name, strerror(errno));
        return cli_exit_code = CLI_EXIT_RUNTIME;
    }
    return cli_exit_code = code;
}

static _Noreturn void cli_oom(size_t n)
{
    cli_die("cannot allocate %zu bytes: out of memory", n);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) cli_oom(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) cli_die("cannot allocate %zu x %zu bytes: too large", n, size);
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cli_oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) cli_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/* ---- help -------------------------------------------------------------------------------- */

static _Noreturn void cli_help(void)
{
    printf("usage: %s\n", cli_usage_lines && cli_usage_lines[0] ? cli_usage_lines[0] : cli_name);
    for (int i = 1; cli_usage_lines && cli_usage_lines[i]; i++)
        printf("%s\n", cli_usage_lines[i]);
    printf("  --threads N          OpenMP threads (default: all cores; results do not depend "
           "on it)\n"
           "  --help               this text\n"
           "  --version            salbench version\n"
           "exit status: 0 ok, 1 runtime failure, 2 usage error\n");
    exit(cli_exit(CLI_EXIT_OK));
}

/* ---- value parsing ----------------------------------------------------------------------- */

static int cli_in_range(const struct cli_option *o, double v)
{
    return (o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max);
}

static void cli_parse_int(const struct cli_option *o, const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE)
        cli_usage_error("cannot parse '--%s %s': not an integer", o->name, s);
    if (!cli_in_range(o, (double)v))
        cli_usage_error("cannot use '--%s %s': must be in %.17g..%.17g", o->name, s, o->min,
                        o->max);
    *(long long *)o->value = v;
}

static void cli_parse_double(const struct cli_option *o, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v))
        cli_usage_error("cannot parse '--%s %s': not a finite number", o->name, s);
    if (!cli_in_range(o, v))
        cli_usage_error("cannot use '--%s %s': must be in %.17g..%.17g", o->name, s, o->min,
                        o->max);
    *(double *)o->value = v;
}

/* Parses an unsigned decimal in [lo, hi] from s up to a char in `stops` (or the end). */
static int cli_uint(const char **s, long lo, long hi, long *out)
{
    char *end;
    if (**s < '0' || **s > '9') return -1;
    errno = 0;
    long v = strtol(*s, &end, 10);
    if (errno || v < lo || v > hi) return -1;
    *s = end;
    *out = v;
    return 0;
}

static void cli_parse_size(const struct cli_option *o, const char *s)
{
    const char *p = s;
    long h, w;
    if (cli_uint(&p, 1, 16384, &h)) goto bad;
    w = h;
    if (*p == 'x' || *p == 'X') {
        p++;
        if (cli_uint(&p, 1, 16384, &w)) goto bad;
    }
    if (*p) goto bad;
    ((struct cli_size *)o->value)->h = (int)h;
    ((struct cli_size *)o->value)->w = (int)w;
    return;
bad:
    cli_usage_error("cannot parse '--%s %s': expected HxW (or N for NxN), sides 1..16384",
                    o->name, s);
}

static void cli_parse_shard(const struct cli_option *o, const char *s)
{
    const char *p = s;
    long k, n;
    if (cli_uint(&p, 0, 65535, &k) || *p++ != '/' || cli_uint(&p, 1, 65536, &n) || *p)
        cli_usage_error("cannot parse '--%s %s': expected K/N with 0 <= K < N <= 65536",
                        o->name, s);
    if (k >= n) cli_usage_error("cannot use '--%s %s': K must be below N", o->name, s);
    ((struct cli_shard *)o->value)->k = (uint32_t)k;
    ((struct cli_shard *)o->value)->n = (uint32_t)n;
}

/* Strings and item arrays the parser allocated, freed at exit so leak checkers stay quiet.
 * Only our own pointers are touched: the cli_list structs may live in main's stack frame,
 * which is gone by the time atexit handlers run. */
static void cli_free_owned(void)
{
    for (size_t i = 0; i < cli_nowned; i++)
        free(cli_owned[i]);
    free(cli_owned);
    cli_owned = NULL;
    cli_nowned = 0;
}

static void cli_own(void *p)
{
    if (!cli_owned) atexit(cli_free_owned);
    cli_owned = xrealloc(cli_owned, (cli_nowned + 1) * sizeof *cli_owned);
    cli_owned[cli_nowned++] = p;
}

static void cli_parse_list(const struct cli_option *o, const char *s)
{
    struct cli_list *l = o->value;
    char *copy = xstrdup(s);
    cli_own(copy);
    if (l->n == 0) l->items = NULL; /* defaults are not supported: the entry starts empty */
    size_t count = (size_t)l->n;
    for (const char *c = s; *c; c++)
        count += *c == ',';
    /* A fresh array each time (the old one stays owned), so no pointer into a list is kept. */
    const char **items = xmalloc((count + 1) * sizeof *items);
    cli_own((void *)items);
    for (int i = 0; i < l->n; i++)
        items[i] = l->items[i];
    l->items = items;
    for (char *tok = copy, *next; tok; tok = next) {
        next = strchr(tok, ',');
        if (next) *next++ = '\0';
        if (!*tok) cli_usage_error("cannot parse '--%s %s': empty item", o->name, s);
        items[l->n++] = tok;
    }
}

static int cli_threads_value = 0;

static void cli_set_threads(const char *s)
{
    const char *p = s;
    long n;
    if (cli_uint(&p, 1, 4096, &n) || *p)
        cli_usage_error("cannot parse '--threads %s': expected an integer in 1..4096", s);
    cli_threads_value = (int)n;
#ifdef _OPENMP
    omp_set_num_threads((int)n);
#endif
}

int cli_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- argv -------------------------------------------------------------------------------- */

static const struct cli_option *cli_find(const struct cli_option *opts, const char *name,
                                         size_t len)
{
    for (const struct cli_option *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static void cli_apply(const struct cli_option *o, const char *v)
{
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->value = 1; break;
    case CLI_STRING: *(const char **)o->value = v; break;
    case CLI_INT: cli_parse_int(o, v); break;
    case CLI_DOUBLE: cli_parse_double(o, v); break;
    case CLI_SIZE: cli_parse_size(o, v); break;
    case CLI_SHARD: cli_parse_shard(o, v); break;
    case CLI_LIST: cli_parse_list(o, v); break;
    }
}

void cli_keep_argv(int argc, char **argv)
{
    cli_argv = xcalloc((size_t)argc + 1, sizeof *cli_argv); /* lives until exit */
    memcpy(cli_argv, argv, (size_t)argc * sizeof *cli_argv);
    cli_argc = argc;
}

int cli_parse(const struct cli_option *opts, int argc, char **argv)
{
    cli_opts = opts;
    if (!cli_argv) cli_argc = argc, cli_argv = argv;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) return i + 1;
        if (strncmp(a, "--", 2) != 0 || !a[2]) {
            if (a[0] == '-' && a[1]) cli_usage_error("cannot parse '%s': options are --long", a);
            return i;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 4 && strncmp(name, "help", 4) == 0) cli_help();
        if (len == 7 && strncmp(name, "version", 7) == 0) {
            printf("%s (salbench) %s\n", cli_name, SALBENCH_VERSION);
            exit(cli_exit(CLI_EXIT_OK));
        }
        const struct cli_option *o = cli_find(opts, name, len);
        int is_threads = !o && len == 7 && strncmp(name, "threads", 7) == 0;
        if (!o && !is_threads) cli_usage_error("cannot parse '%s': unknown option", a);
        const char *v = eq ? eq + 1 : NULL;
        if (o && o->kind == CLI_FLAG) {
            if (v) cli_usage_error("cannot parse '%s': --%s takes no value", a, o->name);
        } else if (!v) {
            if (i + 1 >= argc) cli_usage_error("cannot parse '%s': missing value", a);
            v = argv[++i];
        }
        if (is_threads)
            cli_set_threads(v);
        else
            cli_apply(o, v);
    }
    return i;
}

/* ---- params JSON ------------------------------------------------------------------------- */

struct cli_buf {
    char *s;
    size_t n, cap;
};

static void cli_put(struct cli_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cli_put(struct cli_buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) cli_die("cannot format parameters: %s", strerror(errno));
        if ((size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * b->cap + (size_t)k + 1;
        b->s = xrealloc(b->s, b->cap);
    }
}

static void cli_put_string(struct cli_buf *b, const char *s)
{
    if (!s) {
        cli_put(b, "null");
        return;
    }
    cli_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') cli_put(b, "\\%c", *p);
        else if (*p < 0x20) cli_put(b, "\\u%04x", *p);
        else cli_put(b, "%c", *p);
    }
    cli_put(b, "\"");
}

static void cli_put_value(struct cli_buf *b, const struct cli_option *o)
{
    const struct cli_size *sz = o->value;
    const struct cli_shard *sh = o->value;
    const struct cli_list *l = o->value;
    switch (o->kind) {
    case CLI_FLAG: cli_put(b, "%s", *(int *)o->value ? "true" : "false"); break;
    case CLI_STRING: cli_put_string(b, *(const char **)o->value); break;
    case CLI_INT: cli_put(b, "%lld", *(long long *)o->value); break;
    case CLI_DOUBLE: cli_put(b, "%.17g", *(double *)o->value); break;
    case CLI_SIZE:
        if (sz->h) cli_put(b, "\"%dx%d\"", sz->h, sz->w);
        else cli_put(b, "null");
        break;
    case CLI_SHARD: cli_put(b, "\"%u/%u\"", sh->k, sh->n > 1 ? sh->n : 1); break;
    case CLI_LIST:
        cli_put(b, "[");
        for (int i = 0; i < l->n; i++) {
            if (i) cli_put(b, ",");
            cli_put_string(b, l->items[i]);
        }
        cli_put(b, "]");
        break;
    }
}

char *cli_params_json(void)
{
    struct cli_buf b = {xmalloc(256), 0, 256};
    b.s[0] = '\0';
    cli_put(&b, "{");
    int first = 1;
    for (const struct cli_option *o = cli_opts; o && o->name; o++) {
        if (o->flags & CLI_NOT_PARAM) continue;
        cli_put(&b, "%s", first ? "" : ",");
        first = 0;
        cli_put_string(&b, o->name);
        cli_put(&b, ":");
        cli_put_value(&b, o);
    }
    cli_put(&b, "}");
    return b.s;
}

/* ---- timing record ----------------------------------------------------------------------- */

/* Runs from exit(): builds the JSON and writes it with atomicfile; a failure cannot change the
 * exit status any more. (Out of memory here would call exit()
 * again through xrealloc; the buffer is a few hundred bytes.) */
static void cli_write_timing(void)
{
    if (!cli_time_path) return;
    struct rusage self, kids;
    memset(&self, 0, sizeof self);
    memset(&kids, 0, sizeof kids);
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    double cpu = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
                          kids.ru_stime.tv_sec) +
                 1e-6 * (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
                                 kids.ru_utime.tv_usec + kids.ru_stime.tv_usec);
    struct cli_buf b = {malloc(512), 0, 512};
    if (!b.s) goto done;
    b.s[0] = '\0';
    cli_put(&b, "{\"stage\": ");
    cli_put_string(&b, cli_name);
    cli_put(&b, ", \"exit_code\": %d, \"wall_seconds\": %.6f, \"cpu_seconds\": %.6f, "
            "\"max_rss_kb\": %ld, \"argv\": [", cli_exit_code, cli_now() - cli_t0, cpu,
            (long)self.ru_maxrss);
    for (int i = 0; i < cli_argc; i++) {
        if (i) cli_put(&b, ", ");
        cli_put_string(&b, cli_argv[i]);
    }
    cli_put(&b, "]}\n");
    /* Silent when the stage failed: its one error line is already out, and the cause (a
     * read-only or full directory) is usually the same. */
    if (atomicfile_write_all(cli_time_path, b.s, b.n) && cli_exit_code == 0)
        fprintf(stderr, "%s: %s\n", cli_name, err_msg());
done:
    free(b.s);
    free(cli_time_path);
    cli_time_path = NULL;
}

void cli_set_output(const char *out)
{
    if (!out || !*out) return;
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    if (!cli_time_path) atexit(cli_write_timing);
    free(cli_time_path);
    cli_time_path = xmalloc(n + sizeof ".time.json");
    memcpy(cli_time_path, out, n);
    memcpy(cli_time_path + n, ".time.json", sizeof ".time.json");
}

/* ---- shards ------------------------------------------------------------------------------ */

/* First row whose shard is >= k. */
static size_t cli_shard_lower(const uint64_t *ids, size_t n, uint32_t k, uint32_t nshards)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cli_shard_of(ids[mid], nshards) < k) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

void cli_shard_range(const struct cli_shard *s, const uint64_t *ids, size_t n, size_t *begin,
                     size_t *end)
{
    if (!s || s->n <= 1) {
        *begin = 0;
        *end = n;
        return;
    }
    *begin = cli_shard_lower(ids, n, s->k, s->n);
    *end = s->k + 1 >= s->n ? n : cli_shard_lower(ids, n, s->k + 1, s->n);
}

/* ---- progress ---------------------------------------------------------------------------- */

static double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_progress_start(struct cli_progress *p, const char *what, uint64_t total)
{
    const char *force = getenv("SALBENCH_PROGRESS");
    p->what = what;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = cli_now();
    p->active = force && *force ? strcmp(force, "0") != 0 : isatty(2);
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->active) return;
    double now = cli_now();
    if (now - p->last < 0.2 && done < p->total) return;
    p->last = now;
    double rate = now > p->t0 ? (double)done / (now - p->t0) : 0;
    fprintf(stderr, "\r%s: %s %llu/%llu", cli_name, p->what, (unsigned long long)done,
            (unsigned long long)p->total);
    if (p->total)
        fprintf(stderr, " (%d%%)", (int)(100.0 * (double)done / (double)p->total));
    fprintf(stderr, " %.0f/s", rate);
    if (rate > 0 && p->total > done)
        fprintf(stderr, " ETA %.0fs", (double)(p->total - done) / rate);
    fprintf(stderr, "\033[K");
}

void cli_progress_finish(struct cli_progress *p)
{
    if (!p->active) return;
    double dt = cli_now() - p->t0;
    fprintf(stderr, "\r%s: %s %llu/%llu in %.1fs (%.0f/s)\033[K\n", cli_name, p->what,
            (unsigned long long)p->done, (unsigned long long)p->total, dt,
            dt > 0 ? (double)p->done / dt : 0.0);
    p->active = 0;
}
