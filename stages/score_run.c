/* The score stage's per-method loop: the metric registry and configuration, then for each
 * method, blocks of trials (maps, images and masks read once per block) through the local,
 * re-inference and re-attribution metrics, the per-trial table and the curve arrays. */
#include "stages/score_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "formats/scores.h"
#include "pipeline/err.h"
#include "pipeline/metrics_complexity.h"
#include "pipeline/metrics_localisation.h"
#include "pipeline/preprocess.h"
#include "pipeline/stats.h"
#include "pipeline/threads.h"
#include "stages/common.h"

static const struct score_metric_info metric_table[SCORE_METRIC_COUNT] = {
    {"pointing_game", "localisation", 1, SCORE_NEEDS_GT},
    {"energy_pointing_game", "localisation", 1, SCORE_NEEDS_GT},
    {"relevance_mass", "localisation", 1, SCORE_NEEDS_GT},
    {"relevance_rank", "localisation", 1, SCORE_NEEDS_GT},
    {"top_k_intersection", "localisation", 1, SCORE_NEEDS_GT},
    {"localisation_auc", "localisation", 1, SCORE_NEEDS_GT},
    {"deletion", "faithfulness", -1, SCORE_NEEDS_FORWARD},
    {"insertion", "faithfulness", 1, SCORE_NEEDS_FORWARD},
    {"faithfulness_correlation", "faithfulness", 1, SCORE_NEEDS_FORWARD},
    {"infidelity", "faithfulness", -1, SCORE_NEEDS_FORWARD},
    {"max_sensitivity", "robustness", -1, SCORE_NEEDS_METHOD},
    {"avg_sensitivity", "robustness", -1, SCORE_NEEDS_METHOD},
    {"sparseness", "complexity", 1, 0},
    {"complexity", "complexity", -1, 0},
    {"sanity_check", "randomisation", -1, SCORE_NEEDS_METHOD},
    {"random_logit", "randomisation", -1, SCORE_NEEDS_METHOD},
    {"map_stability", "robustness", 1, SCORE_NEEDS_REFERENCE},
};

static const char *const sim_names[4] = {"spearman_abs", "spearman_signed", "ssim", "hog"};

const struct score_metric_info *score_metric_info(enum score_metric m)
{
    return &metric_table[m];
}

int score_metric_from_name(const char *name)
{
    for (int m = 0; m < SCORE_METRIC_COUNT; m++)
        if (strcmp(name, metric_table[m].name) == 0) return m;
    return -1;
}

int score_metric_reruns(enum score_metric m)
{
    return (metric_table[m].needs & (SCORE_NEEDS_FORWARD | SCORE_NEEDS_METHOD)) != 0;
}

void score_config_init(struct score_config *c)
{
    memset(c, 0, sizeof *c);
    c->gt_masks = 1;
    c->deletion_steps = c->insertion_steps = PERTURB_DEFAULT_STEPS;
    c->faith.substrate = SCORE_SUBSTRATE_ZERO;
    c->faith.deletion_output = c->faith.insertion_output = SCORE_OUT_PROB;
    c->faith.fc_runs = PERTURB_FC_RUNS, c->faith.fc_subset = PERTURB_FC_SUBSET;
    c->faith.fc_output = SCORE_OUT_LOGIT;
    c->faith.inf_samples = PERTURB_INFID_SAMPLES, c->faith.inf_sigma = 0.1;
    c->faith.inf_normalize = 1, c->faith.inf_output = SCORE_OUT_LOGIT;
    c->random.sens_samples = PERTURB_SENS_SAMPLES, c->random.sens_radius = 0.02;
    c->random.init = INIT_PYTORCH;
    ssim_params_default(&c->random.ssim);
    hog_params_default(&c->random.hog);
    c->sanity_cascading = c->sanity_independent = 1;
    c->n_boot = STATS_BOOT_DEFAULT_N, c->level = 0.95, c->paired = 1, c->block = 64;
    c->stability_fraction = SCORE_STABILITY_TOP_FRACTION;
}

int score_config_resolve(struct score_config *c, int H, int W)
{
    if (c->tolerance <= 0) c->tolerance = metrics_pointing_tolerance(H, W);
    if (c->top_k <= 0) c->top_k = (long long)metrics_top_k_default(H, W);
    if (c->top_k > (long long)H * W)
        return err_set("cannot use --top_k_intersection.k %lld: the maps have %d pixels",
                       c->top_k, H * W);
    if (perturb_schedule_init(&c->faith.deletion, H, W, c->deletion_steps,
                              (size_t)c->deletion_step) ||
        perturb_schedule_init(&c->faith.insertion, H, W, c->insertion_steps,
                              (size_t)c->insertion_step))
        return err_wrap("cannot use the deletion/insertion steps: ");
    int r;
    double s;
    perturb_blur_default(H, W, &r, &s);
    if (c->faith.blur_radius <= 0) c->faith.blur_radius = r;
    if (c->faith.blur_sigma <= 0) c->faith.blur_sigma = s;
    c->faith.seed = c->random.seed = c->seed;
    c->stability.k = score_stability_k(c->stability_fraction, (size_t)H * W);
    c->stability.abs = c->stability_abs;
    if (c->want[SCORE_SANITY_CHECK] && !c->sanity_cascading && !c->sanity_independent)
        return err_set("cannot run sanity_check: neither cascading nor independent mode");
    return 0;
}

/* ---- the resolved parameters as JSON ------------------------------------------------------ */

struct jbuf {
    char *s;
    size_t n, cap;
};

static void jput(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jput(struct jbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * b->cap + (size_t)(k > 0 ? k : 0) + 1;
        b->s = xrealloc(b->s, b->cap);
    }
}

char *score_config_json(const struct score_config *c)
{
    struct jbuf b = {xmalloc(512), 0, 512};
    const struct score_faith_params *f = &c->faith;
    jput(&b, "{\"metrics\":[");
    for (int m = 0, k = 0; m < SCORE_METRIC_COUNT; m++)
        if (c->want[m]) jput(&b, "%s\"%s\"", k++ ? "," : "", metric_table[m].name);
    jput(&b, "],\"ground_truth\":\"%s\",\"pointing_game.tolerance\":%.17g,", c->gt_masks ?
         "masks" : "boxes", c->tolerance);
    jput(&b, "\"pointing_game.tie_aware\":%d,\"top_k_intersection.k\":%lld,", c->tie_aware,
         c->top_k);
    jput(&b, "\"deletion.steps\":%d,\"deletion.step\":%zu,\"deletion.substrate\":\"%s\",",
         f->deletion.n_steps, f->deletion.step, score_substrate_name(f->substrate));
    jput(&b, "\"insertion.steps\":%d,\"insertion.step\":%zu,\"insertion.blur_radius\":%d,",
         f->insertion.n_steps, f->insertion.step, f->blur_radius);
    jput(&b, "\"insertion.blur_sigma\":%.17g,\"deletion.output\":\"%s\",", f->blur_sigma,
         score_output_name(f->deletion_output));
    jput(&b, "\"insertion.output\":\"%s\",\"faithfulness_correlation.runs\":%d,",
         score_output_name(f->insertion_output), f->fc_runs);
    jput(&b, "\"faithfulness_correlation.subset\":%u,\"faithfulness_correlation.output\":"
         "\"%s\",", f->fc_subset, score_output_name(f->fc_output));
    jput(&b, "\"infidelity.samples\":%d,\"infidelity.sigma\":%.17g,\"infidelity.normalize\":%d,",
         f->inf_samples, f->inf_sigma, f->inf_normalize);
    jput(&b, "\"infidelity.output\":\"%s\",\"sensitivity.samples\":%d,\"sensitivity.radius\":"
         "%.17g,", score_output_name(f->inf_output), c->random.sens_samples,
         c->random.sens_radius);
    jput(&b, "\"sanity_check.init\":\"%s\",\"sanity_check.cascading\":%d,"
         "\"sanity_check.independent\":%d,", init_scheme_name(c->random.init),
         c->sanity_cascading, c->sanity_independent);
    if (c->want[SCORE_MAP_STABILITY])
        jput(&b, "\"map_stability.top_fraction\":%.17g,\"map_stability.k\":%zu,"
             "\"map_stability.abs\":%d,", c->stability_fraction, c->stability.k, c->stability.abs);
    jput(&b, "\"seed\":%llu,\"bootstrap\":%d,\"level\":%.17g}", (unsigned long long)c->seed,
         c->n_boot, c->level);
    return b.s;
}

/* ---- results ------------------------------------------------------------------------------ */

void score_results_release(struct score_results *r)
{
    for (int i = 0; i < r->n_methods; i++) {
        struct score_method_result *m = &r->m[i];
        for (int j = 0; m->vals && j < r->ncols; j++)
            free(m->vals[j]);
        free(m->vals), free(m->pg[0]), free(m->pg[1]), free(m->sanity[0]), free(m->sanity[1]);
    }
    free(r->m), free(r->cols), free(r->layers), free(r->summary), free(r->paired);
    memset(r, 0, sizeof *r);
}

static void add_col(struct score_results *r, enum score_metric m, const char *suffix)
{
    struct score_col *c = &r->cols[r->ncols++];
    snprintf(c->name, sizeof c->name, "%s%s", metric_table[m].name, suffix);
    c->metric = m;
}

/* Columns in registry order. sanity_check has one per similarity (of the fully randomised
 * cascading step); random_logit's first column is the SSIM (Quantus' score), then the others. */
static void make_columns(struct score_results *r, const struct score_config *c)
{
    r->cols = xcalloc(SCORE_METRIC_COUNT + 8, sizeof *r->cols);
    for (int m = 0; m < SCORE_METRIC_COUNT; m++) {
        char suffix[32];
        if (!c->want[m] || (m == SCORE_SANITY_CHECK && !c->sanity_cascading)) continue;
        if (m == SCORE_SANITY_CHECK)
            for (int k = 0; k < 4; k++) {
                snprintf(suffix, sizeof suffix, "_%s", sim_names[k]);
                add_col(r, m, suffix);
            }
        else if (m == SCORE_RANDOM_LOGIT) {
            add_col(r, m, "");
            add_col(r, m, "_spearman_abs");
            add_col(r, m, "_spearman_signed");
            add_col(r, m, "_hog");
        } else if (m == SCORE_MAP_STABILITY) {
            add_col(r, m, "");
            add_col(r, m, "_topk");
        } else
            add_col(r, m, "");
    }
}

static int first_col(const struct score_results *r, enum score_metric m)
{
    for (int j = 0; j < r->ncols; j++)
        if (r->cols[j].metric == m) return j;
    return -1;
}

/* ---- one method ---------------------------------------------------------------------------- */

struct method_ctx {
    const struct score_config *c;
    struct model *m;
    struct score_data *d;
    struct h5table_file *out;
    struct score_results *r;
    struct score_method_result *res;
    const struct score_parts *parts; /* score --merge: values come from the parts */
    float *part_curves[2];           /* score --merge: [T, steps + 1] deletion, insertion */
    struct score_faith *faith;
    struct score_random *rnd;
    int *layers;
    int L, nthreads, max_obj, local, center;
    struct score_local_params lp;
    size_t hw, chw;
    struct h5table_stream *maps_in, *curve_out[2], *ref_in;
    /* block buffers */
    float *maps, *ref_maps, *x, *curves, black[MODEL_MAX_CHANNELS];
    uint8_t *img, *masks;
    double *a, *b;
    struct score_faith_trial *ft;
    int *ex, *cls;
    struct ssim_similarity *sim;
    /* per thread */
    unsigned char *scratch, *stab_scratch;
    size_t scratch_bytes, stab_bytes;
    uint8_t *gt;
    struct score_object *objs;
    /* per trial info columns */
    int64_t *gt_area;
    uint8_t *difficult;
    int32_t *rl_class;
};

static unsigned local_flags(const struct score_config *c)
{
    static const struct {
        enum score_metric m;
        unsigned f;
    } map[] = {{SCORE_POINTING_GAME, SCORE_LOCAL_POINTING},
               {SCORE_ENERGY_POINTING_GAME, SCORE_LOCAL_ENERGY},
               {SCORE_RELEVANCE_MASS, SCORE_LOCAL_MASS},
               {SCORE_RELEVANCE_RANK, SCORE_LOCAL_RANK},
               {SCORE_TOP_K_INTERSECTION, SCORE_LOCAL_TOPK},
               {SCORE_LOCALISATION_AUC, SCORE_LOCAL_AUC},
               {SCORE_SPARSENESS, SCORE_LOCAL_SPARSENESS},
               {SCORE_COMPLEXITY, SCORE_LOCAL_COMPLEXITY}};
    unsigned w = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (c->want[map[i].m]) w |= map[i].f;
    return w;
}

static int needs(const struct score_config *c, unsigned what)
{
    for (int m = 0; m < SCORE_METRIC_COUNT; m++)
        if (c->want[m] && (metric_table[m].needs & what)) return 1;
    return 0;
}

/* Localisation and complexity of trials [t0, t1), in parallel over trials. */
static void block_local(struct method_ctx *x, size_t t0, size_t t1, size_t r0)
{
    const struct score_data *d = x->d;
    const struct score_results *r = x->r;
    int gt_needed = (x->lp.which & SCORE_LOCAL_NEEDS_GT) != 0;
    static const enum score_metric order[8] = {
        SCORE_POINTING_GAME,    SCORE_ENERGY_POINTING_GAME, SCORE_RELEVANCE_MASS,
        SCORE_RELEVANCE_RANK,   SCORE_TOP_K_INTERSECTION,   SCORE_LOCALISATION_AUC,
        SCORE_SPARSENESS,       SCORE_COMPLEXITY};
    int col[8];
    for (int k = 0; k < 8; k++)
        col[k] = first_col(r, order[k]);
    long n = (long)(t1 - t0);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        int th = thread_id();
        size_t t = t0 + (size_t)i, row = d->trow[t];
        uint8_t *gt = x->gt + (size_t)th * 2 * x->hw, *boxes = gt + x->hw;
        size_t box_area = 0;
        if (gt_needed) {
            struct score_object *objs = x->objs + (size_t)th * x->max_obj;
            int nobj = score_data_objects(d, row, r0, x->masks, objs), ncls, hard;
            size_t area = score_local_gt(gt, objs, nobj, d->tcls[t], d->H, d->W, x->c->gt_masks,
                                         &ncls, &hard);
            x->gt_area[t] = (int64_t)area;
            x->difficult[t] = (uint8_t)hard;
            /* the energy-based pointing game is defined on boxes (METHODS.md); on masks it
             * would repeat relevance_mass for non-negative maps */
            int ncls_boxes, hard_boxes;
            if (x->c->gt_masks && col[1] >= 0)
                box_area = score_local_gt(boxes, objs, nobj, d->tcls[t], d->H, d->W, 0,
                                          &ncls_boxes, &hard_boxes);
        }
        struct score_local_out o;
        const float *map = x->maps + (size_t)i * x->hw;
        score_local_trial(&o, map, gt_needed ? gt : NULL, 0, d->H, d->W, &x->lp,
                          x->scratch + (size_t)th * x->scratch_bytes);
        if (gt_needed && x->c->gt_masks && col[1] >= 0 && metrics_map_finite(map, x->hw))
            o.energy = box_area ? metrics_energy_pointing(map, boxes, x->hw) : NAN;
        const double v[8] = {o.pointing, o.energy,     o.mass,      o.rank,
                             o.topk,     o.auc,        o.sparseness, o.complexity};
        for (int k = 0; k < 8; k++)
            if (col[k] >= 0) x->res->vals[col[k]][t] = v[k];
    }
}

static int block_faith(struct method_ctx *x, size_t t0, size_t t1, size_t r0)
{
    const struct score_data *d = x->d;
    int n = (int)(t1 - t0);
    for (int i = 0; i < n; i++) {
        size_t t = t0 + (size_t)i;
        x->ft[i] = (struct score_faith_trial){x->x + (d->trow[t] - r0) * x->chw,
                                              x->maps + (size_t)i * x->hw, d->tid[t], d->tcls[t]};
    }
    for (int k = 0; k < 2; k++) {
        enum score_metric m = k ? SCORE_INSERTION : SCORE_DELETION;
        if (!x->c->want[m]) continue;
        uint64_t f0 = score_faith_forwards(x->faith);
        if (score_faith_deletion(x->faith, x->ft, n, k, x->curves, x->a) ||
            h5table_stream_append(x->curve_out[k], x->curves, (size_t)n))
            return -1;
        x->res->fwd[m] += (double)(score_faith_forwards(x->faith) - f0);
        memcpy(x->res->vals[first_col(x->r, m)] + t0, x->a, (size_t)n * sizeof(double));
    }
    for (int k = 0; k < 2; k++) {
        enum score_metric m = k ? SCORE_INFIDELITY : SCORE_FAITHFULNESS_CORRELATION;
        if (!x->c->want[m]) continue;
        uint64_t f0 = score_faith_forwards(x->faith);
        double *dst = x->res->vals[first_col(x->r, m)] + t0;
        if (k ? score_faith_infidelity(x->faith, x->ft, n, dst)
              : score_faith_correlation(x->faith, x->ft, n, dst))
            return -1;
        x->res->fwd[m] += (double)(score_faith_forwards(x->faith) - f0);
    }
    return 0;
}

static void add_cost(struct method_ctx *x, enum score_metric m, struct saliency_cost before)
{
    struct saliency_cost now = score_random_cost(x->rnd);
    x->res->fwd[m] += (double)(now.forward - before.forward);
    x->res->bwd[m] += (double)(now.backward - before.backward);
}

static int block_random(struct method_ctx *x, size_t t0, size_t t1, size_t r0, size_t r1)
{
    const struct score_data *d = x->d;
    const struct score_config *c = x->c;
    int n = (int)(t1 - t0);
    for (int i = 0; i < n; i++)
        x->ex[i] = (int)(d->trow[t0 + (size_t)i] - r0), x->cls[i] = d->tcls[t0 + (size_t)i];
    struct score_random_block b = {(int)(r1 - r0), x->x, d->ids + r0, n, x->ex, x->cls, x->maps,
                                   x->black};
    struct saliency_cost c0 = score_random_cost(x->rnd);
    if (c->want[SCORE_MAX_SENSITIVITY] || c->want[SCORE_AVG_SENSITIVITY]) {
        if (score_random_sensitivity(x->rnd, x->a, x->b, &b)) return -1;
        int jm = first_col(x->r, SCORE_MAX_SENSITIVITY), ja = first_col(x->r, SCORE_AVG_SENSITIVITY);
        if (jm >= 0) memcpy(x->res->vals[jm] + t0, x->a, (size_t)n * sizeof(double));
        if (ja >= 0) memcpy(x->res->vals[ja] + t0, x->b, (size_t)n * sizeof(double));
        add_cost(x, jm >= 0 ? SCORE_MAX_SENSITIVITY : SCORE_AVG_SENSITIVITY, c0);
        if (jm >= 0 && ja >= 0) {
            x->res->fwd[SCORE_AVG_SENSITIVITY] = x->res->fwd[SCORE_MAX_SENSITIVITY];
            x->res->bwd[SCORE_AVG_SENSITIVITY] = x->res->bwd[SCORE_MAX_SENSITIVITY];
        }
    }
    if (c->want[SCORE_RANDOM_LOGIT]) {
        c0 = score_random_cost(x->rnd);
        if (score_random_logit(x->rnd, x->sim, x->rl_class + t0, &b, x->r->K)) return -1;
        add_cost(x, SCORE_RANDOM_LOGIT, c0);
        int j = first_col(x->r, SCORE_RANDOM_LOGIT);
        for (int i = 0; i < n; i++) {
            const double v[4] = {x->sim[i].spearman_abs, x->sim[i].spearman_signed,
                                 x->sim[i].ssim, x->sim[i].hog_spearman};
            x->res->vals[j][t0 + (size_t)i] = v[2]; /* column order: ssim, then the others */
            x->res->vals[j + 1][t0 + (size_t)i] = v[0];
            x->res->vals[j + 2][t0 + (size_t)i] = v[1];
            x->res->vals[j + 3][t0 + (size_t)i] = v[3];
        }
    }
    if (c->want[SCORE_SANITY_CHECK]) {
        c0 = score_random_cost(x->rnd);
        for (int mode = 0; mode < 2; mode++) {
            if (!x->res->sanity[mode]) continue;
            if (score_random_sanity(x->rnd, x->res->sanity[mode] + t0 * (size_t)x->L * 4, mode,
                                    x->layers, x->L, &b))
                return -1;
        }
        add_cost(x, SCORE_SANITY_CHECK, c0);
    }
    return 0;
}

/* map_stability of trials [t0, t1) against their reference maps, in parallel over trials. */
static int block_stability(struct method_ctx *x, size_t t0, size_t t1)
{
    struct score_data *d = x->d;
    if (score_data_read_ref_maps(d, x->ref_in, t0, t1, x->ref_maps)) return -1;
    int j = first_col(x->r, SCORE_MAP_STABILITY);
    long n = (long)(t1 - t0);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        int th = thread_id();
        size_t t = t0 + (size_t)i;
        if (d->ref_row[t] < 0) continue; /* no reference trial: stays NaN */
        score_stability_trial(&x->res->vals[j][t], &x->res->vals[j + 1][t],
                              x->ref_maps + (size_t)i * x->hw, x->maps + (size_t)i * x->hw,
                              x->hw, &x->c->stability,
                              x->stab_scratch + (size_t)th * x->stab_bytes);
    }
    return 0;
}

/* Values per row of curves/<method>/deletion (k = 0) or insertion (k = 1): start included. */
static size_t curve_len(const struct score_config *c, int k)
{
    return (size_t)(k ? c->faith.insertion.n_steps : c->faith.deletion.n_steps) + 1;
}

/* NaN rows in the deletion/insertion curves of n trials the re-run metrics skip. */
static int pad_curves(struct method_ctx *x, size_t n)
{
    for (int k = 0; k < 2; k++) {
        if (!x->curve_out[k]) continue;
        size_t values = n * curve_len(x->c, k);
        for (size_t i = 0; i < values; i++)
            x->curves[i] = NAN;
        if (h5table_stream_append(x->curve_out[k], x->curves, n)) return -1;
    }
    return 0;
}

static int block_run(struct method_ctx *x, size_t t0, size_t t1)
{
    struct score_data *d = x->d;
    size_t r0, r1;
    score_data_rows(d, t0, t1, &r0, &r1);
    if (h5table_stream_read(x->maps_in, d->t_off + t0, t1 - t0, x->maps) ||
        score_data_read_images(d, r0, r1, x->img))
        return -1;
    preprocess_forward(x->x, x->img, x->m->mean, x->m->std, (int)(r1 - r0), d->H, d->W, d->C);
    if ((x->lp.which & SCORE_LOCAL_NEEDS_GT) && score_data_read_masks(d, r0, r1, x->masks))
        return -1;
    if (x->lp.which) block_local(x, t0, t1, r0);
    /* the metrics that re-run the model or the method stop at trial T_rerun (--rerun-limit) */
    size_t tr = score_data_rerun_end(d, t0, t1), rr1;
    score_data_rows(d, t0, tr, &r0, &rr1);
    if (x->faith && tr > t0 && block_faith(x, t0, tr, r0)) return -1;
    if (x->rnd && tr > t0 && block_random(x, t0, tr, r0, rr1)) return -1;
    if (tr < t1 && pad_curves(x, t1 - tr)) return -1;
    if (x->ref_in && block_stability(x, t0, t1)) return -1;
    return 0;
}

/* ---- method setup and results ----------------------------------------------------------- */

/* Objects in the largest window of `rows` consecutive examples, and per example. */
static size_t max_objects(const struct score_data *d, size_t rows, int *per_example)
{
    size_t best = 0;
    *per_example = 0;
    for (size_t r = 0; r < d->n; r++) {
        size_t e = r + rows < d->n ? r + rows : d->n, k = d->obj_begin[e] - d->obj_begin[r];
        size_t one = d->obj_begin[r + 1] - d->obj_begin[r];
        best = k > best ? k : best;
        if ((int)one > *per_example) *per_example = (int)one;
    }
    return best;
}

static void *xalloc_aligned(size_t n)
{
    void *p = aligned_alloc(64, (n + 63) / 64 * 64);
    if (!p) cli_die("cannot allocate %zu bytes: out of memory", n);
    return p;
}

static void ctx_buffers(struct method_ctx *x)
{
    const struct score_data *d = x->d;
    size_t B = (size_t)x->c->block, T = d->T ? d->T : 1;
    int steps = x->c->faith.deletion.n_steps > x->c->faith.insertion.n_steps
                    ? x->c->faith.deletion.n_steps
                    : x->c->faith.insertion.n_steps;
    size_t mobj = max_objects(d, B, &x->max_obj);
    x->maps = xmalloc(B * x->hw * sizeof(float));
    x->img = xmalloc(B * x->chw);
    x->x = xmalloc(B * x->chw * sizeof(float));
    x->masks = xmalloc((mobj ? mobj : 1) * x->hw);
    x->curves = xmalloc(B * (size_t)(steps + 1) * sizeof(float));
    x->a = xmalloc(B * sizeof(double)), x->b = xmalloc(B * sizeof(double));
    x->ft = xmalloc(B * sizeof *x->ft);
    x->ex = xmalloc(B * sizeof(int)), x->cls = xmalloc(B * sizeof(int));
    x->sim = xmalloc(B * sizeof *x->sim);
    x->scratch_bytes = (score_local_scratch_bytes(d->H, d->W) + 63) / 64 * 64;
    x->scratch = xalloc_aligned((size_t)x->nthreads * x->scratch_bytes);
    x->gt = xmalloc((size_t)x->nthreads * 2 * x->hw); /* per thread: ground truth, boxes */
    if (x->c->want[SCORE_MAP_STABILITY]) {
        x->ref_maps = xmalloc(B * x->hw * sizeof(float));
        x->stab_bytes = (score_stability_scratch_bytes(x->hw) + 63) / 64 * 64;
        x->stab_scratch = xalloc_aligned((size_t)x->nthreads * x->stab_bytes);
    }
    x->objs = xmalloc((size_t)x->nthreads * (size_t)(x->max_obj ? x->max_obj : 1) *
                      sizeof *x->objs);
    for (int k = 0; k < 2 && x->parts; k++)
        if (x->c->want[k ? SCORE_INSERTION : SCORE_DELETION])
            x->part_curves[k] = xmalloc(T * curve_len(x->c, k) * sizeof(float));
    x->gt_area = xmalloc(T * sizeof *x->gt_area);
    x->difficult = xcalloc(T, 1);
    x->rl_class = xmalloc(T * sizeof *x->rl_class);
    for (size_t t = 0; t < T; t++)
        x->gt_area[t] = -1, x->rl_class[t] = -1;
    for (int ch = 0; ch < d->C; ch++)
        x->black[ch] = (float)((0.0 - x->m->mean[ch]) / x->m->std[ch]);
}

static void ctx_release(struct method_ctx *x)
{
    h5table_stream_close(x->maps_in);
    h5table_stream_close(x->ref_in);
    h5table_stream_close(x->curve_out[0]);
    h5table_stream_close(x->curve_out[1]);
    score_random_free(x->rnd);
    free(x->maps), free(x->img), free(x->x), free(x->masks), free(x->curves), free(x->a);
    free(x->b), free(x->ft), free(x->ex), free(x->cls), free(x->sim), free(x->scratch);
    free(x->gt), free(x->objs), free(x->gt_area), free(x->difficult), free(x->rl_class);
    free(x->ref_maps), free(x->stab_scratch), free(x->part_curves[0]), free(x->part_curves[1]);
}

static int apply_param(void *user, const char *key, const char *value)
{
    if (strcmp(key, "method") == 0) return 0;
    return saliency_param_set(user, key, value);
}

/* The method's parameters as recorded on maps/<method> (attribute "params", a JSON object of
 * saliency_params_json), resolved for the net. */
static int method_params(struct method_ctx *x, const char *method, struct saliency_params *p)
{
    int sm = saliency_method_from_name(method);
    char obj[128], *json = NULL;
    if (sm < 0)
        return err_set("cannot re-run method '%s' (needed by the robustness and randomisation "
                       "metrics): not an attribution method salbench knows",
                       method);
    saliency_params_init(p, (enum saliency_method)sm);
    snprintf(obj, sizeof obj, "maps/%s", method);
    int has = h5table_attr_exists(x->d->sal, obj, "params");
    if (has < 0) return -1;
    if (has) {
        int rc = h5table_attr_get_str(x->d->sal, obj, "params", &json) ||
                 scores_json_each(json, obj, apply_param, p);
        free(json);
        if (rc) return err_wrap("cannot read the parameters of '%s': ", method);
    }
    return saliency_params_resolve(p, x->m->net) ? err_wrap("cannot re-run '%s': ", method) : 0;
}

static int open_curve(struct method_ctx *x, int k, const char *method)
{
    char name[128];
    uint64_t dims[2] = {0, curve_len(x->c, k)};
    snprintf(name, sizeof name, "curves/%s/%s", method, k ? "insertion" : "deletion");
    x->curve_out[k] = h5table_stream_create_array(x->out, name, H5TABLE_F32, 2, dims);
    return x->curve_out[k] ? 0 : -1;
}

static int method_open(struct method_ctx *x, const char *method)
{
    const struct score_config *c = x->c;
    x->center = strcmp(method, "center") == 0;
    x->lp.center_point = x->center;
    x->maps_in = score_data_open_maps(x->d, method);
    if (!x->maps_in) return -1;
    if (c->want[SCORE_MAP_STABILITY] && !(x->ref_in = score_data_open_ref_maps(x->d, method)))
        return -1;
    for (int k = 0; k < 2; k++)
        if (c->want[k ? SCORE_INSERTION : SCORE_DELETION] && open_curve(x, k, method)) return -1;
    if (needs(c, SCORE_NEEDS_METHOD) && !x->parts) {
        struct saliency_params p;
        if (method_params(x, method, &p) ||
            score_random_create(&x->rnd, x->m->net, &p, &c->random, c->block, c->block))
            return -1;
    }
    struct score_method_result *res = x->res;
    snprintf(res->name, sizeof res->name, "%s", method);
    res->vals = xcalloc((size_t)x->r->ncols, sizeof *res->vals);
    for (int j = 0; j < x->r->ncols; j++) {
        res->vals[j] = xmalloc((x->d->T ? x->d->T : 1) * sizeof(double));
        for (size_t t = 0; t < x->d->T; t++)
            res->vals[j][t] = NAN;
    }
    for (int mode = 0; mode < 2 && c->want[SCORE_SANITY_CHECK]; mode++) {
        if (!(mode ? c->sanity_independent : c->sanity_cascading)) continue;
        size_t n = (x->d->T ? x->d->T : 1) * (size_t)x->L * 4;
        res->sanity[mode] = xmalloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            res->sanity[mode][i] = NAN; /* stays NaN past T_rerun */
    }
    return 0;
}

/* Cascading sanity columns (last step), pointing counts, costs per trial. */
static void method_finish(struct method_ctx *x)
{
    struct score_method_result *res = x->res;
    size_t T = x->d->T;
    int j = first_col(x->r, SCORE_SANITY_CHECK);
    for (size_t t = 0; j >= 0 && res->sanity[0] && t < T; t++)
        for (int k = 0; k < 4; k++)
            res->vals[j + k][t] = res->sanity[0][(t * (size_t)x->L + (size_t)x->L - 1) * 4 + k];
    int K = x->r->K, jp = first_col(x->r, SCORE_POINTING_GAME);
    res->pg[0] = xcalloc((size_t)K, sizeof *res->pg[0]);
    res->pg[1] = xcalloc((size_t)K, sizeof *res->pg[1]);
    for (size_t t = 0; jp >= 0 && t < T; t++) {
        metrics_pointing_add(res->pg[0], K, x->d->tcls[t], res->vals[jp][t]);
        if (x->difficult[t]) metrics_pointing_add(res->pg[1], K, x->d->tcls[t], res->vals[jp][t]);
    }
    for (int m = 0; m < SCORE_METRIC_COUNT; m++) {
        size_t n = score_metric_reruns((enum score_metric)m) ? x->d->T_rerun : T;
        res->fwd[m] = n ? res->fwd[m] / (double)n : 0;
        res->bwd[m] = n ? res->bwd[m] / (double)n : 0;
    }
}

static int method_write(struct method_ctx *x)
{
    const struct score_results *r = x->r;
    const struct score_config *c = x->c;
    struct scores_column *cols = xcalloc((size_t)r->ncols + 3, sizeof *cols);
    int n = 0;
    if (needs(c, SCORE_NEEDS_GT)) {
        cols[n++] = (struct scores_column){"gt_area", H5TABLE_I64, x->gt_area};
        cols[n++] = (struct scores_column){"difficult", H5TABLE_U8, x->difficult};
    }
    if (c->want[SCORE_RANDOM_LOGIT])
        cols[n++] = (struct scores_column){"random_logit_class", H5TABLE_I32, x->rl_class};
    for (int j = 0; j < r->ncols; j++)
        cols[n++] = (struct scores_column){r->cols[j].name, H5TABLE_F64, x->res->vals[j]};
    int rc = scores_write_trials(x->out, x->res->name, x->d->tid, x->d->tcls, x->d->T, cols, n);
    free(cols);
    for (int mode = 0; !rc && mode < 2; mode++) {
        if (!x->res->sanity[mode]) continue;
        char name[128];
        uint64_t dims[3] = {x->d->T, (uint64_t)x->L, 4};
        snprintf(name, sizeof name, "curves/%s/sanity_%s", x->res->name,
                 mode ? "independent" : "cascading");
        rc = h5table_write_array(x->out, name, H5TABLE_F64, 3, dims, x->res->sanity[mode]);
    }
    return rc;
}

/* score --merge: the method's values, curves and costs of every part into the result. */
static int parts_read(struct method_ctx *x)
{
    const struct score_results *r = x->r;
    struct score_part_column cols[SCORE_METRIC_COUNT + 16];
    struct score_part_cost costs[SCORE_METRIC_COUNT];
    int cost_metric[SCORE_METRIC_COUNT], n = 0, n_cost = 0;
    if (needs(x->c, SCORE_NEEDS_GT)) {
        cols[n++] = (struct score_part_column){"gt_area", H5TABLE_I64, x->gt_area};
        cols[n++] = (struct score_part_column){"difficult", H5TABLE_U8, x->difficult};
    }
    if (x->c->want[SCORE_RANDOM_LOGIT])
        cols[n++] = (struct score_part_column){"random_logit_class", H5TABLE_I32, x->rl_class};
    for (int j = 0; j < r->ncols; j++) {
        cols[n++] = (struct score_part_column){r->cols[j].name, H5TABLE_F64, x->res->vals[j]};
        if (first_col(r, r->cols[j].metric) != j) continue;
        costs[n_cost] = (struct score_part_cost){r->cols[j].name,
                                                 score_metric_reruns(r->cols[j].metric), 0, 0};
        cost_metric[n_cost++] = (int)r->cols[j].metric;
    }
    struct score_part_arrays a = {cols, n, {x->part_curves[0], x->part_curves[1]},
                                  {(int)curve_len(x->c, 0), (int)curve_len(x->c, 1)},
                                  {x->res->sanity[0], x->res->sanity[1]}, x->L, costs, n_cost};
    if (score_parts_read(x->parts, x->d, x->res->name, &a)) return -1;
    for (int i = 0; i < n_cost; i++) {
        x->res->fwd[cost_metric[i]] = costs[i].forward;
        x->res->bwd[cost_metric[i]] = costs[i].backward;
    }
    return 0;
}

/* score --merge: appends the curves of trials [t0, t1) as block_run does (the scored rows,
 * then the re-run limit's NaN rows), so the file is laid out as an unsharded run's. */
static int parts_block(struct method_ctx *x, size_t t0, size_t t1)
{
    size_t tr = score_data_rerun_end(x->d, t0, t1);
    size_t from[2] = {t0, tr}, to[2] = {tr, t1};
    for (int part = 0; part < 2; part++)
        for (int k = 0; k < 2 && to[part] > from[part]; k++) {
            if (!x->curve_out[k]) continue;
            size_t row = curve_len(x->c, k);
            if (h5table_stream_append(x->curve_out[k], x->part_curves[k] + from[part] * row,
                                      to[part] - from[part]))
                return -1;
        }
    return 0;
}

static int method_run(struct method_ctx *x, const char *method)
{
    size_t T = x->d->T, B = (size_t)x->c->block;
    struct cli_progress pr;
    if (method_open(x, method) || (x->parts && parts_read(x))) return -1;
    cli_progress_start(&pr, method, T);
    for (size_t t0 = 0, t1; t0 < T; t0 = t1) {
        t1 = score_data_block_end(x->d, t0, B);
        if (x->parts ? parts_block(x, t0, t1) : block_run(x, t0, t1)) return -1;
        cli_progress_update(&pr, t1);
    }
    cli_progress_finish(&pr);
    method_finish(x);
    return method_write(x);
}

/* ---- the run --------------------------------------------------------------------------- */

static int check_inputs(const struct score_config *c, const struct score_data *d)
{
    if (c->want[SCORE_MAP_STABILITY] && !d->ref)
        return err_set("cannot score 'map_stability': no --reference-saliency given");
    for (int m = 0; m < SCORE_METRIC_COUNT; m++) {
        if (!c->want[m] || !(metric_table[m].needs & SCORE_NEEDS_GT)) continue;
        if (d->n_obj == 0)
            return err_set("cannot score '%s': '%s' has no annotated objects", metric_table[m].name,
                           d->examples_path);
        if (c->gt_masks && d->n_masked == 0)
            return err_set("cannot score '%s': '%s' has no object masks (use --ground-truth "
                           "boxes to score against boxes)",
                           metric_table[m].name, d->examples_path);
    }
    return 0;
}

/* Sanity-check layers: every parameterised layer top-down, or the named ones (in that order). */
static int sanity_layers(struct score_results *r, const struct score_config *c,
                         const struct net *net, int **layers)
{
    int all[MODEL_MAX_LAYERS], n = score_random_layers(net, all, MODEL_MAX_LAYERS);
    n = n < MODEL_MAX_LAYERS ? n : MODEL_MAX_LAYERS;
    int L = c->sanity_layers ? c->n_sanity_layers : n;
    *layers = xcalloc((size_t)(L ? L : 1), sizeof **layers);
    r->layers = xcalloc((size_t)(L ? L : 1), sizeof *r->layers);
    for (int i = 0; i < L; i++) {
        int l = c->sanity_layers ? net_layer_index(net, c->sanity_layers[i]) : all[i], ok = 0;
        for (int k = 0; k < n && l >= 0; k++)
            ok |= all[k] == l;
        if (!ok)
            return err_set("cannot run sanity_check on layer '%s': %s", c->sanity_layers[i],
                           l < 0 ? "no such layer" : "it has no trainable parameters");
        (*layers)[i] = l;
        snprintf(r->layers[i], sizeof r->layers[i], "%s", net_layer_spec_at(net, l)->name);
    }
    if (L == 0) return err_set("cannot run sanity_check: the model has no parameterised layer");
    r->n_layers = L;
    return 0;
}

int score_run(struct score_results *r, const struct score_config *c, struct model *m,
              struct score_data *d, const struct score_parts *parts, struct h5table_file *out)
{
    memset(r, 0, sizeof *r);
    r->T = d->T, r->T_rerun = d->T_rerun, r->K = d->K, r->tolerance = c->tolerance;
    make_columns(r, c);
    r->m = xcalloc(d->n_methods ? d->n_methods : 1, sizeof *r->m);
    struct method_ctx x = {.c = c, .m = m, .d = d, .out = out, .r = r, .parts = parts,
                           .nthreads = 1};
#ifdef _OPENMP
    x.nthreads = omp_get_max_threads();
#endif
    x.hw = (size_t)d->H * d->W, x.chw = x.hw * d->C;
    x.lp = (struct score_local_params){.which = local_flags(c), .tolerance = c->tolerance,
                                       .tie_aware = c->tie_aware, .mass_abs = c->mass_abs,
                                       .rank_abs = c->rank_abs, .topk_abs = c->topk_abs,
                                       .auc_abs = c->auc_abs, .top_k = (size_t)c->top_k,
                                       .topk_concept = c->topk_concept};
    int rc = check_inputs(c, d);
    if (!rc && c->want[SCORE_SANITY_CHECK]) rc = sanity_layers(r, c, m->net, &x.layers);
    x.L = r->n_layers;
    if (!rc && needs(c, SCORE_NEEDS_FORWARD) && !parts)
        rc = score_faith_create(&x.faith, m->net, &c->faith, d->C, d->H, d->W, c->block);
    for (size_t k = 0; !rc && k < d->n_methods; k++) {
        struct method_ctx mx = x;
        mx.res = &r->m[r->n_methods++];
        ctx_buffers(&mx);
        rc = method_run(&mx, d->methods[k]);
        ctx_release(&mx);
    }
    score_faith_free(x.faith);
    free(x.layers);
    return rc;
}
