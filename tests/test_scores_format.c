/* Tests of formats/scores: the per-trial table with run-time columns (mixed types, NaN kept)
 * written and read back by column name, the fixed tables round-tripping, and the JSON member
 * walk used to re-apply a method's recorded parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/h5table.h"
#include "formats/scores.h"
#include "pipeline/err.h"
#include "tests/check.h"

static void test_trials(const char *path)
{
    uint64_t ids[3] = {5, 5, 9};
    int32_t cls[3] = {1, 2, 0};
    int64_t area[3] = {10, -1, 7};
    uint8_t diff[3] = {1, 0, 0};
    double a[3] = {0.5, NAN, 1}, b[3] = {-2, 3, 4};
    struct scores_column cols[4] = {{"gt_area", H5TABLE_I64, area},
                                    {"difficult", H5TABLE_U8, diff},
                                    {"pointing_game", H5TABLE_F64, a},
                                    {"deletion", H5TABLE_F64, b}};
    struct h5table_file *f = h5table_create(path);
    int ok = f && scores_write_trials(f, "gradient", ids, cls, 3, cols, 4) == 0 &&
             h5table_commit(f) == 0;
    CHECK(ok, "scores_write_trials", "%s", err_msg());
    f = h5table_open(path);
    double *v = NULL;
    size_t n = 0;
    ok = f && scores_read_trial_column(f, "gradient", "pointing_game", &v, &n) == 0 && n == 3 &&
         v[0] == 0.5 && isnan(v[1]) && v[2] == 1;
    CHECK(ok, "scores_read_trial_column", "%s", err_msg());
    free(v);
    uint64_t *rid = NULL;
    size_t nid = 0;
    ok = h5table_read_ids(f, "trials/gradient", &rid, &nid) == 0 && nid == 3 && rid[2] == 9;
    CHECK(ok, "scores_trials_ids", "%s", err_msg());
    free(rid);
    ok = scores_read_trial_column(f, "gradient", "nope", &v, &n) == -1;
    CHECK(ok, "scores_read_missing_column_error", "");
    h5table_close(f);
}

static void test_tables(const char *path)
{
    struct scores_summary_row s[2] = {{"gradient", "pointing_game", 0.5, 0.1, 0.4, 0.6, 10, 2,
                                       0.95, 1000},
                                      {"rise", "deletion", NAN, NAN, NAN, NAN, 0, 3, 0.95, 1000}};
    struct scores_paired_row p[1] = {{"gradient", "rise", "deletion", -0.1, 0.2, -0.3, 0.1, 8, 2}};
    struct scores_metric_row m[1] = {{"gradient", "deletion", "faithfulness", -1, 225, 0}};
    struct h5table_file *f = h5table_create(path);
    int ok = f && scores_write_summary(f, s, 2) == 0 && scores_write_paired(f, p, 1) == 0 &&
             scores_write_metrics(f, m, 1) == 0 && h5table_commit(f) == 0;
    CHECK(ok, "scores_write_tables", "%s", err_msg());
    f = h5table_open(path);
    struct scores_summary_row *rs = NULL;
    struct scores_paired_row *rp = NULL;
    struct scores_metric_row *rm = NULL;
    size_t ns = 0, np = 0, nm = 0;
    ok = f && scores_read_summary(f, &rs, &ns) == 0 && ns == 2 &&
         strcmp(rs[1].metric, "deletion") == 0 && isnan(rs[1].mean) && rs[0].n_boot == 1000 &&
         scores_read_paired(f, &rp, &np) == 0 && np == 1 && rp[0].mean_diff == -0.1 &&
         scores_read_metrics(f, &rm, &nm) == 0 && nm == 1 && rm[0].higher_is_better == -1 &&
         rm[0].forward_per_trial == 225;
    CHECK(ok, "scores_read_tables", "%s", err_msg());
    free(rs), free(rp), free(rm);
    h5table_close(f);
}

struct walk {
    char buf[256];
};

static int walk_fn(void *user, const char *key, const char *value)
{
    struct walk *w = user;
    size_t n = strlen(w->buf);
    snprintf(w->buf + n, sizeof w->buf - n, "%s=%s;", key, value);
    return strcmp(key, "stop") == 0 ? -1 : 0;
}

static void test_json(void)
{
    struct walk w = {""};
    int ok = scores_json_each("{\"method\":\"rise\",\"masks\":8000,\"p\":0.5,\"areas\":[0.025,"
                              "0.1],\"jitter\":true}",
                              "t", walk_fn, &w) == 0 &&
             strcmp(w.buf, "method=rise;masks=8000;p=0.5;areas=0.025,0.1;jitter=true;") == 0;
    CHECK(ok, "scores_json_each", "%s", w.buf);
    w.buf[0] = '\0';
    ok = scores_json_each("{\"a\":1,\"stop\":2,\"b\":3}", "t", walk_fn, &w) == -1 &&
         strcmp(w.buf, "a=1;stop=2;") == 0;
    CHECK(ok, "scores_json_each_stops", "%s", w.buf);
    ok = scores_json_each("[1,2]", "attr", walk_fn, &w) == -1 &&
         strstr(err_msg(), "attr") != NULL;
    CHECK(ok, "scores_json_each_not_object", "%s", err_msg());
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_scores_%d.h5", (int)getpid());
    test_trials(path);
    test_tables(path);
    test_json();
    unlink(path);
    return check_summary();
}
