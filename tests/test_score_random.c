/* Tests of pipeline/score_random: max/avg sensitivity and random logit against a naive twin
 * that re-runs the method trial by trial, the sanity check's layer order, its first cascading
 * step equal to the first independent one, parameters restored afterwards, a map that ignores
 * the model (center: similarity 1, sensitivity 0), NaN stored maps, and 1 vs 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/err.h"
#include "pipeline/perturb.h"
#include "pipeline/score_random.h"
#include "tests/check.h"
#include "tests/score_testnet.h"

#define NE 2
#define NT 3
#define HW (STN_H * STN_W)
#define CHW (STN_C * HW)

static float xs[NE * CHW], maps[NT * HW];
static const uint64_t ids[NE] = {77, 99};
static const int ex[NT] = {0, 0, 1}, cls[NT] = {0, 2, 1};
static const float black[STN_C] = {-1, -1, -1};

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static struct score_random_params rparams(void)
{
    struct score_random_params p;
    memset(&p, 0, sizeof p);
    p.sens_samples = 4, p.sens_radius = 0.02, p.init = INIT_PYTORCH, p.seed = 5;
    ssim_params_default(&p.ssim);
    p.ssim.radius = 2; /* 8 x 8 maps: a 5-tap window */
    hog_params_default(&p.hog);
    p.hog.cell = 2, p.hog.block = 2;
    return p;
}

/* One map of (x, class) computed alone. */
static int one_map(float *out, struct net *net, const struct saliency_params *p, const float *x,
                   uint64_t id, int c)
{
    size_t nw;
    int e = 0;
    if (saliency_workspace_floats(net, p, 1, &nw)) return -1;
    float *work = aligned_alloc(64, (nw * sizeof(float) + 63) / 64 * 64);
    struct saliency_input in = {1, x, &id, 1, &e, &c, black};
    int rc = saliency_compute(out, net, p, &in, work, 1, NULL);
    free(work);
    return rc;
}

static struct net *setup(struct saliency_params *p, enum saliency_method m)
{
    struct net *net = score_testnet(NET_SOFTMAX, 5, 0, 21);
    score_testnet_fill(xs, NE * CHW, 4, 0);
    saliency_params_init(p, m);
    if (!net || saliency_params_resolve(p, net)) return NULL;
    for (int t = 0; t < NT; t++)
        if (one_map(maps + t * HW, net, p, xs + ex[t] * CHW, ids[ex[t]], cls[t])) return NULL;
    return net;
}

static void test_sensitivity_and_logit(void)
{
    struct saliency_params p;
    struct net *net = setup(&p, SALIENCY_GRADIENT);
    struct score_random_params rp = rparams();
    struct score_random *w = NULL;
    int ok = net && score_random_create(&w, net, &p, &rp, NE, NT) == 0;
    CHECK(ok, "score_random_create", "%s", err_msg());
    if (!ok) return;
    struct score_random_block b = {NE, xs, ids, NT, ex, cls, maps, black};
    double mx[NT], av[NT], rmx[NT], rav[NT];
    ok = score_random_sensitivity(w, mx, av, &b) == 0;
    static float xp[CHW], m1[HW];
    for (int t = 0; t < NT; t++) {
        const float *x = xs + ex[t] * CHW;
        double ratios[4], r = rp.sens_radius * perturb_input_range(x, CHW);
        for (int j = 0; j < 4; j++) {
            perturb_sensitivity_forward(xp, x, CHW, r, rp.seed, ids[ex[t]], (uint32_t)j, 1);
            ok &= one_map(m1, net, &p, xp, ids[ex[t]], cls[t]) == 0;
            ratios[j] = perturb_relative_change(maps + t * HW, m1, HW);
        }
        perturb_sensitivity_reduce(&rmx[t], &rav[t], ratios, 4);
    }
    CHECK(ok, "score_random_sensitivity_run", "%s", err_msg());
    check_close_f64("score_random_max_sensitivity_vs_naive", mx, rmx, NT, 1e-6, 1e-5);
    check_close_f64("score_random_avg_sensitivity_vs_naive", av, rav, NT, 1e-6, 1e-5);
    /* one backward per (trial, sample), one forward per perturbed image: trials of one
     * example share its perturbed images (saliency forwards an example once) */
    int forwards = NE * 4;
    struct saliency_cost c = score_random_cost(w);
    CHECK(c.forward == (uint64_t)forwards && c.backward == NT * 4,
          "score_random_sensitivity_cost", "%llu %llu, want %d %d",
          (unsigned long long)c.forward, (unsigned long long)c.backward, forwards, NT * 4);
    struct ssim_similarity sim[NT];
    int32_t other[NT];
    ok = score_random_logit(w, sim, other, &b, STN_K) == 0;
    for (int t = 0; t < NT; t++) {
        struct ssim_similarity ref;
        static unsigned char scratch[1 << 16];
        ok &= other[t] >= 0 && other[t] != cls[t] && other[t] < STN_K &&
              one_map(m1, net, &p, xs + ex[t] * CHW, ids[ex[t]], other[t]) == 0;
        ssim_similarity(&ref, maps + t * HW, m1, STN_H, STN_W, &rp.ssim, &rp.hog, scratch);
        ok &= fabs(ref.ssim - sim[t].ssim) < 1e-9 &&
              fabs(ref.spearman_abs - sim[t].spearman_abs) < 1e-9;
    }
    CHECK(ok, "score_random_logit_vs_naive", "%s", err_msg());
    /* A NaN stored map: undefined, and no re-run for it. */
    maps[HW + 3] = NAN;
    c = score_random_cost(w);
    ok = score_random_logit(w, sim, other, &b, STN_K) == 0 && isnan(sim[1].ssim) &&
         !isnan(sim[0].ssim) && score_random_cost(w).forward - c.forward == NT - 1;
    ok &= score_random_sensitivity(w, mx, av, &b) == 0 && isnan(mx[1]) && !isnan(mx[2]);
    CHECK(ok, "score_random_nan_map", "%g", sim[1].ssim);
    score_random_free(w);
    net_free(net);
}

static void test_sanity(void)
{
    struct saliency_params p;
    struct net *net = setup(&p, SALIENCY_GRADIENT);
    int layers[8], L = score_random_layers(net, layers, 8);
    CHECK(L == 3 && layers[0] == 8 && layers[1] == 4 && layers[2] == 1, "score_random_layers",
          "L %d: %d %d %d", L, layers[0], layers[1], layers[2]);
    float *before = malloc(sizeof(float) * 4096);
    const struct net_param *q = net_param_at(net, 0);
    memcpy(before, q->value.data, tensor_numel(&q->value) * sizeof(float));
    struct score_random_params rp = rparams();
    struct score_random *w = NULL;
    double cas[NT * 3 * 4], ind[NT * 3 * 4];
    struct score_random_block b = {NE, xs, ids, NT, ex, cls, maps, black};
    int ok = score_random_create(&w, net, &p, &rp, NE, NT) == 0 &&
             score_random_sanity(w, cas, SCORE_SANITY_CASCADING, layers, L, &b) == 0 &&
             score_random_sanity(w, ind, SCORE_SANITY_INDEPENDENT, layers, L, &b) == 0;
    CHECK(ok, "score_random_sanity_run", "%s", err_msg());
    ok = memcmp(before, q->value.data, tensor_numel(&q->value) * sizeof(float)) == 0;
    CHECK(ok, "score_random_sanity_restores_params", "");
    ok = 1;
    for (int t = 0; t < NT; t++)
        ok &= memcmp(cas + t * 12, ind + t * 12, 4 * sizeof(double)) == 0; /* step 0 */
    CHECK(ok, "score_random_sanity_first_step_equal", "");
    ok = 1; /* a fully randomised gradient is not the original map */
    for (int t = 0; t < NT; t++)
        ok &= cas[t * 12 + 8 + 2] < 0.99;
    CHECK(ok, "score_random_sanity_changes_map", "%g", cas[10]);
    free(before);
    score_random_free(w);
    net_free(net);
}

static void test_center(void)
{
    struct saliency_params p;
    struct net *net = setup(&p, SALIENCY_CENTER);
    int layers[8], L = score_random_layers(net, layers, 8);
    struct score_random_params rp = rparams();
    struct score_random *w = NULL;
    double s[NT * 3 * 4], mx[NT], av[NT];
    struct score_random_block b = {NE, xs, ids, NT, ex, cls, maps, black};
    int ok = score_random_create(&w, net, &p, &rp, NE, NT) == 0 &&
             score_random_sanity(w, s, SCORE_SANITY_CASCADING, layers, L, &b) == 0 &&
             score_random_sensitivity(w, mx, av, &b) == 0;
    for (int i = 0; ok && i < NT * 3 * 4; i++)
        ok &= fabs(s[i] - 1) < 1e-12;
    for (int t = 0; ok && t < NT; t++)
        ok &= mx[t] == 0 && av[t] == 0;
    CHECK(ok, "score_random_center_insensitive", "%s", err_msg());
    score_random_free(w);
    net_free(net);
}

static void run_threads(int threads, double *out)
{
    set_threads(threads);
    struct saliency_params p;
    struct net *net = setup(&p, SALIENCY_GRADIENT);
    int layers[8], L = score_random_layers(net, layers, 8);
    struct score_random_params rp = rparams();
    struct score_random *w = NULL;
    struct score_random_block b = {NE, xs, ids, NT, ex, cls, maps, black};
    if (!net || score_random_create(&w, net, &p, &rp, NE, NT)) return;
    score_random_sensitivity(w, out, out + NT, &b);
    score_random_sanity(w, out + 2 * NT, SCORE_SANITY_CASCADING, layers, L, &b);
    score_random_free(w);
    net_free(net);
}

static void test_threads(void)
{
    double a[2 * NT + NT * 12], b[2 * NT + NT * 12];
    run_threads(1, a);
    run_threads(2, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "score_random_threads_bitwise", "1 and 2 threads differ");
}

int main(void)
{
    test_sensitivity_and_logit();
    test_sanity();
    test_center();
    test_threads();
    return check_summary();
}
