/* Fuzz target: the MLflow writer's escaping of names and values (formats/mlflowstore). Input:
 * byte 0 selects the mode, the rest is split at NUL bytes into text A, text B and text C.
 * Mode even: the pure helpers: key_sanitise(A) must give a valid key (and leave a valid key
 * alone), format_float of 8 input bytes must read back to the same double, path_uri/uri_path
 * must round-trip "/A", json_pretty(B) must be idempotent JSON. Mode odd: a real run in a
 * scratch store: run name C, param and tag named after A with value B, a metric, B flattened
 * as params JSON; after commit, mlflowstore_read_run must give every value back (params cut at
 * MLflow's 6000 code points), then the run is deleted. Every failure is one "cannot" line. */
#include "tests/fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "formats/mlflowstore.h"

static void fmlf_split(const uint8_t *data, size_t size, char **a, char **b, char **c)
{
    char *all = fuzz_strndup(data, size);
    char *p = all, *end = all + size;
    char **out[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        const char *part = p <= end ? p : "";
        *out[i] = strdup(part);
        if (!*out[i]) abort();
        if (p <= end) p += strlen(p) + 1;
    }
    free(all);
}

static void fmlf_helpers(const uint8_t *data, size_t size, const char *a, const char *b)
{
    char key[MLFLOWSTORE_KEY_MAX + 1], again[MLFLOWSTORE_KEY_MAX + 1];
    mlflowstore_key_sanitise(key, sizeof key, a);
    FUZZ_CHECK(mlflowstore_key_valid(key));
    mlflowstore_key_sanitise(again, sizeof again, key);
    FUZZ_CHECK(strcmp(again, key) == 0);
    if (mlflowstore_key_valid(a)) {
        mlflowstore_key_sanitise(again, sizeof again, a);
        FUZZ_CHECK(strcmp(again, a) == 0);
    }
    double v = 0;
    memcpy(&v, data, size < 8 ? size : 8);
    char f[MLFLOWSTORE_FLOAT_MAX];
    mlflowstore_format_float(f, v);
    double back = strtod(f, NULL);
    FUZZ_CHECK(isnan(v) ? strcmp(f, "nan") == 0
                        : back == v && signbit(back) == signbit(v) &&
                              (strpbrk(f, ".en") != NULL)); /* repr never prints "1" */
    size_t n = strlen(a);
    char *path = malloc(n + 2);
    if (!path) abort();
    path[0] = '/';
    memcpy(path + 1, a, n + 1);
    char *uri = mlflowstore_path_uri(path), *p2 = uri ? mlflowstore_uri_path(uri) : NULL;
    FUZZ_CHECK(uri && strncmp(uri, "file:///", 8) == 0 && p2 && strcmp(p2, path) == 0);
    for (const char *q = uri; q && *q; q++) FUZZ_CHECK((unsigned char)*q > 32 && *q < 127);
    free(p2);
    free(uri);
    free(path);
    char *pretty = NULL, *twice = NULL;
    if (mlflowstore_json_pretty(b, &pretty) == 0) {
        /* cJSON refuses what json_pretty keeps, as Python's json does: NaN/Infinity and lone
         * UTF-16 surrogates ("\udabe"); so only input cJSON reads must come out readable */
        cJSON *in = cJSON_Parse(b), *j = cJSON_Parse(pretty);
        FUZZ_CHECK(j != NULL || in == NULL || strstr(pretty, "NaN") || strstr(pretty, "Infinity"));
        cJSON_Delete(j);
        cJSON_Delete(in);
        for (const char *q = pretty; *q; q++) FUZZ_CHECK((unsigned char)*q < 128);
        FUZZ_CHECK(mlflowstore_json_pretty(pretty, &twice) == 0 && strcmp(twice, pretty) == 0);
    } else {
        FUZZ_CHECK(pretty == NULL && fuzz_msg_ok("cannot "));
    }
    free(pretty);
    free(twice);
}

static struct mlflowstore fmlf_store;
static char fmlf_exp[MLFLOWSTORE_ID_MAX];

static void fmlf_release(void)
{
    mlflowstore_release(&fmlf_store);
}

static int fmlf_open(void)
{
    static int state; /* 0 not tried, 1 open, -1 failed */
    char root[600];
    if (state) return state > 0;
    state = -1;
    if (mlflowstore_open(&fmlf_store, fuzz_path(root, sizeof root, "mlruns")) ||
        mlflowstore_experiment(&fmlf_store, "fuzz", fmlf_exp))
        return 0;
    atexit(fmlf_release);
    return (state = 1) > 0;
}

/* Byte length of the first max code points of valid UTF-8 s (s itself when shorter). */
static size_t fmlf_cut(const char *s, long max)
{
    size_t i = 0;
    for (long cp = 0; s[i] && cp < max; cp++) {
        i++;
        while (((unsigned char)s[i] & 0xC0) == 0x80) i++; /* continuation bytes */
    }
    return i;
}

static void fmlf_check_run(const char *run_id, const char *key, const char *a, const char *b,
                           const char *name, double metric, int param_ok, int tag_ok)
{
    struct mlflowstore_run r;
    memset(&r, 0, sizeof r);
    if (mlflowstore_read_run(fmlf_store.root, fmlf_exp, run_id, &r)) {
        FUZZ_CHECK(!"a committed run does not read back");
        return;
    }
    FUZZ_CHECK(r.run_name && strcmp(r.run_name, name) == 0);
    FUZZ_CHECK(r.status == MLFLOWSTORE_FINISHED);
    const char *pv = mlflowstore_run_get_param(&r, key);
    size_t cut = fmlf_cut(b, MLFLOWSTORE_PARAM_VALUE_MAX);
    if (param_ok) FUZZ_CHECK(pv && strlen(pv) == cut && memcmp(pv, b, cut) == 0);
    const char *tv = mlflowstore_run_get_tag(&r, a);
    cut = fmlf_cut(b, MLFLOWSTORE_TAG_VALUE_MAX);
    if (tag_ok) FUZZ_CHECK(tv && strlen(tv) == cut && memcmp(tv, b, cut) == 0);
    const struct mlflowstore_metric *m = mlflowstore_run_get_metric(&r, key);
    FUZZ_CHECK(m && m->n == 1 &&
               (isnan(metric) ? isnan(m->points[0].value) : m->points[0].value == metric));
    mlflowstore_run_release(&r);
}

static void fmlf_writer(const uint8_t *data, size_t size, const char *a, const char *b,
                        const char *c)
{
    if (!fmlf_open()) {
        FUZZ_CHECK(!"cannot open the scratch store");
        return;
    }
    struct mlflowstore_run_writer w;
    char key[MLFLOWSTORE_KEY_MAX + 1], run_id[MLFLOWSTORE_ID_MAX];
    if (mlflowstore_run_begin(&w, &fmlf_store, fmlf_exp, NULL, c, 1000)) {
        FUZZ_CHECK(fuzz_msg_ok("cannot "));
        return;
    }
    snprintf(run_id, sizeof run_id, "%s", w.run_id);
    mlflowstore_key_sanitise(key, sizeof key, a);
    double metric = 0;
    memcpy(&metric, data, size < 8 ? size : 8);
    int param_ok = mlflowstore_run_param(&w, key, b) == 0;
    if (!param_ok) FUZZ_CHECK(fuzz_msg_ok("cannot "));
    int tag_ok = mlflowstore_run_tag(&w, a, b) == 0;
    if (!tag_ok) FUZZ_CHECK(fuzz_msg_ok("cannot "));
    FUZZ_CHECK(mlflowstore_run_metric(&w, key, metric, 2000, 0) == 0);
    if (mlflowstore_run_params_json(&w, "p", b)) FUZZ_CHECK(fuzz_msg_ok("cannot "));
    if (mlflowstore_run_commit(&w, MLFLOWSTORE_FINISHED, 3000)) {
        FUZZ_CHECK(!"commit failed");
        return;
    }
    fmlf_check_run(run_id, key, a, b, c, metric, param_ok, tag_ok);
    FUZZ_CHECK(mlflowstore_delete_run(&fmlf_store, fmlf_exp, run_id) == 0);
}

int fuzz_mlflow(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *a, *b, *c;
    fmlf_split(data + 1, size - 1, &a, &b, &c);
    if (data[0] & 1) fmlf_writer(data + 1, size - 1, a, b, c);
    else fmlf_helpers(data + 1, size - 1, a, b);
    free(a);
    free(b);
    free(c);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_mlflow(data, size);
}
#endif
