/* stages/common: option parsing (both spellings, ranges, errors exit 2 with a message), the
 * params JSON, and shard ranges (contiguous, covering, matching cli_shard_of). */
#include "stages/common.h"
#include "tests/check.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const c_usage[] = {"demo --out FILE [options]", "  --out FILE  output", NULL};

static const char *c_out;
static long long c_limit = 5;
static double c_tol = 0.5;
static int c_flag;
static struct cli_size c_size;
static struct cli_shard c_shard;
static struct cli_list c_methods;

static const struct cli_option c_opts[] = {
    CLI_OUTPUT("out", &c_out),
    CLI_RANGE("limit", CLI_INT, &c_limit, 1, 1000),
    CLI_RANGE("tol", CLI_DOUBLE, &c_tol, 0, 1),
    CLI_OPT("flag", CLI_FLAG, &c_flag),
    CLI_OPT("size", CLI_SIZE, &c_size),
    CLI_OPT("shard", CLI_SHARD, &c_shard),
    CLI_OPT("method", CLI_LIST, &c_methods),
    CLI_END,
};

/* Runs cli_parse on args in a child with stderr captured; returns the exit status (-1 when it
 * returned normally) and the first line of stderr in msg. */
static int c_run(const char *const *args, char *msg, size_t cap)
{
    int fds[2];
    if (pipe(fds)) return -2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        char *argv[16];
        int argc = 0;
        for (; args[argc]; argc++)
            argv[argc] = (char *)args[argc];
        argv[argc] = NULL;
        cli_parse(c_opts, argc, argv);
        _exit(100);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got + 1 < cap && (n = read(fds[0], msg + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    msg[got] = '\0';
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? (WEXITSTATUS(st) == 100 ? -1 : WEXITSTATUS(st)) : -3;
}

static void c_expect_usage(const char *name, const char *const *args, const char *want)
{
    char msg[1024];
    int st = c_run(args, msg, sizeof msg);
    CHECK(st == 2 && strstr(msg, want) && strstr(msg, "usage: demo --out FILE"), name,
          "status %d msg '%s'", st, msg);
}

int main(void)
{
    cli_init("demo", c_usage);
    char *argv[] = {"demo", "--out", "x.h5", "--limit=7", "--tol", "0.25", "--flag",
                    "--size", "32x48", "--shard=1/4", "--method", "a,b", "--method=c",
                    "--threads", "1", "pos", NULL};
    int first = cli_parse(c_opts, 16, argv);
    CHECK(first == 15 && strcmp(c_out, "x.h5") == 0 && c_limit == 7 && c_tol == 0.25 &&
              c_flag == 1 && c_size.h == 32 && c_size.w == 48 && c_shard.k == 1 &&
              c_shard.n == 4 && c_methods.n == 3 && strcmp(c_methods.items[2], "c") == 0 &&
              cli_threads() == 1,
          "common_parse_options", "first %d limit %lld size %dx%d methods %d", first, c_limit,
          c_size.h, c_size.w, c_methods.n);
    char *json = cli_params_json();
    const char *want = "{\"limit\":7,\"tol\":0.25,\"flag\":true,\"size\":\"32x48\","
                       "\"shard\":\"1/4\",\"method\":[\"a\",\"b\",\"c\"]}";
    CHECK(strcmp(json, want) == 0, "common_params_json", "got %s", json);
    free(json);

    c_expect_usage("common_unknown_option", (const char *const[]){"demo", "--nope", NULL},
                   "demo: cannot parse '--nope': unknown option");
    c_expect_usage("common_int_not_number",
                   (const char *const[]){"demo", "--limit", "12a", NULL},
                   "cannot parse '--limit 12a': not an integer");
    c_expect_usage("common_int_range", (const char *const[]){"demo", "--limit=0", NULL},
                   "cannot use '--limit 0': must be in 1..1000");
    c_expect_usage("common_double_range", (const char *const[]){"demo", "--tol", "2", NULL},
                   "must be in 0..1");
    c_expect_usage("common_missing_value", (const char *const[]){"demo", "--out", NULL},
                   "cannot parse '--out': missing value");
    c_expect_usage("common_bad_size", (const char *const[]){"demo", "--size", "0x4", NULL},
                   "expected HxW");
    c_expect_usage("common_bad_shard", (const char *const[]){"demo", "--shard", "4/4", NULL},
                   "K must be below N");
    c_expect_usage("common_flag_with_value", (const char *const[]){"demo", "--flag=1", NULL},
                   "takes no value");
    c_expect_usage("common_short_option", (const char *const[]){"demo", "-o", NULL},
                   "options are --long");
    c_expect_usage("common_bad_threads", (const char *const[]){"demo", "--threads", "0", NULL},
                   "--threads 0");
    char msg[1024];
    int st = c_run((const char *const[]){"demo", "--help", NULL}, msg, sizeof msg);
    CHECK(st == 0 && strstr(msg, "usage: demo --out FILE") && strstr(msg, "--threads N"),
          "common_help_exit_0", "status %d msg '%s'", st, msg);
    st = c_run((const char *const[]){"demo", "--version", NULL}, msg, sizeof msg);
    CHECK(st == 0 && strstr(msg, "demo (salbench) "), "common_version", "status %d", st);

    /* Shards: ranges of a sorted id list are contiguous, in order, and cover every row. */
    enum { N = 1000 };
    static uint64_t ids[N];
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = x;
    }
    for (int i = 1; i < N; i++) /* insertion sort */
        for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint64_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    int ok = 1;
    for (uint32_t n = 1; n <= 9 && ok; n++) {
        size_t prev_end = 0;
        for (uint32_t k = 0; k < n; k++) {
            struct cli_shard s = {k, n};
            size_t b, e;
            cli_shard_range(&s, ids, N, &b, &e);
            ok = ok && b == prev_end && b <= e;
            for (size_t i = b; i < e; i++)
                ok = ok && cli_shard_of(ids[i], n) == k;
            prev_end = e;
        }
        ok = ok && prev_end == N;
    }
    CHECK(ok, "common_shard_ranges_partition", "shard ranges do not partition the rows");
    CHECK(cli_shard_of(0, 8) == 0 && cli_shard_of(UINT64_MAX, 8) == 7 &&
              cli_shard_of(1ull << 63, 2) == 1 && cli_shard_of((1ull << 63) - 1, 2) == 0,
          "common_shard_of_bounds", "wrong shard at the bounds");
    return check_summary();
}
