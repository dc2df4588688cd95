/* Which trials bin/export shows: the first N or every N-th exportable example, given example
 * ids, or the K worst/best trials by one metric of scores.h5. See export.h. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"
#include "stages/common.h"
#include "stages/export.h"

size_t export_shown_trial(const struct export_data *d, size_t r)
{
    size_t p = d->pred_row[r];
    for (size_t t = d->tbegin[r]; p != SIZE_MAX && t < d->tbegin[r + 1]; t++)
        if (d->tcls[t] == d->predicted[p]) return t;
    size_t best = d->tbegin[r];
    for (size_t t = d->tbegin[r]; t < d->tbegin[r + 1]; t++)
        if (d->tcls[t] < d->tcls[best]) best = t;
    return best;
}

struct pick_list {
    struct export_pick *p;
    size_t n, cap;
};

static void add(struct pick_list *l, size_t t, long rank, double v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->p = xrealloc(l->p, l->cap * sizeof *l->p);
    }
    l->p[l->n++] = (struct export_pick){t, rank, v};
}

static void add_example(const struct export_data *d, struct pick_list *l, size_t r, int all)
{
    if (!all) {
        add(l, export_shown_trial(d, r), -1, NAN);
        return;
    }
    for (size_t t = d->tbegin[r]; t < d->tbegin[r + 1]; t++)
        add(l, t, -1, NAN);
}

static int by_example(const struct export_data *d, const struct export_selection *s,
                      struct pick_list *l)
{
    if (s->mode == EXPORT_IDS) {
        for (size_t i = 0; i < s->n_ids; i++) {
            for (size_t j = 0; j < i; j++)
                if (s->ids[j] == s->ids[i])
                    return err_set("cannot select example %016" PRIx64 ": listed twice",
                                   s->ids[i]);
            size_t r = 0;
            while (r < d->ex.n && d->ex.ids[r] != s->ids[i])
                r++;
            if (r == d->ex.n)
                return err_set("cannot select example %016" PRIx64 ": not in '%s'", s->ids[i],
                               d->examples_path);
            if (d->tbegin[r] == d->tbegin[r + 1])
                return err_set("cannot select example %016" PRIx64 ": it has no trial in '%s'",
                               s->ids[i], d->saliency_path);
            add_example(d, l, r, s->all_trials);
        }
        return 0;
    }
    size_t pos = 0; /* 1-based position among exportable examples, after the increment */
    for (size_t r = 0; r < d->ex.n; r++) {
        if (d->tbegin[r] == d->tbegin[r + 1]) continue;
        pos++;
        if (s->mode == EXPORT_FIRST && pos > s->n) break;
        if (s->mode == EXPORT_EVERY && pos % s->n != 0) continue;
        add_example(d, l, r, s->all_trials);
    }
    return 0;
}

struct ranked {
    size_t t;
    double key; /* lower = picked first */
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

static int by_metric(const struct export_data *d, const struct export_selection *s,
                     struct pick_list *l)
{
    const char *slash = strchr(s->by, '/');
    if (!slash || slash == s->by || !slash[1])
        return err_set("cannot rank by '%s': expected METRIC/METHOD", s->by);
    if (!d->scores_path) return err_set("cannot rank by '%s': no --scores file", s->by);
    int si = export_data_scores_of(d, slash + 1);
    if (si < 0)
        return err_set("cannot rank by '%s': '%s' has no scores of method '%s'", s->by,
                       d->scores_path, slash + 1);
    const struct export_scores *e = &d->scores[si];
    int k = 0;
    size_t mlen = (size_t)(slash - s->by);
    while (k < e->n_metrics && !(strlen(e->metrics[k]) == mlen &&
                                 strncmp(e->metrics[k], s->by, mlen) == 0))
        k++;
    if (k == e->n_metrics)
        return err_set("cannot rank by '%s': '%s' has no metric '%.*s' for method '%s'", s->by,
                       d->scores_path, (int)mlen, s->by, e->method);
    /* worst = the low end when higher is better; the key sorts the wanted end first */
    double sign = (s->mode == EXPORT_WORST ? 1.0 : -1.0) * e->higher_is_better[k];
    struct ranked *rk = xmalloc((d->T ? d->T : 1) * sizeof *rk);
    size_t n = 0;
    for (size_t t = 0; t < d->T; t++) {
        double v = e->values[(size_t)k * d->T + t];
        if (!isnan(v)) rk[n++] = (struct ranked){t, sign * v};
    }
    qsort(rk, n, sizeof *rk, cmp_ranked);
    for (size_t i = 0; i < n && i < s->n; i++)
        add(l, rk[i].t, (long)i, e->values[(size_t)k * d->T + rk[i].t]);
    free(rk);
    return 0;
}

static int cmp_pick(const void *a, const void *b)
{
    const struct export_pick *x = a, *y = b;
    return x->trial < y->trial ? -1 : x->trial > y->trial;
}

int export_select(const struct export_data *d, const struct export_selection *sel,
                  struct export_pick **picks, size_t *n)
{
    struct pick_list l = {NULL, 0, 0};
    int rc = sel->mode == EXPORT_WORST || sel->mode == EXPORT_BEST ? by_metric(d, sel, &l)
                                                                   : by_example(d, sel, &l);
    if (rc) {
        free(l.p);
        return -1;
    }
    /* one sample per trial even when an id is given with --all-trials and its shown trial */
    qsort(l.p, l.n, sizeof *l.p, cmp_pick);
    size_t w = 0;
    for (size_t i = 0; i < l.n; i++)
        if (w == 0 || l.p[w - 1].trial != l.p[i].trial) l.p[w++] = l.p[i];
    *picks = l.p ? l.p : xmalloc(1);
    *n = w;
    return 0;
}
