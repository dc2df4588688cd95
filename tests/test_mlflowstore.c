/* Unit tests of formats/mlflowstore: text rules (Python float repr, keys, URIs, json.dump
 * indent=2), the writer (store, experiments, runs, params/tags/metrics/artifacts, commit, swap,
 * failure injection) and the reader, including meta.yaml as PyYAML writes it.
 * With "--write-fixture DIR [--rewrite]" it instead writes the demo store tests/mlflow.sh
 * checks with independent checkers (an experiment, a parent run and two chain runs). */
#include "formats/atomicfile.h"
#include "formats/mlflowstore.h"
#include "formats/pngio.h"
#include "pipeline/err.h"
#include "tests/check.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void spew(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

static int count_dirs(const char *path, const char *skip)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        char p[4096];
        struct stat st;
        if (de->d_name[0] == '.' || (skip && !strcmp(de->d_name, skip))) continue;
        snprintf(p, sizeof p, "%s/%s", path, de->d_name);
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) n++;
    }
    closedir(d);
    return n;
}

/* ---- text rules --------------------------------------------------------------------------- */

static void test_float(void)
{
    /* Expected strings: Python 3 repr(float(x)). */
    static const struct { double v; const char *s; } cases[] = {
        {0.0, "0.0"}, {-0.0, "-0.0"}, {0.5, "0.5"}, {1e-5, "1e-05"}, {100, "100.0"},
        {1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {0.1, "0.1"}, {0.0001, "0.0001"},
        {1.5e-7, "1.5e-07"}, {3.141592653589793, "3.141592653589793"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {2.0000000000000004, "2.0000000000000004"},
        {-1e-4, "-0.0001"}, {9999999999999998.0, "9999999999999998.0"},
        {123456789012345678.0, "1.2345678901234568e+17"}};
    int bad = 0;
    char buf[MLFLOWSTORE_FLOAT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlflowstore_format_float(buf, cases[i].v);
        if (strcmp(buf, cases[i].s)) {
            if (!bad) printf("float %.17g: got %s want %s\n", cases[i].v, buf, cases[i].s);
            bad++;
        }
    }
    CHECK(bad == 0, "mlflowstore_float_repr", "%d cases differ from Python repr", bad);
    char a[32], b[32], c[32];
    mlflowstore_format_float(a, NAN);
    mlflowstore_format_float(b, INFINITY);
    mlflowstore_format_float(c, -INFINITY);
    CHECK(!strcmp(a, "nan") && !strcmp(b, "inf") && !strcmp(c, "-inf"), "mlflowstore_float_nonfinite",
          "%s %s %s", a, b, c);
}

static void test_keys(void)
{
    static const char *const good[] = {"accuracy", "pointing_game/gradcam", "system/load/wall_seconds",
                                       "a.b-c d", "deletion_auc/rise.ci_low"};
    static const char *const bad[] = {"", "/a", "a/", "a//b", "./a", "a/./b", "a/../b", "..", ".",
                                      "a:b", "é", "a\nb", "a\"b"};
    int ok = 1;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) ok &= mlflowstore_key_valid(good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) ok &= !mlflowstore_key_valid(bad[i]);
    char big[300];
    memset(big, 'k', 251);
    big[251] = '\0';
    ok &= !mlflowstore_key_valid(big);
    big[250] = '\0';
    ok &= mlflowstore_key_valid(big);
    CHECK(ok, "mlflowstore_key_valid", "a key was misjudged");

    static const struct { const char *in, *out; } san[] = {
        {"pointing_game/grad-cam", "pointing_game/grad-cam"}, {"a:b", "a_b"}, {"//a//b/", "a/b"},
        {"./x/../y", "_/x/__/y"}, {"", "_"}, {"/", "_"}, {"Guided BP (x)", "Guided BP _x_"},
        {"é", "__"}};
    int sok = 1;
    char out[MLFLOWSTORE_KEY_MAX + 1];
    for (size_t i = 0; i < sizeof san / sizeof *san; i++) {
        mlflowstore_key_sanitise(out, sizeof out, san[i].in);
        if (strcmp(out, san[i].out) || !mlflowstore_key_valid(out)) {
            printf("sanitise '%s' -> '%s' (want '%s')\n", san[i].in, out, san[i].out);
            sok = 0;
        }
    }
    memset(big, '/', 299);
    big[0] = 'a';
    big[299] = '\0';
    for (int i = 1; i < 299; i += 2) big[i] = 'b';
    mlflowstore_key_sanitise(out, sizeof out, big);
    sok &= mlflowstore_key_valid(out) && strlen(out) <= 250;
    /* the 250-byte cut must not leave "." or ".." as the last segment (found by fuzz_mlflow) */
    for (int k = 247; k <= 248; k++) {
        memset(big, 'k', (size_t)k);
        snprintf(big + k, sizeof big - (size_t)k, "/..x");
        mlflowstore_key_sanitise(out, sizeof out, big);
        const char *tail = strrchr(out, '/');
        sok &= mlflowstore_key_valid(out) && strlen(out) == 250 && tail &&
               !strcmp(tail, k == 247 ? "/__" : "/_");
    }
    CHECK(sok, "mlflowstore_key_sanitise", "sanitised keys wrong");
}

static void test_uri(void)
{
    char *u = mlflowstore_path_uri("/tmp/my runs/é~x_y-z.w");
    CHECK(u && !strcmp(u, "file:///tmp/my%20runs/%C3%A9~x_y-z.w"), "mlflowstore_path_uri", "got %s",
          u ? u : "(null)");
    char *p = u ? mlflowstore_uri_path(u) : NULL;
    CHECK(p && !strcmp(p, "/tmp/my runs/é~x_y-z.w"), "mlflowstore_uri_path", "got %s", p ? p : "(null)");
    free(u);
    free(p);
    char *q = mlflowstore_uri_path("s3://bucket/x");
    CHECK(!q && strstr(err_msg(), "cannot"), "mlflowstore_uri_not_file", "accepted s3");
}

static void test_json(void)
{
    /* Expected: Python json.dumps(json.loads(text), indent=2). */
    static const struct { const char *in, *out; } cases[] = {
        {"[[1,2],[3,4]]", "[\n  [\n    1,\n    2\n  ],\n  [\n    3,\n    4\n  ]\n]"},
        {"{\"targets\": 3, \"predictions\": [0.25, 1e-5, 1.0], \"x\": {}, \"y\": []}",
         "{\n  \"targets\": 3,\n  \"predictions\": [\n    0.25,\n    1e-05,\n    1.0\n  ],\n"
         "  \"x\": {},\n  \"y\": []\n}"},
        {"0.75", "0.75"},
        {"{\"s\": \"\\u00e9\\/\\\"\\n\\ud83d\\ude00\\u007f\", \"n\": NaN, \"i\": -Infinity, "
         "\"z\": null, \"t\": true}",
         "{\n  \"s\": \"\\u00e9/\\\"\\n\\ud83d\\ude00\\u007f\",\n  \"n\": NaN,\n  \"i\": -Infinity,\n"
         "  \"z\": null,\n  \"t\": true\n}"},
        {"\"\xc3\xa9\"", "\"\\u00e9\""},
        {"1E400", "Infinity"}};
    int bad = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = NULL;
        if (mlflowstore_json_pretty(cases[i].in, &out) || strcmp(out, cases[i].out)) {
            if (!bad) printf("json case %zu: got <%s>\n", i, out ? out : err_msg());
            bad++;
        }
        free(out);
    }
    CHECK(bad == 0, "mlflowstore_json_pretty", "%d cases differ from json.dumps(indent=2)", bad);
    static const char *const invalid[] = {"", "[1,]", "{\"a\" 1}", "[1 2]", "\"\x01\"", "\"\xff\"",
                                          "01", "[", "{} x", "\"\\q\""};
    int rejected = 0;
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char *out = NULL;
        rejected += mlflowstore_json_pretty(invalid[i], &out) != 0;
        free(out);
    }
    CHECK(rejected == (int)(sizeof invalid / sizeof *invalid), "mlflowstore_json_invalid",
          "%d of %zu invalid texts rejected", rejected, sizeof invalid / sizeof *invalid);
}

/* ---- store -------------------------------------------------------------------------------- */

static const char *const WEIRD = "a: b # \"q\" 'single' \\ back\nline2\ttab \xc3\xa9 \xf0\x9f\x98\x80 {x}, [y] &z *w !t %p @a `b";

static void test_store(const char *tmp)
{
    char root[1024], path[8192];
    snprintf(root, sizeof root, "%s/store one/mlruns", tmp);
    struct mlflowstore s;
    int rc = mlflowstore_open(&s, root);
    CHECK(rc == 0, "mlflowstore_open", "%s", err_msg());
    snprintf(path, sizeof path, "%s/.trash", root);
    int trash = access(path, F_OK) == 0;
    snprintf(path, sizeof path, "%s/0/meta.yaml", root);
    char *meta0 = slurp(path);
    CHECK(trash && meta0 && strstr(meta0, "name: \"Default\"\n") &&
              strstr(meta0, "experiment_id: \"0\"\n") && strstr(meta0, "%20one/mlruns/0\"\n"),
          "mlflowstore_open_default", "meta: %s", meta0 ? meta0 : "(none)");
    free(meta0);

    char exp[MLFLOWSTORE_ID_MAX], exp2[MLFLOWSTORE_ID_MAX], exp3[MLFLOWSTORE_ID_MAX];
    const char *name = "eval: \"x\" \xc3\xa9";
    rc = mlflowstore_experiment(&s, name, exp) || mlflowstore_experiment(&s, name, exp2) ||
         mlflowstore_experiment(&s, "other", exp3);
    CHECK(rc == 0 && !strcmp(exp, exp2) && strcmp(exp, exp3) && strlen(exp) == 18,
          "mlflowstore_experiment_once", "%s %s %s %s", exp, exp2, exp3, err_msg());
    snprintf(path, sizeof path, "%s/%s/meta.yaml", root, exp);
    char *meta = slurp(path);
    CHECK(meta && strstr(meta, "name: \"eval: \\\"x\\\" \\u00E9\"\n"), "mlflowstore_experiment_quoted",
          "%s", meta ? meta : "(none)");
    free(meta);
    CHECK(mlflowstore_experiment(&s, "bad\nname", exp2) == -1, "mlflowstore_experiment_bad_name", "accepted");
    CHECK(mlflowstore_experiment_tag(&s, exp, "mlflow.note.content", "# about\nthis") == 0,
          "mlflowstore_experiment_tag", "%s", err_msg());

    /* a run with everything */
    struct mlflowstore_run_writer w;
    rc = mlflowstore_run_begin(&w, &s, exp, NULL, "benign", 1700000000000);
    CHECK(rc == 0 && strlen(w.run_id) == 32 && w.run_id[12] == '4', "mlflowstore_run_begin", "%s",
          err_msg());
    char run_id[MLFLOWSTORE_ID_MAX];
    snprintf(run_id, sizeof run_id, "%s", w.run_id);
    char longv[12000];
    size_t o = 0;
    for (int i = 0; i < 3500; i++) { longv[o++] = '\xc3'; longv[o++] = '\xa9'; } /* 3500 cp */
    memset(longv + o, 'x', 3000);
    longv[o + 3000] = '\0'; /* 6500 code points */
    rc = mlflowstore_run_param(&w, "weird", WEIRD) || mlflowstore_run_param(&w, "long", longv) ||
         mlflowstore_run_param(&w, "weird", WEIRD) ||
         mlflowstore_run_params_json(&w, "score", "{\"tolerance\": 15, \"deletion\": {\"steps\": 10,"
                                     " \"substrate\": \"blur\"}, \"methods\": [\"a\",\"b\"], \"x:y\": null}") ||
         mlflowstore_run_tag(&w, "mlflow.parentRunId", "0123") ||
         mlflowstore_run_tag(&w, "salbench.chain", "benign") ||
         mlflowstore_run_tag(&w, "salbench.chain", "benign2");
    CHECK(rc == 0, "mlflowstore_run_params_tags", "%s", err_msg());
    CHECK(mlflowstore_run_param(&w, "weird", "other") == -1 && strstr(err_msg(), "already logged"),
          "mlflowstore_param_write_once", "%s", err_msg());
    CHECK(mlflowstore_run_param(&w, "bad:key", "v") == -1 && mlflowstore_run_tag(&w, "a/../b", "v") == -1 &&
              mlflowstore_run_param(&w, "k", "\xff") == -1,
          "mlflowstore_reject_bad", "accepted a bad key or value");
    double curve[4] = {1.0, 0.5, NAN, 0.125};
    rc = mlflowstore_run_metric(&w, "accuracy", 0.75, 1700000000500, 0) ||
         mlflowstore_run_metric(&w, "pointing_game/gradcam", NAN, 1700000000500, 0) ||
         mlflowstore_run_metric(&w, "x/pos", INFINITY, 1700000000500, 0) ||
         mlflowstore_run_metric(&w, "x/neg", -INFINITY, 1700000000500, 0) ||
         mlflowstore_run_metric_curve(&w, "deletion_curve/gradcam", curve, NULL, 4, 1700000000600) ||
         mlflowstore_run_metric(&w, "hist", 1.0, 5, 2) || mlflowstore_run_metric(&w, "hist", 3.0, 9, 1) ||
         mlflowstore_run_metric(&w, "hist", 2.0, 4, 2);
    CHECK(rc == 0, "mlflowstore_run_metrics", "%s", err_msg());
    CHECK(mlflowstore_run_metric(&w, "accuracy/sub", 1, 1, 0) == -1 &&
              mlflowstore_run_metric(&w, "x", 1, 1, 0) == -1,
          "mlflowstore_key_file_dir_conflict", "a/b vs a accepted");
    char srcdir[2048];
    snprintf(srcdir, sizeof srcdir, "%s/src/00000/00", tmp);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && printf 'PNG' > '%s/input.png' && printf '{}' > "
             "'%s/metadata.txt'", srcdir, srcdir, srcdir);
    rc = system(cmd);
    snprintf(srcdir, sizeof srcdir, "%s/src", tmp);
    rc = rc || mlflowstore_run_artifact_tree(&w, "exports", srcdir) ||
         mlflowstore_run_artifact_json(&w, "metrics/confusion_matrix.txt", "[[5,1],[0,4]]") ||
         mlflowstore_run_artifact_data(&w, "report.html", "<html></html>", 13);
    CHECK(rc == 0, "mlflowstore_run_artifacts", "%s", err_msg());
    CHECK(mlflowstore_run_artifact_data(&w, "../x", "", 0) == -1 &&
              mlflowstore_run_artifact_data(&w, "/abs", "", 0) == -1,
          "mlflowstore_artifact_path_rules", "escaping path accepted");
    snprintf(path, sizeof path, "%s/%s/%s", root, exp, run_id);
    CHECK(access(path, F_OK) != 0, "mlflowstore_run_invisible_before_commit", "run visible early");
    rc = mlflowstore_run_commit(&w, MLFLOWSTORE_FINISHED, 1700000001000);
    CHECK(rc == 0 && access(path, F_OK) == 0, "mlflowstore_run_commit", "%s", err_msg());

    /* on-disk bytes */
    snprintf(path, sizeof path, "%s/%s/%s/meta.yaml", root, exp, run_id);
    char *rm = slurp(path);
    char want[512];
    snprintf(want, sizeof want, "run_id: \"%s\"\nrun_name: \"benign\"\nrun_uuid: \"%s\"\n", run_id, run_id);
    CHECK(rm && strstr(rm, want) && strstr(rm, "status: 3\n") && strstr(rm, "end_time: 1700000001000\n") &&
              strstr(rm, "start_time: 1700000000000\n") && strstr(rm, "tags: []\n") &&
              strstr(rm, "source_type: 4\n") && strstr(rm, "lifecycle_stage: \"active\"\n"),
          "mlflowstore_run_meta_bytes", "%s", rm ? rm : "(none)");
    free(rm);
    snprintf(path, sizeof path, "%s/%s/%s/metrics/deletion_curve/gradcam", root, exp, run_id);
    char *mc = slurp(path);
    CHECK(mc && !strcmp(mc, "1700000000600 1.0 0\n1700000000600 0.5 1\n1700000000600 nan 2\n"
                            "1700000000600 0.125 3\n"), "mlflowstore_metric_lines", "%s", mc ? mc : "");
    free(mc);
    snprintf(path, sizeof path, "%s/%s/%s/params/weird", root, exp, run_id);
    char *pw = slurp(path);
    CHECK(pw && !strcmp(pw, WEIRD), "mlflowstore_param_verbatim", "differs");
    free(pw);

    /* read back */
    struct mlflowstore_run r;
    rc = mlflowstore_read_run(root, exp, run_id, &r);
    CHECK(rc == 0, "mlflowstore_read_run", "%s", err_msg());
    if (rc == 0) {
        const char *lv = mlflowstore_run_get_param(&r, "long");
        size_t lvl = lv ? strlen(lv) : 0;
        CHECK(lv && lvl == 7000 + 2500 && lv[lvl - 1] == 'x', "mlflowstore_param_cut_6000",
              "length %zu bytes", lvl);
        CHECK(mlflowstore_run_get_param(&r, "score.deletion.steps") &&
                  !strcmp(mlflowstore_run_get_param(&r, "score.deletion.steps"), "10") &&
                  !strcmp(mlflowstore_run_get_param(&r, "score.deletion.substrate"), "blur") &&
                  !strcmp(mlflowstore_run_get_param(&r, "score.methods"), "[\"a\",\"b\"]") &&
                  !strcmp(mlflowstore_run_get_param(&r, "score.x_y"), "null"),
              "mlflowstore_params_json_flat", "flattened params wrong");
        CHECK(!strcmp(mlflowstore_run_get_tag(&r, "salbench.chain"), "benign2") &&
                  !strcmp(mlflowstore_run_get_tag(&r, "mlflow.runName"), "benign") &&
                  !strcmp(mlflowstore_run_get_tag(&r, "mlflow.source.type"), "LOCAL") &&
                  r.status == MLFLOWSTORE_FINISHED && r.end_time == 1700000001000 &&
                  !strcmp(r.run_name, "benign"),
              "mlflowstore_read_tags_meta", "tags/meta wrong");
        const struct mlflowstore_metric *pg = mlflowstore_run_get_metric(&r, "pointing_game/gradcam");
        const struct mlflowstore_metric *h = mlflowstore_run_get_metric(&r, "hist");
        const struct mlflowstore_metric *ng = mlflowstore_run_get_metric(&r, "x/neg");
        CHECK(pg && isnan(pg->latest.value) && ng && isinf(ng->latest.value) && ng->latest.value < 0 &&
                  h && h->n == 3 && h->latest.value == 1.0 && h->latest.step == 2,
              "mlflowstore_read_metrics_latest", "latest values wrong");
        struct mlflowstore_artifact *a;
        size_t na;
        rc = mlflowstore_list_artifacts(&r, NULL, &a, &na);
        CHECK(rc == 0 && na == 4 && !strcmp(a[0].path, "exports/00000/00/input.png") &&
                  !strcmp(a[3].path, "report.html") && a[3].size == 13,
              "mlflowstore_list_artifacts", "n=%zu", na);
        mlflowstore_artifacts_free(a, na);
        rc = mlflowstore_list_artifacts(&r, "exports/00000", &a, &na);
        CHECK(rc == 0 && na == 2, "mlflowstore_list_artifacts_prefix", "n=%zu", na);
        mlflowstore_artifacts_free(a, na);
        char *data;
        size_t nd;
        rc = mlflowstore_read_artifact(&r, "metrics/confusion_matrix.txt", &data, &nd);
        CHECK(rc == 0 && !strcmp(data, "[\n  [\n    5,\n    1\n  ],\n  [\n    0,\n    4\n  ]\n]"),
              "mlflowstore_read_artifact", "%s", rc ? err_msg() : data);
        free(data);
        mlflowstore_run_release(&r);
    }

    /* find, rewrite in place (no duplicate), failure injection, delete */
    const char *kv[] = {"salbench.chain", "benign2"};
    char found[MLFLOWSTORE_ID_MAX];
    CHECK(mlflowstore_find_run(root, exp, kv, 1, 0, found) == 1 && !strcmp(found, run_id) &&
              mlflowstore_find_run(root, exp, kv, 1, 1, found) == 0,
          "mlflowstore_find_run", "find failed");
    rc = mlflowstore_run_begin(&w, &s, exp, run_id, "benign", 1700000002000) ||
         mlflowstore_run_metric(&w, "accuracy", 0.5, 1700000002000, 0) ||
         mlflowstore_run_commit(&w, MLFLOWSTORE_FAILED, 1700000003000);
    snprintf(path, sizeof path, "%s/%s", root, exp);
    CHECK(rc == 0 && count_dirs(path, "tags") == 1, "mlflowstore_rewrite_no_duplicate", "%s runs=%d",
          err_msg(), count_dirs(path, "tags"));
    rc = mlflowstore_read_run(root, exp, run_id, &r);
    CHECK(rc == 0 && r.status == MLFLOWSTORE_FAILED && r.nparams == 0 &&
              mlflowstore_run_get_metric(&r, "accuracy")->latest.value == 0.5,
          "mlflowstore_rewrite_replaces", "old content survived");
    mlflowstore_run_release(&r);

    rc = mlflowstore_run_begin(&w, &s, exp, NULL, "doomed", 1);
    atomicfile_inject_failure(1);
    int crc = rc ? 0 : mlflowstore_run_commit(&w, MLFLOWSTORE_FINISHED, 2);
    atomicfile_inject_failure(0);
    CHECK(rc == 0 && crc == -1 && count_dirs(path, "tags") == 1, "mlflowstore_commit_failure_nothing",
          "rc=%d crc=%d runs=%d", rc, crc, count_dirs(path, "tags"));
    CHECK(mlflowstore_delete_run(&s, exp, run_id) == 0 && count_dirs(path, "tags") == 0,
          "mlflowstore_delete_run", "%s", err_msg());
    char staging[8192];
    snprintf(staging, sizeof staging, "%s", s.staging ? s.staging : "");
    mlflowstore_release(&s);
    CHECK(staging[0] && access(staging, F_OK) != 0, "mlflowstore_staging_removed", "%s left", staging);
}

/* meta.yaml as MLflow (PyYAML) writes it: plain and single-quoted scalars, folded lines. */
static void test_read_pyyaml(const char *tmp)
{
    char root[1024], p[8192];
    snprintf(root, sizeof root, "%s/py/mlruns", tmp);
    snprintf(p, sizeof p, "mkdir -p '%s/.trash' '%s/7/abc123/metrics' '%s/7/abc123/tags' '%s/7/tags' "
             "'%s/8'", root, root, root, root, root);
    int rc = system(p);
    snprintf(p, sizeof p, "%s/7/meta.yaml", root);
    spew(p, "artifact_location: file:///x/7\ncreation_time: 1\nexperiment_id: '7'\n"
            "last_update_time: 1\nlifecycle_stage: active\nname: a long name that\n  wraps here\n");
    snprintf(p, sizeof p, "%s/8/meta.yaml", root); /* id mismatch: skipped */
    spew(p, "experiment_id: '9'\nname: x\nlifecycle_stage: active\n");
    snprintf(p, sizeof p, "%s/7/abc123/meta.yaml", root);
    spew(p, "artifact_uri: file:///nonexistent/7/abc123/artifacts\nend_time: null\n"
            "entry_point_name: ''\nexperiment_id: '7'\nlifecycle_stage: active\nrun_id: abc123\n"
            "run_name: 'it''s ok'\nrun_uuid: abc123\nsource_name: ''\nsource_type: 4\n"
            "source_version: ''\nstart_time: 1795312189763\nstatus: 1\ntags: []\n"
            "user_id: \"r\\xE9\\n\\\n  x\"\n");
    snprintf(p, sizeof p, "%s/7/abc123/metrics/m", root);
    spew(p, "10 0.5\n11 Infinity 3 ds digest\n12 -nan 4\n");
    struct mlflowstore_experiment_info *e;
    size_t n;
    rc = rc || mlflowstore_list_experiments(root, &e, &n);
    CHECK(rc == 0 && n == 1 && !strcmp(e[0].name, "a long name that wraps here"),
          "mlflowstore_read_pyyaml_experiment", "n=%zu name=%s", n, n ? e[0].name : "");
    if (!rc) mlflowstore_experiments_free(e, n);
    struct mlflowstore_run r;
    rc = mlflowstore_read_run(root, "7", "abc123", &r);
    CHECK(rc == 0 && !strcmp(r.run_name, "it's ok") && !strcmp(r.user_id, "r\xc3\xa9\nx") &&
              r.end_time == -1 && r.status == 1,
          "mlflowstore_read_pyyaml_run", "%s", rc ? err_msg() : r.user_id);
    const struct mlflowstore_metric *m = rc ? NULL : mlflowstore_run_get_metric(&r, "m");
    CHECK(m && m->n == 3 && m->points[0].step == 0 && isinf(m->points[1].value) &&
              m->latest.step == 4 && isnan(m->latest.value),
          "mlflowstore_read_metric_forms", "metric lines misread");
    if (!rc) mlflowstore_run_release(&r);
    spew(p, "10 0.5\n\n11 1 1\n");
    rc = mlflowstore_read_run(root, "7", "abc123", &r);
    CHECK(rc == -1 && strstr(err_msg(), "malformed"), "mlflowstore_read_metric_malformed", "%s", err_msg());
    spew(p, "");
    rc = mlflowstore_read_run(root, "7", "abc123", &r);
    CHECK(rc == -1 && strstr(err_msg(), "no data"), "mlflowstore_read_metric_empty", "%s", err_msg());
}

/* ---- fixture for tests/mlflow.sh ---------------------------------------------------------- */

static int fixture_chain(struct mlflowstore *s, const char *exp, const char *parent, const char *chain,
                         int rewrite, int64_t t0)
{
    const char *kv[] = {"salbench.pipeline_run_id", "demo-0001", "salbench.chain", chain};
    char id[MLFLOWSTORE_ID_MAX];
    int found = mlflowstore_find_run(s->root, exp, kv, 2, 0, id);
    if (found < 0) return -1;
    int pgd = !strcmp(chain, "pgd");
    struct mlflowstore_run_writer w;
    if (mlflowstore_run_begin(&w, s, exp, found ? id : NULL, chain, t0)) return -1;
    double del[11];
    for (int i = 0; i <= 10; i++) del[i] = 1.0 - 0.1 * i * (pgd ? 0.5 : 1.0);
    uint8_t px[8 * 8 * 3];
    for (int i = 0; i < 8 * 8 * 3; i++) px[i] = (uint8_t)(i * 5);
    uint8_t *png = NULL;
    size_t npng = 0;
    char meta[512];
    snprintf(meta, sizeof meta, "{\"targets\": 3, \"predictions\": [0.1, 0.7, 0.05, 0.15], "
             "\"example_id\": \"00ff00ff00ff00ff\", \"class_names\": [\"a\", \"b\", \"c\", \"d\"], "
             "\"scores\": {\"gradcam\": {\"pointing_game\": %s}}}", pgd ? "NaN" : "1.0");
    int rc = mlflowstore_run_tag(&w, "mlflow.parentRunId", parent) ||
             mlflowstore_run_tag(&w, "salbench.pipeline_run_id", "demo-0001") ||
             mlflowstore_run_tag(&w, "salbench.chain", chain) ||
             mlflowstore_run_tag(&w, "salbench.version", "0.1.0") ||
             mlflowstore_run_params_json(&w, "load", "{\"size\": \"28x28\", \"limit\": 100}") ||
             mlflowstore_run_params_json(&w, "score", "{\"pointing_game\": {\"tolerance\": 15}, "
                                         "\"metrics\": \"pointing_game,deletion\"}") ||
             (pgd && mlflowstore_run_params_json(&w, "attack", "{\"eps\": 0.03, \"steps\": 10, "
                                                 "\"norm\": \"linf\"}")) ||
             mlflowstore_run_metric(&w, "accuracy", rewrite ? 0.875 : 0.8, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "pointing_game/gradcam", pgd ? NAN : 0.6, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "pointing_game/gradcam.ci_low", 0.5, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "deletion_auc/rise", pgd ? INFINITY : 0.25, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "insertion_auc/rise", pgd ? -INFINITY : 0.75, t0 + 10, 0) ||
             mlflowstore_run_metric_curve(&w, "deletion_curve/gradcam", del, NULL, 11, t0 + 10) ||
             mlflowstore_run_metric(&w, "system/score/wall_seconds", 1.5, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "system/score/cpu_seconds", 2.75, t0 + 10, 0) ||
             mlflowstore_run_metric(&w, "system/score/peak_memory_megabytes", 120.5, t0 + 10, 0) ||
             pngio_encode(&png, &npng, px, 8, 8, 3) ||
             mlflowstore_run_artifact_data(&w, "exports/00000/00/input.png", png, npng) ||
             mlflowstore_run_artifact_data(&w, "exports/00000/00/saliency_gradcam.png", png, npng) ||
             mlflowstore_run_artifact_json(&w, "exports/00000/00/metadata.txt", meta) ||
             mlflowstore_run_artifact_data(&w, "exports/00001/03/input.png", png, npng) ||
             mlflowstore_run_artifact_json(&w, "exports/00001/03/metadata.txt", meta) ||
             mlflowstore_run_artifact_json(&w, "metrics/confusion_matrix.txt", "[[8, 2], [1, 9]]") ||
             mlflowstore_run_artifact_json(&w, "metrics/accuracy.txt", rewrite ? "0.875" : "0.8") ||
             mlflowstore_run_artifact_data(&w, "report.html", "<!doctype html><title>r</title>", 31);
    free(png);
    if (rc) {
        mlflowstore_run_abort(&w);
        return -1;
    }
    int status = pgd && !rewrite ? MLFLOWSTORE_FAILED : MLFLOWSTORE_FINISHED;
    return mlflowstore_run_commit(&w, status, t0 + 20);
}

static int write_fixture(const char *root, int rewrite)
{
    struct mlflowstore s;
    char exp[MLFLOWSTORE_ID_MAX], parent[MLFLOWSTORE_ID_MAX];
    const char *kv[] = {"salbench.pipeline_run_id", "demo-0001"};
    int64_t t0 = rewrite ? 1795312200000 : 1795312189000;
    struct mlflowstore_run_writer w;
    int rc = mlflowstore_open(&s, root) ||
             mlflowstore_experiment(&s, "salbench demo: \"fashion\" \xc3\xa9 #1", exp);
    int found = rc ? -1 : mlflowstore_find_run(s.root, exp, kv, 1, 1, parent);
    rc = rc || found < 0 || mlflowstore_run_begin(&w, &s, exp, found ? parent : NULL, "demo-00010001", t0);
    if (rc) goto done;
    snprintf(parent, sizeof parent, "%s", w.run_id);
    rc = mlflowstore_run_tag(&w, "mlflow.note.content", "# Demo\nSaliency on *Fashion-MNIST*: \"quotes\"") ||
         mlflowstore_run_tag(&w, "salbench.pipeline_run_id", "demo-0001") ||
         mlflowstore_run_param(&w, "evaluation.name", "salbench demo") ||
         mlflowstore_run_param(&w, "evaluation.methods", "gradcam,rise") ||
         mlflowstore_run_param(&w, "evaluation.weird", WEIRD) ||
         mlflowstore_run_param(&w, "salbench.version", "0.1.0") ||
         mlflowstore_run_metric(&w, "system/total/wall_seconds", rewrite ? 4.5 : 3.0, t0 + 30, 0);
    if (rc) {
        mlflowstore_run_abort(&w);
        goto done;
    }
    rc = mlflowstore_run_commit(&w, rewrite ? MLFLOWSTORE_FINISHED : MLFLOWSTORE_FAILED, t0 + 40) ||
         fixture_chain(&s, exp, parent, "benign", rewrite, t0 + 1) ||
         fixture_chain(&s, exp, parent, "pgd", rewrite, t0 + 2);
done:
    if (rc) fprintf(stderr, "test_mlflowstore: %s\n", err_msg());
    else printf("%s %s\n", exp, parent);
    mlflowstore_release(&s);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--write-fixture"))
        return write_fixture(argv[2], argc >= 4 && !strcmp(argv[3], "--rewrite"));
    char tmp[] = "/tmp/test_mlflowstore.XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_float();
    test_keys();
    test_uri();
    test_json();
    test_store(tmp);
    test_read_pyyaml(tmp);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", tmp);
    return check_summary();
}
