/* The saliency method registry: names, per-method parameter tables with their documented
 * defaults, parsing from text, the JSON record, resolution of "auto" values against a net,
 * workspace sizing and the dispatch of saliency_compute. The methods themselves live in
 * saliency_{baseline,backprop,excitation,path,perturb,ep}.c. */
#include "pipeline/saliency.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/saliency_internal.h"

static const char *const sal_names[SALIENCY_METHOD_COUNT] = {
    "center",          "random",
    "gradient",        "input_x_gradient",
    "deconvnet",       "guided_backprop",
    "gradcam",         "guided_gradcam",
    "linear_approx",   "excitation_backprop",
    "contrastive_excitation_backprop",
    "integrated_gradients",
    "smoothgrad",      "smoothgrad_sq",
    "vargrad",         "occlusion",
    "rise",            "extremal_perturbation",
};

const char *saliency_method_name(enum saliency_method m)
{
    return (unsigned)m < SALIENCY_METHOD_COUNT ? sal_names[m] : "?";
}

int saliency_method_from_name(const char *name)
{
    for (int m = 0; m < SALIENCY_METHOD_COUNT; m++)
        if (strcmp(name, sal_names[m]) == 0) return m;
    return -1;
}

/* ---- parameter tables ---------------------------------------------------------------- */

#define REDUCE_CHOICES "max_abs|sum_abs|sum|l2|max"
#define P_SEED {"seed", SALIENCY_PARAM_U64, "0", NULL, 0, 0, 0, "RNG seed (set by --seed)"}
#define P_REDUCE(d) {"reduce", SALIENCY_PARAM_CHOICE, d, REDUCE_CHOICES, 0, 0, 0, \
                     "channel reduction of the input attribution"}
#define P_SMOOTH {"smooth", SALIENCY_PARAM_DOUBLE, "0", NULL, 0, 1, 0, \
                  "TorchRay Gaussian smoothing of the map, sigma = smooth * max(H, W)"}
#define P_LAYER(doc) {"layer", SALIENCY_PARAM_LAYER, "auto", NULL, 0, 0, 1, doc}
#define P_UPSAMPLE {"upsample", SALIENCY_PARAM_CHOICE, "bilinear", "bilinear|nearest", 0, 0, \
                    0, "layer map to input size (bilinear: align_corners=False)"}
#define P_SCORE(d) {"score", SALIENCY_PARAM_CHOICE, d, "output|logit", 0, 0, 0, \
                    "output: the model's sigmoid/softmax head; logit: raw class score"}
#define P_BASELINE {"baseline", SALIENCY_PARAM_CHOICE, "zero", "zero|black", 0, 0, 0, \
                    "zero in normalised space (dataset mean), or a black image"}
#define P_END {NULL, 0, NULL, NULL, 0, 0, 0, NULL}

static const struct saliency_param_info t_center[] = {
    {"sigma", SALIENCY_PARAM_DOUBLE, "0.25", NULL, 1e-3, 100, 0,
     "Gaussian sigma as a fraction of min(H, W)"},
    P_END};
static const struct saliency_param_info t_random[] = {P_SEED, P_END};
static const struct saliency_param_info t_gradient[] = {P_REDUCE("max_abs"), P_SMOOTH, P_END};
static const struct saliency_param_info t_ixg[] = {P_REDUCE("sum"), P_SMOOTH, P_END};
static const struct saliency_param_info t_gradcam[] = {
    P_LAYER("layer (auto: input of the last global average pool)"),
    {"relu", SALIENCY_PARAM_BOOL, "true", NULL, 0, 0, 0, "clamp the map at 0 (TorchRay)"},
    P_UPSAMPLE, P_SMOOTH, P_END};
static const struct saliency_param_info t_ggc[] = {
    P_LAYER("Grad-CAM layer (auto: input of the last global average pool)"), P_UPSAMPLE,
    P_REDUCE("max_abs"), P_END};
static const struct saliency_param_info t_linapprox[] = {
    P_LAYER("layer (auto: input of the last global average pool)"),
    {"relu", SALIENCY_PARAM_BOOL, "false", NULL, 0, 0, 0, "clamp the map at 0"},
    P_UPSAMPLE, P_SMOOTH, P_END};
static const struct saliency_param_info t_eb[] = {
    P_LAYER("saliency layer (auto: last pool before the Grad-CAM layer)"), P_UPSAMPLE,
    P_SMOOTH, P_END};
static const struct saliency_param_info t_ceb[] = {
    P_LAYER("saliency layer (auto: last pool before the Grad-CAM layer)"),
    {"contrast_layer", SALIENCY_PARAM_LAYER, "auto", NULL, 0, 0, 1,
     "contrast layer (auto: input of the classifier)"},
    P_UPSAMPLE, P_SMOOTH, P_END};
static const struct saliency_param_info t_ig[] = {
    {"steps", SALIENCY_PARAM_INT, "50", NULL, 1, 100000, 0, "quadrature points"},
    {"quadrature", SALIENCY_PARAM_CHOICE, "gausslegendre",
     "gausslegendre|riemann_left|riemann_right|riemann_middle|riemann_trapezoid", 0, 0, 0,
     "Captum approximation method"},
    P_BASELINE, P_REDUCE("sum"), P_END};
static const struct saliency_param_info t_sg[] = {
    {"samples", SALIENCY_PARAM_INT, "50", NULL, 1, 65535, 0, "noisy samples"},
    {"noise", SALIENCY_PARAM_DOUBLE, "0.15", NULL, 0, 100, 0,
     "noise sigma as a fraction of (max - min) of the input"},
    {"stdev", SALIENCY_PARAM_DOUBLE, "0", NULL, 0, 1e6, 0,
     "absolute noise sigma (Captum stdevs); > 0 overrides noise"},
    {"abs", SALIENCY_PARAM_BOOL, "false", NULL, 0, 0, 0,
     "average |gradient| (Captum Saliency) instead of the signed gradient"},
    P_REDUCE("max_abs"), P_SEED, P_END};
static const struct saliency_param_info t_occlusion[] = {
    {"window", SALIENCY_PARAM_INT, "auto", NULL, 0, 16384, 1,
     "square window side in pixels (auto: min(H, W) / 8)"},
    {"stride", SALIENCY_PARAM_INT, "auto", NULL, 0, 16384, 1, "stride (auto: window / 2)"},
    P_BASELINE, P_SCORE("output"), P_END};
static const struct saliency_param_info t_rise[] = {
    {"masks", SALIENCY_PARAM_INT, "8000", NULL, 1, 65536, 0, "number of random masks"},
    {"cells", SALIENCY_PARAM_INT, "7", NULL, 2, 64, 0, "grid cells per side"},
    {"p", SALIENCY_PARAM_DOUBLE, "0.5", NULL, 0, 1, 0, "probability that a cell is kept"},
    {"normalize", SALIENCY_PARAM_CHOICE, "n", "n|np", 0, 0, 0,
     "divide by N (TorchRay) or N * p (RISE paper)"},
    P_SCORE("output"), P_SEED, P_END};
static const struct saliency_param_info t_ep[] = {
    {"areas", SALIENCY_PARAM_LIST, "0.025,0.05,0.1,0.2", NULL, 1e-6, 1, 0,
     "target areas (map = sum of the area masks)"},
    {"iterations", SALIENCY_PARAM_INT, "800", NULL, 1, 1000000, 0, "optimisation steps"},
    {"levels", SALIENCY_PARAM_INT, "8", NULL, 2, 256, 0, "perturbation pyramid levels"},
    {"step", SALIENCY_PARAM_INT, "auto", NULL, 0, 4096, 1,
     "mask parameter step in pixels (auto: 7 at 224 px, scaled)"},
    {"sigma", SALIENCY_PARAM_DOUBLE, "auto", NULL, 0, 4096, 1,
     "mask smoothing in pixels (auto: 21 at 224 px, scaled)"},
    {"max_blur", SALIENCY_PARAM_DOUBLE, "auto", NULL, 0, 4096, 1,
     "largest blur sigma in pixels (auto: 20 at 224 px, scaled)"},
    {"variant", SALIENCY_PARAM_CHOICE, "preserve", "preserve|delete|dual", 0, 0, 0,
     "extremal perturbation game"},
    {"perturbation", SALIENCY_PARAM_CHOICE, "blur", "blur|fade", 0, 0, 0,
     "perturbation pyramid"},
    {"reward", SALIENCY_PARAM_CHOICE, "simple", "simple|contrastive", 0, 0, 0,
     "class score, or score minus the best other class"},
    {"jitter", SALIENCY_PARAM_BOOL, "true", NULL, 0, 0, 0, "flip the image on even steps"},
    {"regul_weight", SALIENCY_PARAM_DOUBLE, "300", NULL, 0, 1e9, 0,
     "area constraint weight at step 0, x 1.0035 per step (TorchRay's constant)"},
    P_SCORE("logit"), P_SMOOTH, P_END};

static const struct saliency_param_info *const sal_tables[SALIENCY_METHOD_COUNT] = {
    t_center,    t_random,   t_gradient, t_ixg,  t_gradient, t_gradient,
    t_gradcam,   t_ggc,      t_linapprox, t_eb,  t_ceb,      t_ig,
    t_sg,        t_sg,       t_sg,       t_occlusion, t_rise, t_ep,
};

int saliency_param_count(enum saliency_method m)
{
    SB_ASSERT((unsigned)m < SALIENCY_METHOD_COUNT);
    int n = 0;
    while (sal_tables[m][n].name)
        n++;
    return n;
}

const struct saliency_param_info *saliency_param_at(enum saliency_method m, int i)
{
    SB_ASSERT(i >= 0 && i < saliency_param_count(m));
    return &sal_tables[m][i];
}

static const struct saliency_param_info *find_param(enum saliency_method m, const char *name)
{
    for (const struct saliency_param_info *i = sal_tables[m]; i->name; i++)
        if (strcmp(i->name, name) == 0) return i;
    return NULL;
}

int saliency_param_exists(enum saliency_method m, const char *name)
{
    return (unsigned)m < SALIENCY_METHOD_COUNT && find_param(m, name) != NULL;
}

/* Where each parameter name lives in the struct. */
static void *param_field(struct saliency_params *p, const char *name)
{
#define F(n, f) if (strcmp(name, n) == 0) return &p->f
    F("seed", seed); F("reduce", reduce); F("layer", layer); F("contrast_layer", contrast_layer);
    F("relu", relu); F("upsample", upsample); F("smooth", smooth); F("steps", steps);
    F("quadrature", quadrature); F("baseline", baseline); F("samples", samples);
    F("noise", noise); F("stdev", stdev); F("abs", abs); F("window", window);
    F("stride", stride); F("score", score); F("masks", masks); F("cells", cells); F("p", p);
    F("normalize", normalize); F("areas", areas); F("iterations", iterations);
    F("levels", levels); F("step", step); F("sigma", sigma); F("max_blur", max_blur);
    F("variant", variant); F("perturbation", perturbation); F("reward", reward);
    F("jitter", jitter); F("regul_weight", regul_weight);
#undef F
    SB_ASSERT(0 && "parameter without a field");
    return NULL;
}

/* Index of `value` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value)
{
    size_t len = strlen(value);
    int i = 0;
    for (const char *s = choices;; i++) {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        if (n == len && strncmp(s, value, n) == 0) return i;
        if (!bar) return -1;
        s = bar + 1;
    }
}

/* The i-th choice into buf. */
static void choice_name(const char *choices, int idx, char *buf, size_t size)
{
    const char *s = choices;
    for (int i = 0; i < idx && s; i++) {
        s = strchr(s, '|');
        if (s) s++;
    }
    const char *bar = s ? strchr(s, '|') : NULL;
    size_t n = !s ? 0 : bar ? (size_t)(bar - s) : strlen(s);
    if (n >= size) n = size - 1;
    memcpy(buf, s ? s : "", n);
    buf[n] = '\0';
}

static int parse_double(const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

#define SET_FAIL(fmt, ...)                                                                     \
    err_set("cannot set '%s' parameter '%s': " fmt, saliency_method_name(p->method), i->name,  \
            __VA_ARGS__)

static int set_number(struct saliency_params *p, const struct saliency_param_info *i,
                      const char *v, void *f)
{
    double d;
    if (i->allow_auto && strcmp(v, "auto") == 0) {
        d = 0;
    } else if (parse_double(v, &d) < 0) {
        return SET_FAIL("'%s' is not a number", v);
    } else if (d < i->min || d > i->max) {
        return SET_FAIL("'%s' is not in [%g, %g]", v, i->min, i->max);
    }
    if (i->type == SALIENCY_PARAM_DOUBLE) {
        *(double *)f = d;
        return 0;
    }
    if (d != floor(d)) return SET_FAIL("'%s' is not an integer", v);
    *(int *)f = (int)d;
    return 0;
}

static int set_list(struct saliency_params *p, const struct saliency_param_info *i,
                    const char *v)
{
    char buf[256];
    if (strlen(v) >= sizeof buf) return SET_FAIL("'%.32s...' is too long", v);
    strcpy(buf, v);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        double d;
        if (n == SALIENCY_MAX_AREAS) return SET_FAIL("more than %d values", SALIENCY_MAX_AREAS);
        if (parse_double(tok, &d) < 0) return SET_FAIL("'%s' is not a number", tok);
        if (d < i->min || d > i->max)
            return SET_FAIL("'%s' is not in [%g, %g]", tok, i->min, i->max);
        p->areas[n++] = d;
    }
    if (n == 0) return SET_FAIL("'%s' holds no value", v);
    p->n_areas = n;
    return 0;
}

int saliency_param_set(struct saliency_params *p, const char *name, const char *v)
{
    const struct saliency_param_info *i = find_param(p->method, name);
    if (!i)
        return err_set("cannot set '%s' parameter '%s': no such parameter",
                       saliency_method_name(p->method), name);
    void *f = param_field(p, name);
    switch (i->type) {
    case SALIENCY_PARAM_INT:
    case SALIENCY_PARAM_DOUBLE:
        return set_number(p, i, v, f);
    case SALIENCY_PARAM_U64: {
        char *end;
        errno = 0;
        unsigned long long u = strtoull(v, &end, 10);
        if (end == v || *end || errno || v[0] == '-')
            return SET_FAIL("'%s' is not an unsigned integer", v);
        *(uint64_t *)f = u;
        return 0;
    }
    case SALIENCY_PARAM_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes")) *(int *)f = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no")) *(int *)f = 0;
        else return SET_FAIL("'%s' is not true or false", v);
        return 0;
    case SALIENCY_PARAM_CHOICE: {
        int k = choice_index(i->choices, v);
        if (k < 0) return SET_FAIL("'%s' is not one of %s", v, i->choices);
        *(int *)f = k;
        return 0;
    }
    case SALIENCY_PARAM_LAYER:
        if (!v[0] || strlen(v) >= NET_NAME_MAX) return SET_FAIL("'%s' is not a layer name", v);
        strcpy((char *)f, v);
        return 0;
    case SALIENCY_PARAM_LIST:
        return set_list(p, i, v);
    }
    return SET_FAIL("%s", "unknown parameter type");
}

void saliency_params_init(struct saliency_params *p, enum saliency_method m)
{
    SB_ASSERT((unsigned)m < SALIENCY_METHOD_COUNT);
    memset(p, 0, sizeof *p);
    p->method = m;
    for (const struct saliency_param_info *i = sal_tables[m]; i->name; i++) {
        int rc = saliency_param_set(p, i->name, i->def);
        SB_ASSERT(rc == 0);
    }
}

/* ---- JSON ------------------------------------------------------------------------------ */

/* Shortest of %.15g / %.17g that reads back exactly. */
static void fmt_double(char *buf, size_t size, double d)
{
    snprintf(buf, size, "%.15g", d);
    if (strtod(buf, NULL) != d) snprintf(buf, size, "%.17g", d);
}

static void param_text(const struct saliency_params *p, const struct saliency_param_info *i,
                       char *buf, size_t size)
{
    const void *f = param_field((struct saliency_params *)p, i->name);
    char tmp[64];
    switch (i->type) {
    case SALIENCY_PARAM_INT:
        snprintf(buf, size, "%d", *(const int *)f);
        return;
    case SALIENCY_PARAM_U64:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)f);
        return;
    case SALIENCY_PARAM_DOUBLE:
        fmt_double(buf, size, *(const double *)f);
        return;
    case SALIENCY_PARAM_BOOL:
        snprintf(buf, size, "%s", *(const int *)f ? "true" : "false");
        return;
    case SALIENCY_PARAM_CHOICE:
        choice_name(i->choices, *(const int *)f, tmp, sizeof tmp);
        snprintf(buf, size, "\"%s\"", tmp);
        return;
    case SALIENCY_PARAM_LAYER:
        snprintf(buf, size, "\"%s\"", (const char *)f);
        return;
    case SALIENCY_PARAM_LIST: {
        size_t used = 0;
        used += (size_t)snprintf(buf, size, "[");
        for (int k = 0; k < p->n_areas && used < size; k++) {
            fmt_double(tmp, sizeof tmp, p->areas[k]);
            used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "", tmp);
        }
        if (used < size) snprintf(buf + used, size - used, "]");
        return;
    }
    }
}

size_t saliency_params_json(const struct saliency_params *p, char *buf, size_t size)
{
    char val[512];
    size_t used = 0;
    char dummy[1];
    if (!buf || size == 0) {
        buf = dummy;
        size = 1;
    }
#define EMIT(...)                                                                              \
    do {                                                                                       \
        int k_ = snprintf(buf + (used < size ? used : size - 1),                              \
                          used < size ? size - used : 1, __VA_ARGS__);                         \
        used += (size_t)(k_ > 0 ? k_ : 0);                                                     \
    } while (0)
    EMIT("{\"method\": \"%s\"", saliency_method_name(p->method));
    for (const struct saliency_param_info *i = sal_tables[p->method]; i->name; i++) {
        param_text(p, i, val, sizeof val);
        EMIT(", \"%s\": %s", i->name, val);
    }
    EMIT("}");
#undef EMIT
    return used;
}

/* ---- resolution ------------------------------------------------------------------------ */

static int needs_grad(enum saliency_method m)
{
    return !(m == SALIENCY_CENTER || m == SALIENCY_RANDOM || m == SALIENCY_OCCLUSION ||
             m == SALIENCY_RISE);
}

static int layer_kind(const struct net *net, int i)
{
    return (int)net_layer_spec_at(net, i)->kind;
}

/* Input of the last global average pool, else the last layer before the logits with a
 * spatial output. */
static int auto_cam_layer(const struct net *net)
{
    int logits = net_logits_layer(net);
    for (int i = logits; i > 0; i--) {
        if (layer_kind(net, i) == NET_GLOBAL_AVGPOOL) {
            int in[NET_MAX_INPUTS];
            net_layer_inputs(net, i, in);
            return in[0];
        }
    }
    for (int i = logits - 1; i > 0; i--) {
        int c, h, w;
        net_layer_shape(net, i, &c, &h, &w);
        if (h * w > 1) return i;
    }
    return -1;
}

static int auto_eb_layer(const struct net *net)
{
    int cam = auto_cam_layer(net);
    for (int i = cam - 1; i > 0; i--)
        if (layer_kind(net, i) == NET_MAXPOOL || layer_kind(net, i) == NET_AVGPOOL) return i;
    return cam;
}

/* The last conv2d/linear layer. */
static int classifier_layer(const struct net *net)
{
    for (int i = net_layer_count(net) - 1; i > 0; i--)
        if (layer_kind(net, i) == NET_CONV2D || layer_kind(net, i) == NET_LINEAR) return i;
    return -1;
}

#define RES_FAIL(name, fmt, ...)                                                               \
    err_set("cannot resolve '%s' parameter '%s': " fmt, saliency_method_name(p->method), name, \
            __VA_ARGS__)

static int resolve_layer(struct saliency_params *p, const struct net *net, char *field,
                         const char *pname, int auto_index)
{
    if (strcmp(field, "auto") == 0) {
        if (auto_index <= 0) return RES_FAIL(pname, "%s", "no suitable layer in this net");
        snprintf(field, NET_NAME_MAX, "%s", net_layer_spec_at(net, auto_index)->name);
    }
    int i = net_layer_index(net, field);
    if (i < 0) return RES_FAIL(pname, "no layer '%s'", field);
    if (i == 0 || i >= net_logits_layer(net))
        return RES_FAIL(pname, "layer '%s' is not between the input and the logits", field);
    return i;
}

static int resolve_layers(struct saliency_params *p, const struct net *net)
{
    switch (p->method) {
    case SALIENCY_GRADCAM:
    case SALIENCY_GUIDED_GRADCAM:
    case SALIENCY_LINEAR_APPROX:
        return resolve_layer(p, net, p->layer, "layer", auto_cam_layer(net)) < 0 ? -1 : 0;
    case SALIENCY_EXCITATION_BACKPROP:
        return resolve_layer(p, net, p->layer, "layer", auto_eb_layer(net)) < 0 ? -1 : 0;
    case SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP: {
        int cls = classifier_layer(net), in[NET_MAX_INPUTS];
        if (cls <= 0) return RES_FAIL("contrast_layer", "%s", "the net has no classifier");
        net_layer_inputs(net, cls, in);
        int s = resolve_layer(p, net, p->layer, "layer", auto_eb_layer(net));
        if (s < 0) return -1;
        int c = resolve_layer(p, net, p->contrast_layer, "contrast_layer", in[0]);
        if (c < 0) return -1;
        if (c <= s || c >= cls)
            return RES_FAIL("contrast_layer", "'%s' is not between layer '%s' and the "
                            "classifier '%s'", p->contrast_layer, p->layer,
                            net_layer_spec_at(net, cls)->name);
        return 0;
    }
    default:
        return 0;
    }
}

static int resolve_sizes(struct saliency_params *p, int H, int W)
{
    int side = H < W ? H : W;
    double s = side / 224.0;
    if (p->method == SALIENCY_OCCLUSION) {
        if (p->window == 0) p->window = lround(side / 8.0) > 1 ? (int)lround(side / 8.0) : 1;
        if (p->stride == 0) p->stride = p->window / 2 > 1 ? p->window / 2 : 1;
        if (p->window > side)
            return RES_FAIL("window", "%d is larger than the input (%dx%d)", p->window, H, W);
    }
    if (p->method == SALIENCY_EXTREMAL_PERTURBATION) {
        if (p->step == 0) p->step = lround(7 * s) > 1 ? (int)lround(7 * s) : 1;
        if (p->sigma == 0) p->sigma = 21 * s;
        if (p->max_blur == 0) p->max_blur = 20 * s;
    }
    return 0;
}

int saliency_params_resolve(struct saliency_params *p, const struct net *net)
{
    int C, H, W;
    net_layer_shape(net, 0, &C, &H, &W);
    if (needs_grad(p->method) && !net_grad(net, 0).data)
        return err_set("cannot resolve '%s': the net was built without gradients",
                       saliency_method_name(p->method));
    if (resolve_layers(p, net) < 0) return -1;
    return resolve_sizes(p, H, W);
}

/* ---- dispatch -------------------------------------------------------------------------- */

typedef int (*sal_run_fn)(struct sal_run *r, float *maps, struct sal_carve *w);

static sal_run_fn method_fn(enum saliency_method m)
{
    switch (m) {
    case SALIENCY_CENTER: return sal_center_run;
    case SALIENCY_RANDOM: return sal_random_run;
    case SALIENCY_EXCITATION_BACKPROP:
    case SALIENCY_CONTRASTIVE_EXCITATION_BACKPROP: return sal_excitation_run;
    case SALIENCY_INTEGRATED_GRADIENTS:
    case SALIENCY_SMOOTHGRAD:
    case SALIENCY_SMOOTHGRAD_SQ:
    case SALIENCY_VARGRAD: return sal_path_run;
    case SALIENCY_OCCLUSION: return sal_occlusion_run;
    case SALIENCY_RISE: return sal_rise_run;
    case SALIENCY_EXTREMAL_PERTURBATION: return sal_ep_run;
    default: return sal_backprop_run;
    }
}

static void run_init(struct sal_run *r, struct net *net, const struct saliency_params *p,
                     int nthreads)
{
    memset(r, 0, sizeof *r);
    r->net = net;
    r->p = p;
    r->nthreads = nthreads < 1 ? 1 : nthreads;
    net_layer_shape(net, 0, &r->C, &r->H, &r->W);
    r->HW = r->H * r->W;
    r->logits = net_logits_layer(net);
    int c, h, w;
    net_layer_shape(net, r->logits, &c, &h, &w);
    r->K = c * h * w;
    r->score_layer = p->score == SALIENCY_SCORE_LOGIT ? r->logits : net_output_layer(net);
    r->max_batch = net_max_batch(net);
}

int saliency_workspace_floats(const struct net *net, const struct saliency_params *p,
                              int nthreads, size_t *floats)
{
    struct sal_run r;
    run_init(&r, (struct net *)net, p, nthreads);
    struct sal_carve w = {NULL, 0};
    if (method_fn(p->method)(&r, NULL, &w) < 0) return -1;
    *floats = w.used + 16;
    return 0;
}

static int check_input(const struct sal_run *r, const struct saliency_input *in)
{
    const char *m = saliency_method_name(r->p->method);
    for (int t = 0; t < in->t; t++) {
        int e = in->example[t];
        if (e < 0 || e >= in->n || (t > 0 && e < in->example[t - 1]))
            return err_set("cannot compute '%s' maps: trial %d names example %d (of %d, "
                           "trials must follow the example order)", m, t, e, in->n);
        if (in->cls[t] < 0 || in->cls[t] >= r->K)
            return err_set("cannot compute '%s' map of example %016llx: class %d is out of "
                           "range (the model has %d classes)", m,
                           (unsigned long long)in->ids[e], in->cls[t], r->K);
    }
    for (int t = 0; t < in->t;) {
        int k = sal_example_trials(in, t);
        if (k > r->K)
            return err_set("cannot compute '%s' maps: %d trials of one example (the model has "
                           "%d classes)", m, k, r->K);
        t += k;
    }
    int base = r->p->method == SALIENCY_INTEGRATED_GRADIENTS ||
               r->p->method == SALIENCY_OCCLUSION;
    if (base && r->p->baseline == SALIENCY_BASE_BLACK && !in->black)
        return err_set("cannot compute '%s' maps: baseline 'black' needs the model's "
                       "normalisation", m);
    return 0;
}

int saliency_compute(float *maps, struct net *net, const struct saliency_params *p,
                     const struct saliency_input *in, float *work, int nthreads,
                     struct saliency_cost *cost)
{
    struct sal_run r;
    run_init(&r, net, p, nthreads);
    r.in = in;
    r.cost = cost;
    if (check_input(&r, in) < 0) return -1;
    if (in->t == 0) return 0;
    struct sal_carve w = {work, 0};
    if (method_fn(p->method)(&r, maps, &w) < 0) return -1;
    return sal_check_finite(&r, maps);
}
