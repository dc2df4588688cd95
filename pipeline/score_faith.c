/* Batched re-inference metrics: a queue of (trial, item) images cut into net batches, filled
 * by per-metric callbacks from perturb.h's builders and reduced per trial afterwards. Batches
 * are composed the same way whatever the thread count, so scores are bitwise reproducible. */
#include "pipeline/score_faith.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/err.h"
#include "pipeline/metrics_localisation.h"
#include "pipeline/net.h"
#include "pipeline/stats.h"
#include "pipeline/threads.h"

struct faith_seg {
    int t, i0, n, b;
};

struct score_faith {
    struct net *net;
    struct score_faith_params p;
    int C, H, W, B, max_trials, max_items, nthreads;
    size_t hw, chw;
    float *batch;      /* [B, C, H, W] */
    struct faith_seg *segs; /* [B] */
    uint32_t *order;   /* [max_trials, HW] */
    float *img;        /* [max_trials, CHW]: substrate or blurred start */
    float *zero;       /* [CHW] */
    float *blur_tmp;   /* [CHW] */
    uint64_t *keys;    /* [nthreads, 2 HW] */
    double *scores;    /* [max_trials, max_items] */
    double *aux;       /* [max_trials, max_items]: attribution sums or dots */
    uint32_t *subsets; /* [B, fc_subset] */
    int *live;         /* [max_trials] */
    double taps[2 * PERTURB_BLUR_MAX_RADIUS + 1];
    uint64_t forwards;
};

/* What a metric puts in item i0.. of trial t (n images into dst). */
typedef void (*faith_fill_fn)(struct score_faith *w, const struct score_faith_trial *tr, int t,
                              int i0, int n, float *dst);

static const char *const output_names[] = {"prob", "logit"};
static const char *const substrate_names[] = {"zero", "black", "blur"};

const char *score_output_name(enum score_output o)
{
    return (unsigned)o < 2 ? output_names[o] : "?";
}

int score_output_from_name(const char *s)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(s, output_names[i]) == 0) return i;
    return -1;
}

const char *score_substrate_name(enum score_substrate s)
{
    return (unsigned)s < 3 ? substrate_names[s] : "?";
}

int score_substrate_from_name(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, substrate_names[i]) == 0) return i;
    return -1;
}

double score_faith_output(const struct net *net, int b, int c, enum score_output o,
                          enum score_activation act)
{
    int L = net_logits_layer(net), O = net_output_layer(net), K, h, w;
    net_layer_shape(net, L, &K, &h, &w);
    size_t k = (size_t)K * h * w;
    if (o == SCORE_OUT_PROB && O != L) return net_act(net, O).data[(size_t)b * k + c];
    const float *z = net_act(net, L).data + (size_t)b * k;
    if (o == SCORE_OUT_LOGIT) return z[c];
    if (act == SCORE_ACT_SIGMOID) return 1.0 / (1.0 + exp(-(double)z[c]));
    double m = z[0], s = 0;
    for (size_t i = 1; i < k; i++)
        m = z[i] > m ? z[i] : m;
    for (size_t i = 0; i < k; i++)
        s += exp((double)z[i] - m);
    return exp((double)z[c] - m) / s;
}

static int max4(int a, int b, int c, int d)
{
    int m = a > b ? a : b;
    m = m > c ? m : c;
    return m > d ? m : d;
}

int score_faith_create(struct score_faith **out, struct net *net,
                       const struct score_faith_params *p, int C, int H, int W, int max_trials)
{
    int c, h, w;
    *out = NULL;
    net_layer_shape(net, 0, &c, &h, &w);
    if (c != C || h != H || w != W)
        return err_set("cannot score with the model: its input is %dx%dx%d, the data %dx%dx%d", c,
                       h, w, C, H, W);
    if (p->blur_radius < 0 || p->blur_radius > PERTURB_BLUR_MAX_RADIUS || max_trials < 1)
        return err_set("cannot score: bad blur radius %d or block %d", p->blur_radius,
                       max_trials);
    struct score_faith *f = calloc(1, sizeof *f);
    if (!f) return err_set("cannot allocate the scoring workspace: out of memory");
    f->net = net, f->p = *p, f->C = C, f->H = H, f->W = W, f->B = net_max_batch(net);
    f->max_trials = max_trials, f->hw = (size_t)H * W, f->chw = (size_t)C * f->hw;
    f->max_items = max4(p->deletion.n_steps + 1, p->insertion.n_steps + 1, p->fc_runs + 1,
                        p->inf_samples + 1);
    f->nthreads = 1;
#ifdef _OPENMP
    f->nthreads = omp_get_max_threads();
#endif
    size_t mt = (size_t)max_trials, mi = (size_t)f->max_items;
    f->batch = malloc((size_t)f->B * f->chw * sizeof(float));
    f->segs = malloc((size_t)f->B * sizeof *f->segs);
    f->order = malloc(mt * f->hw * sizeof *f->order);
    f->img = malloc(mt * f->chw * sizeof(float));
    f->zero = calloc(f->chw, sizeof(float));
    f->blur_tmp = malloc(f->chw * sizeof(float));
    f->keys = malloc((size_t)f->nthreads * 2 * f->hw * sizeof *f->keys);
    f->scores = malloc(mt * mi * sizeof(double));
    f->aux = malloc(mt * mi * sizeof(double));
    f->subsets = malloc((size_t)f->B * (p->fc_subset ? p->fc_subset : 1) * sizeof(uint32_t));
    f->live = malloc(mt * sizeof *f->live);
    if (!f->batch || !f->segs || !f->order || !f->img || !f->zero || !f->blur_tmp || !f->keys ||
        !f->scores || !f->aux || !f->subsets || !f->live) {
        score_faith_free(f);
        return err_set("cannot allocate the scoring workspace: out of memory");
    }
    perturb_blur_taps(f->taps, p->blur_radius, p->blur_sigma);
    *out = f;
    return 0;
}

void score_faith_free(struct score_faith *w)
{
    if (!w) return;
    free(w->batch), free(w->segs), free(w->order), free(w->img), free(w->zero);
    free(w->blur_tmp), free(w->keys), free(w->scores), free(w->aux), free(w->subsets);
    free(w->live);
    free(w);
}

uint64_t score_faith_forwards(const struct score_faith *w)
{
    return w->forwards;
}

/* Runs `items` images per live trial through the net, batch after batch, and stores the
 * class score of item i of trial t in w->scores[t * max_items + i]. */
static int faith_run(struct score_faith *w, const struct score_faith_trial *tr, int n, int items,
                     faith_fill_fn fill, enum score_output o)
{
    int t = 0, i = 0;
    while (t < n) {
        int b = 0, ns = 0;
        while (b < w->B && t < n) {
            if (!w->live[t]) {
                t++, i = 0;
                continue;
            }
            int m = items - i < w->B - b ? items - i : w->B - b;
            fill(w, tr, t, i, m, w->batch + (size_t)b * w->chw);
            w->segs[ns++] = (struct faith_seg){t, i, m, b};
            b += m, i += m;
            if (i == items) t++, i = 0;
        }
        if (b == 0) break;
        if (net_forward(w->net, w->batch, b, NET_EVAL, NULL))
            return err_wrap("cannot run the model on perturbed inputs: ");
        w->forwards += (uint64_t)b;
        for (int s = 0; s < ns; s++) {
            const struct faith_seg *g = &w->segs[s];
            double *dst = w->scores + (size_t)g->t * w->max_items + g->i0;
            for (int k = 0; k < g->n; k++)
                dst[k] = score_faith_output(w->net, g->b + k, tr[g->t].class_id, o,
                                            w->p.activation);
        }
    }
    return 0;
}

/* Marks trials with a finite map; returns how many. */
static int faith_live(struct score_faith *w, const struct score_faith_trial *tr, int n)
{
    int live = 0;
    for (int t = 0; t < n; t++) {
        w->live[t] = metrics_map_finite(tr[t].map, w->hw);
        live += w->live[t];
    }
    return live;
}

/* ---- deletion and insertion ------------------------------------------------------------- */

static void fill_deletion(struct score_faith *w, const struct score_faith_trial *tr, int t,
                          int i0, int n, float *dst)
{
    const float *img = w->img + (size_t)t * w->chw;
    perturb_steps_forward(dst, tr[t].x, img, w->order + (size_t)t * w->hw, &w->p.deletion, i0, n,
                          w->C, w->H, w->W);
}

static void fill_insertion(struct score_faith *w, const struct score_faith_trial *tr, int t,
                           int i0, int n, float *dst)
{
    const float *img = w->img + (size_t)t * w->chw;
    perturb_steps_forward(dst, img, tr[t].x, w->order + (size_t)t * w->hw, &w->p.insertion, i0,
                          n, w->C, w->H, w->W);
}

/* Pixel orders (parallel over trials) and the start/finish image of each live trial. */
static void deletion_prepare(struct score_faith *w, const struct score_faith_trial *tr, int n,
                             int insertion)
{
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        int th = thread_id();
        if (w->live[t])
            stats_order_desc_f32(w->order + (size_t)t * w->hw, tr[t].map, w->hw,
                                 w->keys + (size_t)th * 2 * w->hw);
    }
    for (int t = 0; t < n; t++) {
        float *img = w->img + (size_t)t * w->chw;
        if (!w->live[t]) continue;
        if (insertion || w->p.substrate == SCORE_SUBSTRATE_BLUR)
            perturb_blur_forward(img, tr[t].x, w->taps, w->p.blur_radius, w->C, w->H, w->W,
                                 w->blur_tmp);
        else if (w->p.substrate == SCORE_SUBSTRATE_BLACK) {
            float v = perturb_black_baseline(tr[t].x, w->chw);
            for (size_t j = 0; j < w->chw; j++)
                img[j] = v;
        } else
            memset(img, 0, w->chw * sizeof *img);
    }
}

int score_faith_deletion(struct score_faith *w, const struct score_faith_trial *trials, int n,
                         int insertion, float *curves, double *auc)
{
    SB_ASSERT(n <= w->max_trials);
    const struct perturb_schedule *s = insertion ? &w->p.insertion : &w->p.deletion;
    int items = s->n_steps + 1;
    faith_live(w, trials, n);
    deletion_prepare(w, trials, n, insertion);
    if (faith_run(w, trials, n, items, insertion ? fill_insertion : fill_deletion,
                  insertion ? w->p.insertion_output : w->p.deletion_output))
        return -1;
    for (int t = 0; t < n; t++) {
        const double *sc = w->scores + (size_t)t * w->max_items;
        float *cv = curves + (size_t)t * items;
        for (int k = 0; k < items; k++)
            cv[k] = w->live[t] ? (float)sc[k] : NAN;
        auc[t] = w->live[t] ? stats_auc_unit(sc, (size_t)items) : NAN;
    }
    return 0;
}

/* ---- faithfulness correlation ----------------------------------------------------------- */

static void fill_correlation(struct score_faith *w, const struct score_faith_trial *tr, int t,
                             int i0, int n, float *dst)
{
    const struct score_faith_trial *x = &tr[t];
    uint32_t k = w->p.fc_subset;
    if (i0 == 0) { /* item 0: the unperturbed input */
        memcpy(dst, x->x, w->chw * sizeof *dst);
        dst += w->chw, i0++, n--;
    }
    if (n == 0) return;
    double *sums = w->aux + (size_t)t * w->max_items;
    for (int j = 0; j < n; j++) {
        uint32_t *idx = w->subsets + (size_t)j * k, run = (uint32_t)(i0 + j - 1);
        perturb_subset_draw(idx, k, (uint32_t)w->chw, w->p.seed, x->example_id, run);
        sums[run] = perturb_subset_attribution(x->map, w->hw, idx, k);
    }
    perturb_subsets_forward(dst, x->x, w->chw, w->subsets, k, n,
                            perturb_black_baseline(x->x, w->chw));
}

int score_faith_correlation(struct score_faith *w, const struct score_faith_trial *trials, int n,
                            double *out)
{
    SB_ASSERT(n <= w->max_trials);
    if (w->p.fc_subset > w->chw || w->p.fc_runs < 2)
        return err_set("cannot score faithfulness_correlation: subset %u of %zu features, %d "
                       "runs (need subset <= features and runs >= 2)",
                       w->p.fc_subset, w->chw, w->p.fc_runs);
    faith_live(w, trials, n);
    if (faith_run(w, trials, n, w->p.fc_runs + 1, fill_correlation, w->p.fc_output)) return -1;
    for (int t = 0; t < n; t++) {
        const double *sc = w->scores + (size_t)t * w->max_items;
        double *drops = w->scores + (size_t)t * w->max_items + 1; /* in place: s0 - s_r */
        out[t] = NAN;
        if (!w->live[t]) continue;
        double s0 = sc[0];
        for (int r = 0; r < w->p.fc_runs; r++)
            drops[r] = s0 - drops[r];
        out[t] = perturb_faithfulness_correlation(w->aux + (size_t)t * w->max_items, drops,
                                                  w->p.fc_runs);
    }
    return 0;
}

/* ---- infidelity --------------------------------------------------------------------------- */

static void fill_infidelity(struct score_faith *w, const struct score_faith_trial *tr, int t,
                            int i0, int n, float *dst)
{
    const struct score_faith_trial *x = &tr[t];
    if (i0 == 0) {
        memcpy(dst, x->x, w->chw * sizeof *dst);
        dst += w->chw, i0++, n--;
    }
    if (n == 0) return;
    double sigma = w->p.inf_sigma * perturb_input_range(x->x, w->chw);
    double *dots = w->aux + (size_t)t * w->max_items;
    perturb_infidelity_forward(dst, dots + (i0 - 1), x->x, x->map, w->C, w->hw, sigma, w->p.seed,
                               x->example_id, (uint32_t)(i0 - 1), n);
}

int score_faith_infidelity(struct score_faith *w, const struct score_faith_trial *trials, int n,
                           double *out)
{
    SB_ASSERT(n <= w->max_trials);
    if (w->p.inf_samples < 1) return err_set("cannot score infidelity: no samples");
    faith_live(w, trials, n);
    if (faith_run(w, trials, n, w->p.inf_samples + 1, fill_infidelity, w->p.inf_output))
        return -1;
    for (int t = 0; t < n; t++) {
        double *sc = w->scores + (size_t)t * w->max_items, *drops = sc + 1;
        out[t] = NAN;
        if (!w->live[t]) continue;
        for (int j = 0; j < w->p.inf_samples; j++)
            drops[j] = sc[0] - drops[j];
        out[t] = perturb_infidelity(w->aux + (size_t)t * w->max_items, drops, w->p.inf_samples,
                                    w->p.inf_normalize);
    }
    return 0;
}
