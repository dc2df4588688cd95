/* aggregate: the report's view of a chain (formats/report.h structs pointing into struct
 * agg_chain), with the exported samples found by walking exports/BBBBB/SS/ in name order. */
#include "stages/aggregate.h"

#include "stages/common.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Sorted names of the entries of dir that are directories (want_dir) or regular files, without
 * dot files. *names xmalloc'd; 0 entries when dir cannot be read. */
static size_t agg_list(const char *dir, int want_dir, char ***names)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    size_t k = 0;
    *names = xcalloc(n > 0 ? (size_t)n : 1, sizeof **names);
    for (int i = 0; i < n; i++) {
        struct stat st;
        char *p = xmalloc(strlen(dir) + strlen(ents[i]->d_name) + 2);
        sprintf(p, "%s/%s", dir, ents[i]->d_name);
        if (ents[i]->d_name[0] != '.' && stat(p, &st) == 0 &&
            (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
            (*names)[k++] = xstrdup(ents[i]->d_name);
        free(p);
        free(ents[i]);
    }
    free(ents);
    return k;
}

static void agg_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int agg_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "label 3" from metadata.txt's "targets" (Armory's key), or NULL. */
static char *agg_caption(const char *dir)
{
    char *path = xmalloc(strlen(dir) + sizeof "/metadata.txt");
    sprintf(path, "%s/metadata.txt", dir);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) return NULL;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strstr(buf, "\"targets\":");
    if (!p) return NULL;
    p += strlen("\"targets\":");
    while (*p == ' ' || *p == '\n')
        p++;
    /* a number, or a list of labels (multi-label) printed on one line */
    char cap[64] = "label ";
    size_t k = strlen(cap);
    int list = *p == '[';
    for (; *p && k + 1 < sizeof cap; p++) {
        if (!list && (*p == ',' || *p == '}' || *p == '\n')) break;
        if (*p == '\n' || *p == ' ') continue;
        cap[k++] = *p;
        if (list && *p == ']') break;
    }
    cap[k] = '\0';
    return xstrdup(cap);
}

/* One sample: input.png first, then saliency_<method>.png by name, then other PNGs. */
static void agg_sample(struct report_sample *s, const char *dir, const char *batch,
                       const char *sample)
{
    char **files;
    size_t n = agg_list(dir, 0, &files);
    struct report_image *im = xcalloc(n ? n : 1, sizeof *im);
    size_t k = 0;
    for (int pass = 0; pass < 3; pass++)
        for (size_t i = 0; i < n; i++) {
            const char *f = files[i];
            int is_input = strcmp(f, "input.png") == 0;
            int is_sal = !is_input && strncmp(f, "saliency_", 9) == 0 && agg_ends_with(f, ".png");
            int is_png = agg_ends_with(f, ".png");
            if (!(pass == 0 ? is_input : pass == 1 ? is_sal : is_png && !is_input && !is_sal))
                continue;
            size_t len = strlen(f) - 4;
            char *label = xmalloc(len + 1);
            const char *from = is_sal ? f + 9 : f;
            len = is_sal ? len - 9 : len;
            memcpy(label, from, len);
            label[len] = '\0';
            char *path = xmalloc(strlen(dir) + strlen(f) + 2);
            sprintf(path, "%s/%s", dir, f);
            im[k].label = label;
            im[k].path = path;
            k++;
        }
    agg_list_free(files, n);
    char *title = xmalloc(strlen(batch) + strlen(sample) + 2);
    sprintf(title, "%s/%s", batch, sample);
    s->title = title;
    s->caption = agg_caption(dir);
    s->images = im;
    s->nimages = k;
}

static void agg_samples(struct report_chain *rc, const char *exports, size_t max)
{
    char **batches;
    size_t nb = agg_list(exports, 1, &batches);
    struct report_sample *s = xcalloc(max ? max : 1, sizeof *s);
    size_t k = 0;
    for (size_t b = 0; b < nb && k < max; b++) {
        char *bdir = xmalloc(strlen(exports) + strlen(batches[b]) + 2);
        sprintf(bdir, "%s/%s", exports, batches[b]);
        char **samples;
        size_t ns = agg_list(bdir, 1, &samples);
        for (size_t i = 0; i < ns && k < max; i++) {
            char *sdir = xmalloc(strlen(bdir) + strlen(samples[i]) + 2);
            sprintf(sdir, "%s/%s", bdir, samples[i]);
            agg_sample(&s[k], sdir, batches[b], samples[i]);
            if (s[k].nimages) k++;
            else free((void *)s[k].title), free((void *)s[k].caption), free((void *)s[k].images);
            free(sdir);
        }
        agg_list_free(samples, ns);
        free(bdir);
    }
    agg_list_free(batches, nb);
    rc->samples = s;
    rc->nsamples = k;
}

static void agg_fact(struct report_fact *f, size_t *n, const char *key, const char *fmt,
                     double v)
{
    char buf[64];
    if (isnan(v)) return;
    snprintf(buf, sizeof buf, fmt, v);
    f[*n].key = key;
    f[(*n)++].value = xstrdup(buf);
}

void agg_report_chain(struct report_chain *rc, const struct agg_chain *c, size_t max_samples)
{
    memset(rc, 0, sizeof *rc);
    rc->name = c->name;
    rc->status = c->failed ? "FAILED" : "FINISHED";
    rc->failure = c->failed ? c->reason : NULL;
    struct report_fact *f = xcalloc(12, sizeof *f);
    size_t n = 0;
    if (c->has_predictions) {
        agg_fact(f, &n, "examples", "%.0f", (double)c->n_examples);
        agg_fact(f, &n, c->has_perturbation ? "accuracy under attack" : "accuracy", "%.4f",
                 c->accuracy);
        agg_fact(f, &n, "mAP", "%.4f", c->map);
        agg_fact(f, &n, "top-1 hit", "%.4f", c->top1_hit);
        agg_fact(f, &n, "exact match", "%.4f", c->exact_match);
    }
    if (c->has_perturbation) {
        if (c->attack[0]) f[n].key = "attack", f[n++].value = xstrdup(c->attack);
        agg_fact(f, &n, "attack success rate", "%.4f", c->success_rate);
        agg_fact(f, &n, "mean L-inf (0..1 pixels)", "%.5f", c->linf_mean);
        agg_fact(f, &n, "mean L2 (0..1 pixels)", "%.4f", c->l2_mean);
    }
    rc->facts = f;
    rc->nfacts = n;
    rc->summary = c->summary;
    rc->nsummary = c->nsummary;
    rc->metrics = c->metrics;
    rc->nmetrics = c->nmetrics;
    rc->pclasses = c->pclasses;
    rc->npclasses = c->npclasses;
    struct report_curve *cv = xcalloc(c->nmethods ? c->nmethods : 1, sizeof *cv);
    size_t k = 0;
    for (size_t i = 0; i < c->nmethods; i++) {
        const struct agg_method *m = &c->methods[i];
        if (!m->deletion && !m->insertion) continue;
        cv[k].method = m->name;
        cv[k].deletion = m->deletion, cv[k].ndeletion = m->ndeletion;
        cv[k].insertion = m->insertion, cv[k].ninsertion = m->ninsertion;
        k++;
    }
    rc->curves = cv;
    rc->ncurves = k;
    if (c->exports_dir && max_samples) agg_samples(rc, c->exports_dir, max_samples);
}

void agg_report_chain_release(struct report_chain *rc)
{
    for (size_t i = 0; i < rc->nfacts; i++)
        free((void *)rc->facts[i].value);
    free((void *)rc->facts);
    free((void *)rc->curves);
    for (size_t s = 0; s < rc->nsamples; s++) {
        const struct report_sample *sm = &rc->samples[s];
        for (size_t i = 0; i < sm->nimages; i++)
            free((void *)sm->images[i].label), free((void *)sm->images[i].path);
        free((void *)sm->images), free((void *)sm->title), free((void *)sm->caption);
    }
    free((void *)rc->samples);
    memset(rc, 0, sizeof *rc);
}
