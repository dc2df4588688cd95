/* Every attribution method against the independent PyTorch implementations of
 * tests/ref/make_saliency_fixtures.py: same tiny net (conv, batch norm, max and avg pool,
 * residual add, global pool, linear, sigmoid), same trials, same Philox draws; each case's map
 * must match at |a - b| <= 1e-4 * max(1, |b|) (the tolerance). The net is built with a
 * batch of 6 so that IG, SmoothGrad, occlusion, RISE and extremal perturbation run several
 * batches per example. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tests/saliency_testnet.h"

/* |a - b| <= tol * max(1, |b|) everywhere; reports the worst element. */
static int compare(const char *name, const float *a, const float *b, size_t n, double tol)
{
    size_t worst = 0, bad = 0;
    double wr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), lim = tol * fmax(1.0, fabs((double)b[i]));
        if (!(d <= lim)) bad++;
        if (d / lim > wr || d != d) wr = d / lim, worst = i;
    }
    return CHECK(bad == 0, name, "%zu of %zu differ; worst [%zu] %.9g vs %.9g (%.3g x tol)", bad,
                 n, worst, (double)a[worst], (double)b[worst], wr);
}

static int run_case(struct h5table_file *f, struct net *net, const struct saliency_input *in,
                    const char *name)
{
    char path[256], tname[300], *method = NULL, *params = NULL;
    float *want = NULL, *got = NULL;
    int rc = -1;
    snprintf(path, sizeof path, "maps/%s", name);
    snprintf(tname, sizeof tname, "saliency_ref_%s", name);
    size_t n = (size_t)in->t * 16 * 16;
    if (h5table_attr_get_str(f, path, "method", &method) < 0 ||
        h5table_attr_get_str(f, path, "params", &params) < 0 ||
        stn_read_f32(f, path, &want, n) < 0)
        goto done;
    int m = saliency_method_from_name(method);
    if (m < 0) {
        err_set("unknown method '%s'", method);
        goto done;
    }
    got = calloc(n, sizeof *got);
    struct saliency_cost cost = {0, 0};
    if (stn_run(net, (enum saliency_method)m, params, in, got, 2, &cost) < 0) goto done;
    compare(tname, got, want, n, 1e-4);
    rc = 0;
done:
    if (rc < 0) CHECK(0, tname, "%s", err_msg());
    free(method);
    free(params);
    free(want);
    free(got);
    return rc;
}

int main(void)
{
    struct h5table_file *f = h5table_open(STN_FIXTURE);
    if (!CHECK(f != NULL, "saliency_ref_fixture_open", "%s", err_msg())) return check_summary();
    float *x = NULL, *black = NULL;
    uint64_t *ids = NULL, dims[H5TABLE_MAX_RANK];
    int32_t *ex = NULL, *cls = NULL;
    int ok = stn_read_f32(f, "x", &x, 0) == 0 && stn_read_f32(f, "black", &black, 3) == 0 &&
             h5table_read_array(f, "ids", H5TABLE_U64, 1, dims, (void **)&ids) == 0 &&
             h5table_read_array(f, "trial_example", H5TABLE_I32, 1, dims, (void **)&ex) == 0 &&
             h5table_read_array(f, "trial_class", H5TABLE_I32, 1, dims, (void **)&cls) == 0;
    struct net *net = ok ? stn_build(f, 6) : NULL;
    if (CHECK(net != NULL, "saliency_ref_fixture_net", "%s", err_msg())) {
        struct saliency_input in = {3, x, ids, (int)dims[0], ex, cls, black};
        char **names = NULL;
        size_t nn = 0;
        if (CHECK(h5table_list(f, "maps", &names, &nn) == 0 && nn >= 20,
                  "saliency_ref_fixture_cases", "%s", err_msg())) {
            for (size_t i = 0; i < nn; i++)
                run_case(f, net, &in, names[i]);
        }
        h5table_list_free(names, nn);
    }
    net_free(net);
    free(x);
    free(black);
    free(ids);
    free(ex);
    free(cls);
    h5table_close(f);
    return check_summary();
}
