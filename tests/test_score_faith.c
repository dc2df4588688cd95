/* Tests of pipeline/score_faith: the batched deletion/insertion, faithfulness-correlation and
 * infidelity drivers against a naive twin that builds each perturbed image on its own and runs
 * it alone through the net (small batches so segments straddle trials and batches), a model
 * that ignores its input (flat curve), NaN maps (undefined, no forward passes), the softmax of
 * the logits when the net has no head, and bitwise equality at 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/err.h"
#include "pipeline/net.h"
#include "pipeline/perturb.h"
#include "pipeline/score_faith.h"
#include "pipeline/stats.h"
#include "tests/check.h"
#include "tests/score_testnet.h"

#define NT 3
#define HW (STN_H * STN_W)
#define CHW (STN_C * HW)

static float xs[NT][CHW], maps[NT][HW];
static const int cls[NT] = {0, 2, 1};

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static void make_trials(struct score_faith_trial *t)
{
    for (int i = 0; i < NT; i++) {
        score_testnet_fill(xs[i], CHW, 7, (uint64_t)i);
        score_testnet_fill(maps[i], HW, 8, (uint64_t)i);
        t[i] = (struct score_faith_trial){xs[i], maps[i], 1000 + (uint64_t)i, cls[i]};
    }
}

static struct score_faith_params params(int steps)
{
    struct score_faith_params p = {0};
    p.activation = SCORE_ACT_SOFTMAX;
    perturb_schedule_init(&p.deletion, STN_H, STN_W, steps, 0);
    perturb_schedule_init(&p.insertion, STN_H, STN_W, steps, 0);
    p.substrate = SCORE_SUBSTRATE_ZERO;
    perturb_blur_default(STN_H, STN_W, &p.blur_radius, &p.blur_sigma);
    p.fc_runs = 12, p.fc_subset = 20, p.fc_output = SCORE_OUT_LOGIT;
    p.inf_samples = 5, p.inf_sigma = 0.1, p.inf_normalize = 1, p.inf_output = SCORE_OUT_LOGIT;
    p.seed = 3;
    return p;
}

/* One image alone through the net: the class score. */
static double naive_score(struct net *net, const float *img, int c, enum score_output o)
{
    net_forward(net, img, 1, NET_EVAL, NULL);
    return score_faith_output(net, 0, c, o, SCORE_ACT_SOFTMAX);
}

static void naive_curve(struct net *net, const struct score_faith_trial *t,
                        const struct score_faith_params *p, int insertion, double *curve)
{
    static float img[CHW], start[CHW], finish[CHW], tmp[CHW];
    static uint32_t order[HW];
    static uint64_t keys[2 * HW];
    stats_order_desc_f32_naive(order, t->map, HW, keys);
    double taps[2 * PERTURB_BLUR_MAX_RADIUS + 1];
    perturb_blur_taps(taps, p->blur_radius, p->blur_sigma);
    if (insertion) {
        perturb_blur_forward(start, t->x, taps, p->blur_radius, STN_C, STN_H, STN_W, tmp);
        memcpy(finish, t->x, sizeof finish);
    } else {
        memcpy(start, t->x, sizeof start);
        memset(finish, 0, sizeof finish);
    }
    const struct perturb_schedule *s = insertion ? &p->insertion : &p->deletion;
    for (int k = 0; k <= s->n_steps; k++) {
        memcpy(img, start, sizeof img);
        for (size_t j = 0; j < perturb_schedule_count(s, k); j++)
            for (int c = 0; c < STN_C; c++)
                img[c * HW + order[j]] = finish[c * HW + order[j]];
        curve[k] = naive_score(net, img, t->class_id, SCORE_OUT_PROB);
    }
}

static void test_deletion(void)
{
    struct net *net = score_testnet(NET_SOFTMAX, 7, NET_NO_GRAD, 11);
    struct score_faith_trial t[NT];
    make_trials(t);
    struct score_faith_params p = params(10);
    struct score_faith *w;
    int ok = net && score_faith_create(&w, net, &p, STN_C, STN_H, STN_W, NT) == 0;
    CHECK(ok, "score_faith_create", "%s", err_msg());
    if (!ok) return;
    for (int ins = 0; ins < 2; ins++) {
        float curves[NT * 11];
        double auc[NT], ref[11], refc[NT * 11], refauc[NT];
        for (int i = 0; i < NT; i++) {
            naive_curve(net, &t[i], &p, ins, ref);
            memcpy(refc + i * 11, ref, sizeof ref);
            refauc[i] = stats_auc_unit(ref, 11);
        }
        uint64_t f0 = score_faith_forwards(w);
        ok = score_faith_deletion(w, t, NT, ins, curves, auc) == 0;
        float reff[NT * 11];
        for (int i = 0; i < NT * 11; i++)
            reff[i] = (float)refc[i];
        check_close(ins ? "score_faith_insertion_vs_naive" : "score_faith_deletion_vs_naive",
                    curves, reff, NT * 11, 1e-6, 1e-5);
        check_close_f64(ins ? "score_faith_insertion_auc" : "score_faith_deletion_auc", auc,
                        refauc, NT, 1e-6, 1e-5);
        CHECK(ok && score_faith_forwards(w) - f0 == NT * 11,
              ins ? "score_faith_insertion_cost" : "score_faith_deletion_cost", "%llu",
              (unsigned long long)(score_faith_forwards(w) - f0));
    }
    /* A NaN map: undefined trial, no forward passes for it. */
    maps[1][5] = NAN;
    float curves[NT * 11];
    double auc[NT];
    uint64_t f0 = score_faith_forwards(w);
    ok = score_faith_deletion(w, t, NT, 0, curves, auc) == 0 && isnan(auc[1]) &&
         isnan(curves[11]) && !isnan(auc[0]) && !isnan(auc[2]) &&
         score_faith_forwards(w) - f0 == 2 * 11;
    CHECK(ok, "score_faith_nan_map_undefined", "auc %g %g %g", auc[0], auc[1], auc[2]);
    score_faith_free(w);
    net_free(net);
}

/* Zero weights: the output ignores the input; every curve is flat at softmax(bias)[c]. */
static void test_flat(void)
{
    struct net *net = score_testnet(-1, 16, NET_NO_GRAD, 11);
    for (int i = 0; i < net_param_count(net); i++) {
        struct net_param *q = net_param_at(net, i);
        if (strcmp(q->name, "fc.bias") != 0)
            memset(q->value.data, 0, tensor_numel(&q->value) * sizeof(float));
    }
    struct score_faith_trial t[NT];
    make_trials(t);
    struct score_faith_params p = params(6);
    struct score_faith *w;
    float curves[NT * 7];
    double auc[NT];
    int ok = score_faith_create(&w, net, &p, STN_C, STN_H, STN_W, NT) == 0 &&
             score_faith_deletion(w, t, NT, 0, curves, auc) == 0;
    const float *b = net_param_find(net, "fc.bias")->value.data;
    for (int i = 0; ok && i < NT; i++) {
        double m = fmax(fmax(b[0], b[1]), b[2]), s = 0;
        for (int k = 0; k < STN_K; k++)
            s += exp(b[k] - m);
        double want = exp(b[cls[i]] - m) / s;
        for (int k = 0; k < 7; k++)
            ok &= fabs(curves[i * 7 + k] - want) < 1e-6;
        ok &= fabs(auc[i] - want) < 1e-6;
    }
    CHECK(ok, "score_faith_flat_curve_softmax_of_logits", "auc %g", auc[0]);
    score_faith_free(w);
    net_free(net);
}

static void test_correlation_infidelity(void)
{
    struct net *net = score_testnet(NET_SOFTMAX, 5, NET_NO_GRAD, 12);
    struct score_faith_trial t[NT];
    make_trials(t);
    struct score_faith_params p = params(4);
    struct score_faith *w;
    double fc[NT], inf[NT], ref_fc[NT], ref_inf[NT];
    int ok = score_faith_create(&w, net, &p, STN_C, STN_H, STN_W, NT) == 0 &&
             score_faith_correlation(w, t, NT, fc) == 0 &&
             score_faith_infidelity(w, t, NT, inf) == 0;
    static float img[CHW];
    for (int i = 0; i < NT; i++) {
        double s0 = naive_score(net, t[i].x, cls[i], SCORE_OUT_LOGIT), sums[12], drops[12];
        uint32_t idx[20];
        for (int r = 0; r < p.fc_runs; r++) {
            perturb_subset_draw(idx, 20, CHW, p.seed, t[i].example_id, (uint32_t)r);
            sums[r] = perturb_subset_attribution(t[i].map, HW, idx, 20);
            memcpy(img, t[i].x, sizeof img);
            for (int k = 0; k < 20; k++)
                img[idx[k]] = perturb_black_baseline(t[i].x, CHW);
            drops[r] = s0 - naive_score(net, img, cls[i], SCORE_OUT_LOGIT);
        }
        ref_fc[i] = stats_pearson(sums, drops, 12);
        double dots[5], d2[5], sigma = 0.1 * perturb_input_range(t[i].x, CHW);
        for (int j = 0; j < 5; j++) {
            perturb_infidelity_forward(img, &dots[j], t[i].x, t[i].map, STN_C, HW, sigma, p.seed,
                                       t[i].example_id, (uint32_t)j, 1);
            d2[j] = s0 - naive_score(net, img, cls[i], SCORE_OUT_LOGIT);
        }
        ref_inf[i] = perturb_infidelity(dots, d2, 5, 1);
    }
    CHECK(ok, "score_faith_fc_inf_run", "%s", err_msg());
    check_close_f64("score_faith_correlation_vs_naive", fc, ref_fc, NT, 1e-5, 1e-4);
    check_close_f64("score_faith_infidelity_vs_naive", inf, ref_inf, NT, 1e-6, 1e-4);
    score_faith_free(w);
    net_free(net);
}

/* The same calls at 1 and 2 threads give the same bits. */
static void run_all(int threads, float *curves, double *out)
{
    set_threads(threads);
    struct net *net = score_testnet(NET_SOFTMAX, 6, NET_NO_GRAD, 13);
    struct score_faith_trial t[NT];
    make_trials(t);
    struct score_faith_params p = params(9);
    struct score_faith *w;
    if (!net || score_faith_create(&w, net, &p, STN_C, STN_H, STN_W, NT)) return;
    score_faith_deletion(w, t, NT, 0, curves, out);
    score_faith_deletion(w, t, NT, 1, curves + NT * 10, out + NT);
    score_faith_correlation(w, t, NT, out + 2 * NT);
    score_faith_infidelity(w, t, NT, out + 3 * NT);
    score_faith_free(w);
    net_free(net);
}

static void test_threads(void)
{
    float c1[2 * NT * 10], c2[2 * NT * 10];
    double o1[4 * NT], o2[4 * NT];
    run_all(1, c1, o1);
    run_all(2, c2, o2);
    set_threads(2);
    CHECK(memcmp(c1, c2, sizeof c1) == 0 && memcmp(o1, o2, sizeof o1) == 0,
          "score_faith_threads_bitwise", "1 and 2 threads differ");
}

static void test_names(void)
{
    int ok = score_output_from_name("logit") == SCORE_OUT_LOGIT &&
             score_output_from_name("x") == -1 &&
             score_substrate_from_name("blur") == SCORE_SUBSTRATE_BLUR &&
             strcmp(score_substrate_name(SCORE_SUBSTRATE_BLACK), "black") == 0;
    CHECK(ok, "score_faith_names", "");
    struct net *net = score_testnet(NET_SOFTMAX, 2, NET_NO_GRAD, 1);
    struct score_faith_params p = params(4);
    struct score_faith *w = NULL;
    ok = score_faith_create(&w, net, &p, 1, STN_H, STN_W, 2) == -1 && !w &&
         strstr(err_msg(), "input") != NULL;
    CHECK(ok, "score_faith_shape_mismatch_error", "%s", err_msg());
    net_free(net);
}

int main(void)
{
    test_deletion();
    test_flat();
    test_correlation_infidelity();
    test_threads();
    test_names();
    return check_summary();
}
