/* Saliency module: the registry (names, defaults, parsing, JSON, auto layers and sizes),
 * hand-checked cases (guided backprop passes x == 0, Grad-CAM of an all-negative map is all
 * zero, IG completeness, RISE with p = 1 is the score everywhere, occlusion of a model that
 * ignores its input is zero, center and random maps), input errors, and determinism: the
 * same maps bitwise at batch 5 and 64, at 1 and 2 threads, and when a trial is computed
 * alone or with others. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/saliency_internal.h"
#include "tests/check.h"
#include "tests/saliency_testnet.h"

#define HW 256

/* ---- registry ------------------------------------------------------------------------ */

static void test_registry(struct net *net)
{
    int ok = 1;
    for (int m = 0; m < SALIENCY_METHOD_COUNT; m++) {
        const char *name = saliency_method_name((enum saliency_method)m);
        ok &= saliency_method_from_name(name) == m;
        struct saliency_params p;
        saliency_params_init(&p, (enum saliency_method)m);
        ok &= saliency_params_resolve(&p, net) == 0;
        char json[2048];
        size_t n = saliency_params_json(&p, json, sizeof json);
        ok &= n < sizeof json && strncmp(json, "{\"method\": \"", 12) == 0 && json[n - 1] == '}';
    }
    CHECK(ok, "saliency_registry_names_defaults", "%s", err_msg());
    CHECK(saliency_method_from_name("lime") == -1, "saliency_registry_unknown", "");

    struct saliency_params p;
    saliency_params_init(&p, SALIENCY_RISE);
    CHECK(saliency_param_set(&p, "p", "1.5") < 0 && strstr(err_msg(), "not in [0, 1]"),
          "saliency_param_range", "%s", err_msg());
    CHECK(saliency_param_set(&p, "window", "8") < 0 && strstr(err_msg(), "no such parameter"),
          "saliency_param_unknown", "%s", err_msg());
    CHECK(saliency_param_set(&p, "normalize", "np") == 0 && p.normalize == SALIENCY_RISE_NP,
          "saliency_param_choice", "%s", err_msg());
    CHECK(saliency_param_set(&p, "masks", "12.5") < 0, "saliency_param_integer", "");
    char json[1024];
    saliency_params_json(&p, json, sizeof json);
    CHECK(strcmp(json, "{\"method\": \"rise\", \"masks\": 8000, \"cells\": 7, \"p\": 0.5, "
                       "\"normalize\": \"np\", \"score\": \"output\", \"seed\": 0}") == 0,
          "saliency_params_json", "%s", json);

    saliency_params_init(&p, SALIENCY_GRADCAM);
    saliency_params_resolve(&p, net);
    CHECK(strcmp(p.layer, "relu4") == 0, "saliency_auto_gradcam_layer", "%s", p.layer);
    saliency_params_init(&p, SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP);
    saliency_params_resolve(&p, net);
    CHECK(strcmp(p.layer, "pool2") == 0 && strcmp(p.contrast_layer, "flat") == 0,
          "saliency_auto_eb_layers", "%s %s", p.layer, p.contrast_layer);
    saliency_params_init(&p, SALIENCY_EXCITATION_BACKPROP);
    saliency_param_set(&p, "layer", "conv9");
    CHECK(saliency_params_resolve(&p, net) < 0 && strstr(err_msg(), "no layer 'conv9'"),
          "saliency_unknown_layer", "%s", err_msg());
    saliency_params_init(&p, SALIENCY_OCCLUSION);
    saliency_params_resolve(&p, net);
    CHECK(p.window == 2 && p.stride == 1, "saliency_auto_occlusion", "%d %d", p.window,
          p.stride);
    saliency_params_init(&p, SALIENCY_EXTREMAL_PERTURBATION);
    saliency_params_resolve(&p, net);
    CHECK(p.step == 1 && fabs(p.sigma - 1.5) < 1e-12 && fabs(p.max_blur - 20 * 16 / 224.0) < 1e-12
              && p.n_areas == 4 && p.iterations == 800,
          "saliency_auto_ep", "%d %g %g", p.step, p.sigma, p.max_blur);
    double a[64], w[64], s = 0;
    saliency_quadrature(a, w, 50, SALIENCY_QUAD_GAUSSLEGENDRE);
    for (int i = 0; i < 50; i++)
        s += w[i];
    CHECK(fabs(s - 1) < 1e-13 && a[0] > 0 && a[49] < 1 && a[0] < a[1] &&
              fabs(a[0] - 0.0005667977899644905) < 1e-15,
          "saliency_gauss_legendre", "sum %.17g a0 %.17g", s, a[0]);
}

/* sal_vexp within 3 ulp of expf over its range. */
static void test_expf(void)
{
    double worst = 0;
    for (int i = -870000; i <= 880000; i += 8 * 7) {
        sal_vf x, e;
        for (int l = 0; l < SAL_VL; l++)
            x[l] = (i + 7 * l) * 1e-4f;
        e = sal_vexp(x);
        for (int l = 0; l < SAL_VL; l++) {
            double b = expf(x[l]), rel = fabs((double)e[l] - b) / b;
            worst = rel > worst ? rel : worst;
        }
    }
    CHECK(worst < 3 * 5.97e-8, "saliency_expf_accuracy", "worst relative error %.3g", worst);
}

/* ---- tiny nets for hand cases -------------------------------------------------------- */

/* input [1, 1, W] -> conv 1x1 (w, b) -> relu -> gap -> flatten -> linear (v, 0). */
static struct net *tiny(int H, int W, float w, float b, float v, int max_batch)
{
    struct net_layer_spec s[6];
    net_layer_spec_init(&s[0], NET_INPUT, "input");
    s[0].channels = 1, s[0].height = H, s[0].width = W;
    net_layer_spec_init(&s[1], NET_CONV2D, "conv");
    s[1].out_channels = 1, s[1].kernel[0] = s[1].kernel[1] = 1;
    net_layer_spec_init(&s[2], NET_RELU, "relu");
    net_layer_spec_init(&s[3], NET_GLOBAL_AVGPOOL, "gap");
    net_layer_spec_init(&s[4], NET_FLATTEN, "flat");
    net_layer_spec_init(&s[5], NET_LINEAR, "fc");
    s[5].out_channels = 1;
    struct net *net;
    if (net_build(&net, s, 6, max_batch, 0) < 0) return NULL;
    net_param_find(net, "conv.weight")->value.data[0] = w;
    net_param_find(net, "conv.bias")->value.data[0] = b;
    net_param_find(net, "fc.weight")->value.data[0] = v;
    net_param_find(net, "fc.bias")->value.data[0] = 0;
    return net;
}

static void test_guided_zero(void)
{
    struct net *net = tiny(1, 2, 1, 0, 1, 4);
    float x[2] = {0, 1}, g[2], gb[2], dc[2];
    uint64_t id = 1;
    int ex = 0, cls = 0;
    struct saliency_input in = {1, x, &id, 1, &ex, &cls, NULL};
    int rc = stn_run(net, SALIENCY_GRADIENT, "", &in, g, 1, NULL) |
             stn_run(net, SALIENCY_GUIDED_BACKPROP, "", &in, gb, 1, NULL) |
             stn_run(net, SALIENCY_DECONVNET, "", &in, dc, 1, NULL);
    /* relu input is exactly 0 at pixel 0: PyTorch's gradient stops there, TorchRay's guided
     * rule (x >= 0) and deconvnet pass 1/2 (the pool's share). */
    CHECK(rc == 0 && g[0] == 0 && g[1] == 0.5f && gb[0] == 0.5f && gb[1] == 0.5f &&
              dc[0] == 0.5f,
          "saliency_guided_passes_zero", "%s g %g %g gb %g %g dc %g", err_msg(), g[0], g[1],
          gb[0], gb[1], dc[0]);
    net_free(net);
}

static void test_gradcam_negative(void)
{
    struct net *net = tiny(4, 4, 1, 1, -1, 4);
    float x[16], m[16], m2[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i / 16;
    uint64_t id = 2;
    int ex = 0, cls = 0;
    struct saliency_input in = {1, x, &id, 1, &ex, &cls, NULL};
    int rc = stn_run(net, SALIENCY_GRADCAM, "layer=relu", &in, m, 1, NULL);
    int zero = 1;
    for (int i = 0; i < 16; i++)
        zero &= m[i] == 0;
    CHECK(rc == 0 && zero, "saliency_gradcam_all_negative_is_zero", "%s %g", err_msg(), m[0]);
    rc = stn_run(net, SALIENCY_GRADCAM, "layer=relu;relu=false", &in, m2, 1, NULL);
    /* w = -1/16, map = -(x + 1) / 16 */
    CHECK(rc == 0 && fabsf(m2[5] + (x[5] + 1) / 16) < 1e-7f, "saliency_gradcam_no_relu",
          "%g", m2[5]);
    net_free(net);
}

static void test_occlusion_blind(void)
{
    struct net *net = tiny(4, 4, 0, 0.3f, 2, 8);
    float x[16], m[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 5) - 2;
    uint64_t id = 3;
    int ex = 0, cls = 0;
    struct saliency_input in = {1, x, &id, 1, &ex, &cls, NULL};
    int rc = stn_run(net, SALIENCY_OCCLUSION, "window=2;stride=1", &in, m, 1, NULL);
    int zero = 1;
    for (int i = 0; i < 16; i++)
        zero &= m[i] == 0;
    CHECK(rc == 0 && zero, "saliency_occlusion_blind_model_is_zero", "%s", err_msg());
    net_free(net);
}

/* A map that overflows is an error naming the example and class, not a NaN in the file. */
static void test_not_finite(void)
{
    struct net *net = tiny(1, 2, 3e38f, 0, 3e38f, 4);
    float x[2] = {10, 10}, m[2];
    uint64_t id = 0xabc;
    int ex = 0, cls = 0;
    struct saliency_input in = {1, x, &id, 1, &ex, &cls, NULL};
    int rc = stn_run(net, SALIENCY_RISE, "masks=4;score=logit", &in, m, 1, NULL);
    CHECK(rc < 0 && strstr(err_msg(), "cannot compute 'rise' map of example 0000000000000abc "
                                      "class 0: not finite"),
          "saliency_not_finite_is_an_error", "rc %d: %s", rc, err_msg());
    net_free(net);
}

/* ---- cases on the fixture net --------------------------------------------------------- */

struct fx {
    struct h5table_file *f;
    float *x, *black;
    uint64_t *ids;
    int32_t *ex, *cls;
    int t;
};

static int fx_open(struct fx *F)
{
    memset(F, 0, sizeof *F);
    uint64_t dims[H5TABLE_MAX_RANK];
    F->f = h5table_open(STN_FIXTURE);
    if (!F->f || stn_read_f32(F->f, "x", &F->x, 0) < 0 ||
        stn_read_f32(F->f, "black", &F->black, 3) < 0 ||
        h5table_read_array(F->f, "ids", H5TABLE_U64, 1, dims, (void **)&F->ids) < 0 ||
        h5table_read_array(F->f, "trial_example", H5TABLE_I32, 1, dims, (void **)&F->ex) < 0 ||
        h5table_read_array(F->f, "trial_class", H5TABLE_I32, 1, dims, (void **)&F->cls) < 0)
        return -1;
    F->t = (int)dims[0];
    return 0;
}

static void fx_close(struct fx *F)
{
    free(F->x);
    free(F->black);
    free(F->ids);
    free(F->ex);
    free(F->cls);
    h5table_close(F->f);
}

/* logit of class c of example e, and of the zero image. */
static void logits_of(struct net *net, const float *img, int c, float *out)
{
    net_forward(net, img, 1, NET_EVAL, NULL);
    *out = net_act(net, net_logits_layer(net)).data[c];
}

/* IG completeness: sum of attributions = f(x) - f(baseline) up to the quadrature error. On a
 * ReLU net the integrand has kinks, so the error falls as ~1/steps (16: 1.8e-2, 64: 6.8e-3,
 * 1024: 3.9e-4 relative on the fixture); checked at 1024 steps and for the trend. */
static double ig_error(struct net *net, const struct fx *F, int steps)
{
    struct saliency_input in = {3, F->x, F->ids, F->t, F->ex, F->cls, F->black};
    float *m = calloc((size_t)F->t * HW, sizeof *m);
    char params[64];
    snprintf(params, sizeof params, "steps=%d", steps);
    double worst = stn_run(net, SALIENCY_INTEGRATED_GRADIENTS, params, &in, m, 2, NULL) ? 1e9 : 0;
    float zero[3 * HW] = {0};
    for (int t = 0; t < F->t && worst == 0; t++) {
        double sum = 0;
        for (int i = 0; i < HW; i++)
            sum += m[(size_t)t * HW + i];
        float fx, f0;
        logits_of(net, F->x + (size_t)F->ex[t] * 3 * HW, F->cls[t], &fx);
        logits_of(net, zero, F->cls[t], &f0);
        double err = fabs(sum - (fx - f0)) / fmax(1e-3, fabs(fx - f0));
        worst = err > worst ? err : worst;
    }
    free(m);
    return worst;
}

static void test_ig_completeness(struct net *net, const struct fx *F)
{
    double e16 = ig_error(net, F, 16), e64 = ig_error(net, F, 64), e1024 = ig_error(net, F, 1024);
    CHECK(e1024 < 1e-3 && e64 < e16 && e1024 < e64, "saliency_ig_completeness",
          "%s relative errors 16: %.3g 64: %.3g 1024: %.3g", err_msg(), e16, e64, e1024);
}

static void test_rise_p1(struct net *net, const struct fx *F)
{
    struct saliency_input in = {3, F->x, F->ids, F->t, F->ex, F->cls, F->black};
    float *m = calloc((size_t)F->t * HW, sizeof *m);
    int rc = stn_run(net, SALIENCY_RISE, "masks=20;p=1", &in, m, 2, NULL);
    double worst = 0;
    for (int t = 0; t < F->t && rc == 0; t++) {
        net_forward(net, F->x + (size_t)F->ex[t] * 3 * HW, 1, NET_EVAL, NULL);
        float score = net_act(net, net_output_layer(net)).data[F->cls[t]];
        for (int i = 0; i < HW; i++)
            worst = fmax(worst, fabs(m[(size_t)t * HW + i] - score));
    }
    CHECK(rc == 0 && worst < 2e-6, "saliency_rise_p1_is_the_score", "%s diff %.3g", err_msg(),
          worst);
    free(m);
}

static void test_baselines(struct net *net, const struct fx *F)
{
    struct saliency_input in = {3, F->x, F->ids, F->t, F->ex, F->cls, F->black};
    float *m = calloc((size_t)F->t * HW, sizeof *m), *r = calloc((size_t)F->t * HW, sizeof *r);
    int rc = stn_run(net, SALIENCY_CENTER, "", &in, m, 1, NULL);
    int ok = rc == 0;
    for (int i = 0; i < HW; i++) /* centre pixels (7..8, 7..8) hold the maximum */
        ok &= m[i] <= m[7 * 16 + 7] && m[i] == m[(15 - i / 16) * 16 + (15 - i % 16)];
    ok &= m[7 * 16 + 7] == m[8 * 16 + 8] && m[4 * HW + 3] == m[3];
    CHECK(ok, "saliency_center_map", "%s", err_msg());
    rc = stn_run(net, SALIENCY_RANDOM, "seed=5", &in, r, 1, NULL);
    int inrange = rc == 0, differ = memcmp(r, r + HW, sizeof(float) * HW) != 0;
    for (int i = 0; i < F->t * HW; i++)
        inrange &= r[i] >= 0 && r[i] < 1;
    CHECK(inrange && differ, "saliency_random_map", "%s", err_msg());
    free(m);
    free(r);
}

static void test_bad_inputs(struct net *net, const struct fx *F)
{
    int cls[5] = {0, 1, 7, 2, 3}, ex[5] = {0, 1, 0, 2, 2};
    float m[5 * HW];
    struct saliency_input in = {3, F->x, F->ids, 5, F->ex, cls, NULL};
    int rc = stn_run(net, SALIENCY_GRADIENT, "", &in, m, 1, NULL);
    CHECK(rc < 0 && strstr(err_msg(), "class 7 is out of range"), "saliency_bad_class", "%s",
          err_msg());
    struct saliency_input in2 = {3, F->x, F->ids, 5, ex, F->cls, NULL};
    rc = stn_run(net, SALIENCY_GRADIENT, "", &in2, m, 1, NULL);
    CHECK(rc < 0 && strstr(err_msg(), "example order"), "saliency_bad_order", "%s", err_msg());
    struct saliency_input in3 = {3, F->x, F->ids, F->t, F->ex, F->cls, NULL};
    rc = stn_run(net, SALIENCY_OCCLUSION, "baseline=black", &in3, m, 1, NULL);
    CHECK(rc < 0 && strstr(err_msg(), "black"), "saliency_black_needs_norm", "%s", err_msg());
}

/* ---- determinism ---------------------------------------------------------------------- */

static const struct {
    enum saliency_method m;
    const char *params;
} det_cases[] = {
    {SALIENCY_GRADIENT, ""},
    {SALIENCY_GUIDED_GRADCAM, ""},
    {SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP, "layer=pool1"},
    {SALIENCY_INTEGRATED_GRADIENTS, "steps=9"},
    {SALIENCY_VARGRAD, "samples=7;seed=3"},
    {SALIENCY_OCCLUSION, "window=3;stride=2"},
    {SALIENCY_RISE, "masks=37;seed=4"},
    {SALIENCY_EXTREMAL_PERTURBATION, "iterations=5;areas=0.1,0.3"},
};

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void test_determinism(struct h5table_file *f, const struct fx *F)
{
    struct net *small = stn_build(f, 5), *big = stn_build(f, 64);
    size_t n = (size_t)F->t * HW;
    float *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b), *c = calloc(n, sizeof *c);
    float *d = calloc(HW, sizeof *d);
    struct saliency_input in = {3, F->x, F->ids, F->t, F->ex, F->cls, F->black};
    for (size_t k = 0; k < sizeof det_cases / sizeof det_cases[0]; k++) {
        enum saliency_method m = det_cases[k].m;
        char name[128];
        set_threads(2);
        int rc = stn_run(big, m, det_cases[k].params, &in, a, 2, NULL);
        set_threads(1);
        rc |= stn_run(small, m, det_cases[k].params, &in, b, 1, NULL);
        set_threads(2);
        rc |= stn_run(small, m, det_cases[k].params, &in, c, 2, NULL);
        /* trial 3 alone (example 2, class 4) */
        int ex0 = 0, cls3 = F->cls[3];
        struct saliency_input one = {1, F->x + (size_t)F->ex[3] * 3 * HW, F->ids + F->ex[3], 1,
                                     &ex0, &cls3, F->black};
        rc |= stn_run(big, m, det_cases[k].params, &one, d, 2, NULL);
        snprintf(name, sizeof name, "saliency_bitwise_%s", saliency_method_name(m));
        CHECK(rc == 0 && !memcmp(a, b, n * sizeof *a) && !memcmp(a, c, n * sizeof *a) &&
                  !memcmp(a + 3 * HW, d, HW * sizeof *a),
              name, "%s (batch 64/2 threads vs batch 5/1 thread, batch 5/2 threads, alone)",
              err_msg());
    }
    set_threads(2);
    free(a);
    free(b);
    free(c);
    free(d);
    net_free(small);
    net_free(big);
}

int main(void)
{
    struct fx F;
    if (!CHECK(fx_open(&F) == 0, "saliency_fixture_open", "%s", err_msg()))
        return check_summary();
    struct net *net = stn_build(F.f, 16);
    if (CHECK(net != NULL, "saliency_fixture_net", "%s", err_msg())) {
        test_registry(net);
        test_ig_completeness(net, &F);
        test_rise_p1(net, &F);
        test_baselines(net, &F);
        test_bad_inputs(net, &F);
    }
    test_expf();
    test_guided_zero();
    test_gradcam_negative();
    test_occlusion_blind();
    test_not_finite();
    test_determinism(F.f, &F);
    net_free(net);
    fx_close(&F);
    return check_summary();
}
