/* Attribution re-runs of the score stage: perturbed inputs (sensitivity), other classes
 * (random logit) and randomised parameters (sanity check), each compared with the stored map.
 * Maps come from saliency_compute; similarities are computed in parallel over trials, each
 * thread with its own scratch, so results do not depend on the thread count. */
#include "pipeline/score_random.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pipeline/err.h"
#include "pipeline/metrics_localisation.h"
#include "pipeline/net.h"
#include "pipeline/perturb.h"
#include "pipeline/threads.h"

/* Images per saliency_compute call in the sensitivity metric (examples x samples). */
#define SCORE_RANDOM_CHUNK_IMAGES 256

struct score_random {
    struct net *net;
    struct saliency_params p;
    struct score_random_params rp;
    int C, H, W, nthreads, max_ex, max_tr, chunk_ex;
    size_t hw, chw;
    float *work;          /* saliency workspace */
    float *xs;            /* [chunk_ex * S, CHW] perturbed inputs */
    uint64_t *ids;        /* [chunk_ex * S] */
    int *ex, *cls, *src;  /* [max_tr * S] trial lists */
    float *maps;          /* [max_tr * S, HW] recomputed maps */
    double *ratios;       /* [max_tr * S] */
    int n_params;
    float **saved;        /* copies of every parameter tensor */
    unsigned char *sim;   /* [nthreads, sim_bytes] */
    size_t sim_bytes;
    struct saliency_cost cost;
};

void score_random_free(struct score_random *w)
{
    if (!w) return;
    free(w->work), free(w->xs), free(w->ids), free(w->ex), free(w->cls), free(w->src);
    free(w->maps), free(w->ratios), free(w->sim);
    for (int i = 0; w->saved && i < w->n_params; i++)
        free(w->saved[i]);
    free(w->saved);
    free(w);
}

static int save_params(struct score_random *w)
{
    w->n_params = net_param_count(w->net);
    w->saved = calloc((size_t)(w->n_params ? w->n_params : 1), sizeof *w->saved);
    if (!w->saved) return -1;
    for (int i = 0; i < w->n_params; i++) {
        const struct net_param *q = net_param_at(w->net, i);
        size_t n = tensor_numel(&q->value);
        w->saved[i] = malloc((n ? n : 1) * sizeof(float));
        if (!w->saved[i]) return -1;
        memcpy(w->saved[i], q->value.data, n * sizeof(float));
    }
    return 0;
}

static void restore_params(struct score_random *w)
{
    for (int i = 0; i < w->n_params; i++) {
        struct net_param *q = net_param_at(w->net, i);
        memcpy(q->value.data, w->saved[i], tensor_numel(&q->value) * sizeof(float));
    }
}

int score_random_create(struct score_random **out, struct net *net,
                        const struct saliency_params *p, const struct score_random_params *rp,
                        int max_examples, int max_trials)
{
    *out = NULL;
    struct score_random *w = calloc(1, sizeof *w);
    if (!w) return err_set("cannot allocate the re-attribution workspace: out of memory");
    w->net = net, w->p = *p, w->rp = *rp, w->max_ex = max_examples, w->max_tr = max_trials;
    w->nthreads = 1;
#ifdef _OPENMP
    w->nthreads = omp_get_max_threads();
#endif
    net_layer_shape(net, 0, &w->C, &w->H, &w->W);
    w->hw = (size_t)w->H * w->W, w->chw = (size_t)w->C * w->hw;
    int S = rp->sens_samples > 0 ? rp->sens_samples : 1;
    w->chunk_ex = SCORE_RANDOM_CHUNK_IMAGES / S > 0 ? SCORE_RANDOM_CHUNK_IMAGES / S : 1;
    if (w->chunk_ex > max_examples) w->chunk_ex = max_examples;
    size_t nwork = 0, ts = (size_t)max_trials * S;
    if (saliency_workspace_floats(net, p, w->nthreads, &nwork)) {
        free(w);
        return -1;
    }
    w->sim_bytes = (ssim_similarity_scratch_bytes(w->H, w->W, &rp->hog) + 63) / 64 * 64;
    w->work = aligned_alloc(64, (nwork * sizeof(float) + 63) / 64 * 64);
    w->xs = malloc((size_t)w->chunk_ex * S * w->chw * sizeof(float));
    w->ids = malloc((size_t)w->chunk_ex * S * sizeof *w->ids);
    w->ex = malloc(ts * sizeof *w->ex), w->cls = malloc(ts * sizeof *w->cls);
    w->src = malloc(ts * sizeof *w->src);
    w->maps = malloc(ts * w->hw * sizeof(float));
    w->ratios = malloc(ts * sizeof(double));
    w->sim = aligned_alloc(64, (size_t)w->nthreads * w->sim_bytes);
    if (!w->work || !w->xs || !w->ids || !w->ex || !w->cls || !w->src || !w->maps ||
        !w->ratios || !w->sim || save_params(w)) {
        score_random_free(w);
        return err_set("cannot allocate the re-attribution workspace: out of memory");
    }
    *out = w;
    return 0;
}

struct saliency_cost score_random_cost(const struct score_random *w)
{
    return w->cost;
}

/* Recomputes maps for trials (example ex[k] of x[n], class cls[k]), k < t, into w->maps. */
static int recompute(struct score_random *w, const float *x, const uint64_t *ids, int n, int t,
                     const float *black)
{
    if (t == 0) return 0;
    struct saliency_input in = {n, x, ids, t, w->ex, w->cls, black};
    if (saliency_compute(w->maps, w->net, &w->p, &in, w->work, w->nthreads, &w->cost))
        return err_wrap("cannot re-run the attribution method: ");
    return 0;
}

/* First trial of each example e in [e0, e1): trials of a block are grouped by example. */
static int first_trial(const struct score_random_block *b, int e)
{
    int lo = 0, hi = b->t;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (b->example[mid] < e) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int map_ok(const struct score_random *w, const float *map)
{
    return metrics_map_finite(map, w->hw);
}

/* Sensitivity of the trials of examples [e0, e1): samples per example, maps recomputed. */
static int sensitivity_chunk(struct score_random *w, const struct score_random_block *b, int e0,
                             int e1)
{
    int S = w->rp.sens_samples, k = 0;
    for (int e = e0; e < e1; e++) {
        const float *x = b->x + (size_t)e * w->chw;
        double r = w->rp.sens_radius * perturb_input_range(x, w->chw);
        perturb_sensitivity_forward(w->xs + (size_t)(e - e0) * S * w->chw, x, w->chw, r,
                                    w->rp.seed, b->ids[e], 0, S);
        for (int j = 0; j < S; j++) {
            w->ids[(e - e0) * S + j] = b->ids[e];
            for (int t = first_trial(b, e); t < b->t && b->example[t] == e; t++) {
                if (!map_ok(w, b->maps + (size_t)t * w->hw)) continue;
                w->ex[k] = (e - e0) * S + j, w->cls[k] = b->cls[t], w->src[k] = t * S + j;
                k++;
            }
        }
    }
    if (recompute(w, w->xs, w->ids, (e1 - e0) * S, k, b->black)) return -1;
    const struct score_random *cw = w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < k; i++) {
        int t = cw->src[i] / S;
        cw->ratios[cw->src[i]] = perturb_relative_change(b->maps + (size_t)t * cw->hw,
                                                         cw->maps + (size_t)i * cw->hw, cw->hw);
    }
    return 0;
}

int score_random_sensitivity(struct score_random *w, double *max_out, double *avg_out,
                             const struct score_random_block *b)
{
    SB_ASSERT(b->t <= w->max_tr && b->n <= w->max_ex);
    int S = w->rp.sens_samples;
    if (S < 1) return err_set("cannot score max_sensitivity: no samples");
    for (size_t i = 0; i < (size_t)b->t * S; i++)
        w->ratios[i] = NAN;
    for (int e0 = 0; e0 < b->n; e0 += w->chunk_ex) {
        int e1 = e0 + w->chunk_ex < b->n ? e0 + w->chunk_ex : b->n;
        if (sensitivity_chunk(w, b, e0, e1)) return -1;
    }
    for (int t = 0; t < b->t; t++)
        perturb_sensitivity_reduce(&max_out[t], &avg_out[t], w->ratios + (size_t)t * S, S);
    return 0;
}

/* out[src[i]] = similarity of stored map src[i] and recomputed map i, for i < k. */
static void similarities(struct score_random *w, struct ssim_similarity *out,
                         const struct score_random_block *b, int k)
{
    const struct score_random *cw = w;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < k; i++) {
        int th = thread_id();
        int t = cw->src[i];
        ssim_similarity(&out[t], b->maps + (size_t)t * cw->hw, cw->maps + (size_t)i * cw->hw,
                        cw->H, cw->W, &cw->rp.ssim, &cw->rp.hog, cw->sim + th * cw->sim_bytes);
    }
}

static void set_nan(struct ssim_similarity *s)
{
    s->spearman_abs = s->spearman_signed = s->ssim = s->hog_spearman = NAN;
}

int score_random_logit(struct score_random *w, struct ssim_similarity *out, int32_t *other,
                       const struct score_random_block *b, int K)
{
    SB_ASSERT(b->t <= w->max_tr && b->n <= w->max_ex);
    int k = 0;
    for (int t = 0; t < b->t; t++) {
        set_nan(&out[t]);
        other[t] = perturb_random_other_class(w->rp.seed, b->ids[b->example[t]], b->cls[t], K);
        if (other[t] < 0 || !map_ok(w, b->maps + (size_t)t * w->hw)) continue;
        w->ex[k] = b->example[t], w->cls[k] = other[t], w->src[k] = t;
        k++;
    }
    if (recompute(w, b->x, b->ids, b->n, k, b->black)) return -1;
    similarities(w, out, b, k);
    return 0;
}

int score_random_layers(const struct net *net, int *layers, int cap)
{
    int n = 0;
    for (int l = net_layer_count(net) - 1; l >= 1; l--) {
        int has = 0;
        for (int i = 0; i < net_param_count(net) && !has; i++) {
            const struct net_param *q = net_param_at((struct net *)net, i);
            has = q->layer == l && q->trainable;
        }
        if (!has) continue;
        if (n < cap) layers[n] = l;
        n++;
    }
    return n;
}

int score_random_sanity(struct score_random *w, double *out, enum score_sanity_mode mode,
                        const int *layers, int L, const struct score_random_block *b)
{
    SB_ASSERT(b->t <= w->max_tr && b->n <= w->max_ex);
    struct ssim_similarity *sim = malloc((size_t)(b->t ? b->t : 1) * sizeof *sim);
    if (!sim) return err_set("cannot run the sanity check: out of memory");
    int k = 0, rc = 0;
    for (int t = 0; t < b->t; t++) {
        if (!map_ok(w, b->maps + (size_t)t * w->hw)) continue;
        w->ex[k] = b->example[t], w->cls[k] = b->cls[t], w->src[k] = t;
        k++;
    }
    restore_params(w);
    for (int i = 0; i < L && !rc; i++) {
        if (mode == SCORE_SANITY_INDEPENDENT) restore_params(w);
        init_layer(w->net, layers[i], w->rp.seed, w->rp.init);
        for (int t = 0; t < b->t; t++)
            set_nan(&sim[t]);
        rc = recompute(w, b->x, b->ids, b->n, k, b->black);
        if (rc) break;
        similarities(w, sim, b, k);
        for (int t = 0; t < b->t; t++) {
            double *o = out + ((size_t)t * L + i) * 4;
            o[0] = sim[t].spearman_abs, o[1] = sim[t].spearman_signed;
            o[2] = sim[t].ssim, o[3] = sim[t].hog_spearman;
        }
    }
    restore_params(w);
    free(sim);
    return rc;
}
