/* Backprop attribution methods (TorchRay conventions, METHODS.md Part 2 §2.1-2.2): gradient,
 * input x gradient, deconvnet and guided backprop (the engine's ReLU rules), Grad-CAM and
 * linear approximation at a layer, and Captum's guided Grad-CAM. Trials run in batches of up
 * to max_batch copies of their images: one forward per distinct image in the batch, shared by
 * its trials, and one backward pass per trial (guided Grad-CAM: two). Seed: one-hot at the
 * logits. Excitation backprop is in
 * saliency_excitation.c. */
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/saliency_internal.h"

struct bp_bufs {
    float *seed;    /* [max_batch, K] */
    float *layer;   /* [max_batch, lh * lw] layer-resolution maps */
    float *up;      /* [max_batch, HW] upsampled Grad-CAM (guided Grad-CAM) */
    float *scratch; /* [HW] smoothing */
    int *src;       /* [max_batch]: the forwarded row of each trial */
    int L, lc, lh, lw;
};

static int uses_layer(enum saliency_method m)
{
    return m == SALIENCY_GRADCAM || m == SALIENCY_GUIDED_GRADCAM || m == SALIENCY_LINEAR_APPROX;
}

static int plan(const struct sal_run *r, struct sal_carve *w, struct bp_bufs *b)
{
    memset(b, 0, sizeof *b);
    size_t B = (size_t)r->max_batch;
    b->seed = sal_take(w, B * r->K);
    b->scratch = sal_take(w, (size_t)r->HW);
    b->src = (int *)(void *)sal_take(w, B);
    if (uses_layer(r->p->method)) {
        b->L = net_layer_index(r->net, r->p->layer);
        if (b->L < 0) return err_wrap("cannot plan '%s': ", saliency_method_name(r->p->method));
        net_layer_shape(r->net, b->L, &b->lc, &b->lh, &b->lw);
        b->layer = sal_take(w, B * b->lh * b->lw);
        if (r->p->method == SALIENCY_GUIDED_GRADCAM) b->up = sal_take(w, B * r->HW);
    }
    return 0;
}

/* Grad-CAM (TorchRay grad_cam.py): w_c = mean_u dy/dA_cu, S_u = sum_c w_c A_cu, ReLU.
 * Linear approximation (TorchRay linear_approx.py): S_u = sum_c A_cu dy/dA_cu.
 * out [nb, lh*lw]. */
static void layer_maps(float *out, const struct sal_run *r, const struct bp_bufs *b, int nb,
                       int cam, int relu)
{
    const float *A = net_act(r->net, b->L).data, *G = net_grad(r->net, b->L).data;
    int C = b->lc, S = b->lh * b->lw;
    /* serial: a few FLOPs per layer element, less than a parallel region costs */
    for (int i = 0; i < nb; i++) {
        const float *a = A + (size_t)i * C * S, *g = G + (size_t)i * C * S;
        float *o = out + (size_t)i * S;
        for (int u = 0; u < S; u++)
            o[u] = 0;
        for (int c = 0; c < C; c++) {
            const float *ac = a + (size_t)c * S, *gc = g + (size_t)c * S;
            if (cam) {
                double m = 0;
                for (int u = 0; u < S; u++)
                    m += gc[u];
                float wc = (float)(m / S);
                for (int u = 0; u < S; u++)
                    o[u] += wc * ac[u];
            } else {
                for (int u = 0; u < S; u++)
                    o[u] += ac[u] * gc[u];
            }
        }
        if (relu)
            for (int u = 0; u < S; u++)
                o[u] = o[u] > 0 ? o[u] : 0;
    }
}

static void upsample_all(float *out, const float *in, const struct sal_run *r,
                         const struct bp_bufs *b, int nb)
{
    for (int i = 0; i < nb; i++)
        sal_upsample(out + (size_t)i * r->HW, in + (size_t)i * b->lh * b->lw, b->lh, b->lw,
                     r->H, r->W, (enum saliency_upsample)r->p->upsample);
}

static void smooth_all(float *maps, const struct sal_run *r, const struct bp_bufs *b, int nb)
{
    if (!(r->p->smooth > 0)) return;
    double sigma = r->p->smooth * (r->H > r->W ? r->H : r->W);
    for (int i = 0; i < nb; i++)
        sal_smooth(maps + (size_t)i * r->HW, r->H, r->W, sigma, 1, b->scratch);
}

/* Input-gradient methods: gradient, input x gradient, deconvnet, guided backprop. */
static int input_grad_chunk(struct sal_run *r, const struct bp_bufs *b, float *maps, int nb)
{
    enum saliency_method m = r->p->method;
    struct net_rules rules;
    memset(&rules, 0, sizeof rules);
    if (m == SALIENCY_DECONVNET) rules.rule[NET_RELU] = NET_RULE_DECONVNET;
    if (m == SALIENCY_GUIDED_BACKPROP) rules.rule[NET_RELU] = NET_RULE_GUIDED;
    if (net_backward(r->net, nb, NULL, b->seed, NULL, &rules, NET_GRAD_INPUT) < 0) return -1;
    const float *x = m == SALIENCY_INPUT_X_GRADIENT ? net_act(r->net, 0).data : NULL;
    sal_reduce(maps, net_grad(r->net, 0).data, x, nb, r->C, r->HW,
               (enum saliency_reduce)r->p->reduce, r->nthreads);
    smooth_all(maps, r, b, nb);
    return 0;
}

static int layer_chunk(struct sal_run *r, const struct bp_bufs *b, float *maps, int nb)
{
    if (net_backward(r->net, nb, NULL, b->seed, r->p->layer, NULL, 0) < 0) return -1;
    layer_maps(b->layer, r, b, nb, r->p->method == SALIENCY_GRADCAM, r->p->relu);
    upsample_all(maps, b->layer, r, b, nb);
    smooth_all(maps, r, b, nb);
    return 0;
}

/* Captum GuidedGradCam: ReLU'd Grad-CAM upsampled to the input, times the guided-backprop
 * input gradient channel by channel, then the channel reduction. */
static int guided_gradcam_chunk(struct sal_run *r, const struct bp_bufs *b, float *maps,
                                int nb)
{
    if (net_backward(r->net, nb, NULL, b->seed, r->p->layer, NULL, 0) < 0) return -1;
    layer_maps(b->layer, r, b, nb, 1, 1);
    upsample_all(b->up, b->layer, r, b, nb);
    struct net_rules rules;
    memset(&rules, 0, sizeof rules);
    rules.rule[NET_RELU] = NET_RULE_GUIDED;
    if (net_backward(r->net, nb, NULL, b->seed, NULL, &rules, NET_GRAD_INPUT) < 0) return -1;
    float *g = net_grad(r->net, 0).data;
    size_t HW = (size_t)r->HW;
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < r->C; c++) {
            float *gc = g + ((size_t)i * r->C + c) * HW;
            const float *u = b->up + (size_t)i * HW;
            for (size_t k = 0; k < HW; k++)
                gc[k] *= u[k];
        }
    sal_reduce(maps, g, NULL, nb, r->C, r->HW, (enum saliency_reduce)r->p->reduce,
               r->nthreads);
    sal_count(r, 0, (uint64_t)nb);
    return 0;
}

int sal_backprop_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct bp_bufs b;
    if (plan(r, w, &b) < 0) return -1;
    if (!r->in) return 0;
    enum saliency_method m = r->p->method;
    for (int t0 = 0, nb; t0 < r->in->t; t0 += nb) {
        nb = sal_batch_trials(r, t0);
        int nf = sal_forward_trials(r, t0, nb, b.src);
        if (nf < 0) return -1;
        sal_onehot(b.seed, r, t0, nb, 1.0f);
        float *out = maps + (size_t)t0 * r->HW;
        int rc = m == SALIENCY_GUIDED_GRADCAM ? guided_gradcam_chunk(r, &b, out, nb)
                 : uses_layer(m)              ? layer_chunk(r, &b, out, nb)
                                              : input_grad_chunk(r, &b, out, nb);
        if (rc < 0) return -1;
        sal_count(r, (uint64_t)nf, (uint64_t)nb);
    }
    return 0;
}
