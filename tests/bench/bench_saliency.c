/* Saliency benchmark (make bench; not a test): milliseconds per trial of every attribution
 * method on the default model over the first N examples of an examples.h5, medians of several
 * repeats, one machine-readable line per method:
 *   RESULT engine=c method=rise trials=16 ms_per_trial=... best_ms_per_trial=... forward=...
 * after one untimed warm-up call. tests/bench/saliency_torch.py prints the same lines for the
 * PyTorch reference and tests/bench/saliency_run.sh joins them into a table with the ratio.
 *
 *   bench_saliency --examples FILE [--model FILE | --arch JSON] [--methods a,b] [--repeats R]
 *                  [--batch B] [--set method.param=value ...]
 * Without a model file the architecture JSON is built with seeded PyTorch-default weights
 * (timings do not depend on the weights, except extremal perturbation's mildly). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/exampleset.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/preprocess.h"
#include "pipeline/saliency.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what)
{
    fprintf(stderr, "bench_saliency: %s: %s\n", what, err_msg());
    exit(1);
}

struct bench {
    struct model m;
    struct exampleset ex;
    float *x;
    uint64_t *ids;
    int n, t, *tex, *tcls;
    float black[MODEL_MAX_CHANNELS];
};

static void load_model(struct bench *b, const char *model, const char *arch, int batch)
{
    model_init(&b->m);
    if (model) {
        if (model_load(&b->m, model, batch, NET_NO_PARAM_GRAD) < 0) die(model);
        return;
    }
    struct net_layer_spec *specs;
    int n;
    if (model_arch_read(arch, &specs, &n) < 0 ||
        model_build(&b->m, specs, n, batch, NET_NO_PARAM_GRAD) < 0)
        die(arch);
    free(specs);
    init_net(b->m.net, 1, INIT_PYTORCH);
    for (int c = 0; c < b->m.channels; c++)
        b->m.mean[c] = 0.5, b->m.std[c] = 0.25;
}

static void load_examples(struct bench *b, const char *path, int limit)
{
    exampleset_init(&b->ex);
    if (exampleset_open(&b->ex, path) < 0) die(path);
    b->n = (int)b->ex.n < limit ? (int)b->ex.n : limit;
    size_t px = (size_t)b->ex.H * b->ex.W * b->ex.C;
    uint8_t *img = malloc((size_t)b->n * px);
    b->x = malloc((size_t)b->n * px * sizeof(float));
    if (exampleset_read_images(&b->ex, 0, (size_t)b->n, img) < 0) die(path);
    preprocess_forward(b->x, img, b->m.mean, b->m.std, b->n, b->m.height, b->m.width,
                       b->m.channels);
    free(img);
    int K = b->ex.K;
    b->ids = b->ex.ids;
    b->tex = malloc((size_t)b->n * K * sizeof(int));
    b->tcls = malloc((size_t)b->n * K * sizeof(int));
    for (int e = 0; e < b->n; e++)
        for (int k = 0; k < K; k++)
            if (b->ex.multi_hot[(size_t)e * K + k]) b->tex[b->t] = e, b->tcls[b->t++] = k;
    for (int c = 0; c < b->m.channels; c++)
        b->black[c] = (float)(-b->m.mean[c] / b->m.std[c]);
}

/* Applies "method.param=value" settings that name this method. */
static void apply_sets(struct saliency_params *p, char **sets, int nsets)
{
    const char *name = saliency_method_name(p->method);
    size_t len = strlen(name);
    for (int i = 0; i < nsets; i++) {
        char buf[256], *eq;
        snprintf(buf, sizeof buf, "%s", sets[i]);
        if (strncmp(buf, name, len) || buf[len] != '.' || !(eq = strchr(buf, '='))) continue;
        *eq = '\0';
        if (saliency_param_set(p, buf + len + 1, eq + 1) < 0) die(sets[i]);
    }
}

static void run_method(struct bench *b, enum saliency_method m, int repeats, char **sets,
                       int nsets)
{
    struct saliency_params p;
    saliency_params_init(&p, m);
    apply_sets(&p, sets, nsets);
    if (saliency_params_resolve(&p, b->m.net) < 0) die(saliency_method_name(m));
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    size_t nw;
    if (saliency_workspace_floats(b->m.net, &p, nt, &nw) < 0) die("workspace");
    float *work = aligned_alloc(64, (nw * sizeof(float) + 63) / 64 * 64);
    float *maps = malloc((size_t)b->t * b->m.height * b->m.width * sizeof(float));
    struct saliency_input in = {b->n, b->x, b->ids, b->t, b->tex, b->tcls, b->black};
    double *ms = malloc((size_t)repeats * sizeof *ms);
    struct saliency_cost cost = {0, 0};
    if (saliency_compute(maps, b->m.net, &p, &in, work, nt, NULL) < 0) die("compute"); /* warm */
    for (int r = 0; r < repeats; r++) {
        double t0 = now();
        struct saliency_cost c = {0, 0};
        if (saliency_compute(maps, b->m.net, &p, &in, work, nt, &c) < 0) die("compute");
        ms[r] = 1e3 * (now() - t0) / b->t;
        cost = c;
    }
    qsort(ms, (size_t)repeats, sizeof *ms, cmp_double);
    double med = repeats % 2 ? ms[repeats / 2] : 0.5 * (ms[repeats / 2 - 1] + ms[repeats / 2]);
    char json[1024];
    saliency_params_json(&p, json, sizeof json);
    printf("RESULT engine=c method=%s trials=%d ms_per_trial=%.4f best_ms_per_trial=%.4f "
           "forward=%llu backward=%llu\n", saliency_method_name(m), b->t, med, ms[0],
           (unsigned long long)cost.forward, (unsigned long long)cost.backward);
    printf("# c %s %s\n", saliency_method_name(m), json);
    fflush(stdout);
    free(ms), free(maps), free(work);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *arch = "data/models/fashion-scenes-cnn.json", *examples = NULL;
    const char *methods = NULL;
    int repeats = 3, batch = 64, limit = 8, nsets = 0;
    char *sets[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--arch")) arch = v;
        else if (!strcmp(a, "--examples")) examples = v;
        else if (!strcmp(a, "--methods")) methods = v;
        else if (!strcmp(a, "--repeats")) repeats = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--n")) limit = atoi(v);
        else if (!strcmp(a, "--set") && nsets < 64) sets[nsets++] = argv[i + 1];
        else {
            fprintf(stderr, "bench_saliency: cannot parse '%s': unknown option\n", a);
            return 2;
        }
        i++;
    }
    if (!examples || repeats < 1) {
        fprintf(stderr, "usage: bench_saliency --examples FILE [--model FILE | --arch JSON] "
                        "[--methods a,b] [--n N] [--repeats R] [--batch B] [--set m.p=v]\n");
        return 2;
    }
    struct bench b;
    memset(&b, 0, sizeof b);
    load_model(&b, model, arch, batch);
    load_examples(&b, examples, limit);
    for (int m = 0; m < SALIENCY_METHOD_COUNT; m++) {
        const char *name = saliency_method_name((enum saliency_method)m);
        if (methods) {
            const char *hit = strstr(methods, name);
            size_t len = strlen(name);
            while (hit && ((hit != methods && hit[-1] != ',') || (hit[len] && hit[len] != ',')))
                hit = strstr(hit + 1, name);
            if (!hit) continue;
        }
        run_method(&b, (enum saliency_method)m, repeats, sets, nsets);
    }
    free(b.x), free(b.tex), free(b.tcls);
    exampleset_release(&b.ex);
    model_release(&b.m);
    return 0;
}
