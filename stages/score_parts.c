/* score --merge: reading back and checking the parts of a sharded score run (score_parts.h). */
#include "stages/score_parts.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/scores.h"
#include "pipeline/err.h"
#include "stages/common.h"

/* The inputs a score run can name: a part must name the same ones with the same content. */
static const char *const input_roles[] = {"model", "examples", "saliency", "predictions",
                                          "reference_saliency"};

static int check_inputs(const char *path, const struct h5table_provenance *prov,
                        const struct h5table_input *inputs, int ninputs)
{
    for (size_t r = 0; r < sizeof input_roles / sizeof *input_roles; r++) {
        int ours = -1;
        for (int i = 0; i < ninputs; i++)
            if (strcmp(inputs[i].role, input_roles[r]) == 0) ours = i;
        uint64_t h = 0;
        int theirs = h5table_provenance_input(prov, input_roles[r], NULL, &h);
        if (theirs < 0) return err_wrap("cannot merge '%s': ", path);
        if (theirs != (ours >= 0))
            return err_set("cannot merge '%s': it was scored %s a %s input, this run %s", path,
                           theirs ? "with" : "without", input_roles[r], theirs ? "without" : "with");
        if (ours >= 0 && h != *inputs[ours].hash)
            return err_set("cannot merge '%s': its %s is not '%s' (content hash %016" PRIx64
                           ", not %016" PRIx64 ")",
                           path, input_roles[r], inputs[ours].path, h, *inputs[ours].hash);
    }
    return 0;
}

static int check_part(const char *path, struct h5table_file *f, const char *want_params,
                      uint32_t k, uint32_t n, const struct h5table_input *inputs, int ninputs)
{
    struct h5table_provenance prov;
    h5table_provenance_init(&prov);
    int rc = h5table_read_provenance(f, &prov) ? err_wrap("cannot merge '%s': ", path) : 0;
    if (!rc && strcmp(prov.stage, "score") != 0)
        rc = err_set("cannot merge '%s': it was written by stage '%s', not score", path,
                     prov.stage);
    if (!rc && strcmp(prov.params, want_params) != 0)
        rc = err_set("cannot merge '%s': it is not shard %u/%u of a score run with this run's "
                     "options (its params: %s)",
                     path, k, n, prov.params);
    if (!rc) rc = check_inputs(path, &prov, inputs, ninputs);
    h5table_provenance_release(&prov);
    return rc;
}

int score_parts_open(struct score_parts *p, const char *const *paths, int n,
                     const struct score_data *d,
                     char *(*params_for)(uint32_t k, uint32_t n, void *user), void *user,
                     const struct h5table_input *inputs, int ninputs)
{
    memset(p, 0, sizeof *p);
    p->n = n, p->paths = paths;
    p->files = xcalloc((size_t)n, sizeof *p->files);
    p->begin = xcalloc((size_t)n + 1, sizeof *p->begin);
    for (int k = 0; k < n; k++) {
        size_t b, e;
        score_data_shard_bounds(d, (uint32_t)k, (uint32_t)n, &b, &e);
        p->begin[k] = b, p->begin[k + 1] = e; /* shards of sorted ids are consecutive ranges */
    }
    for (int k = 0; k < n; k++) {
        if (!(p->files[k] = h5table_open(paths[k]))) return -1;
        char *want = params_for((uint32_t)k, (uint32_t)n, user);
        int rc = check_part(paths[k], p->files[k], want, (uint32_t)k, (uint32_t)n, inputs,
                            ninputs);
        free(want);
        if (rc) return -1;
    }
    return 0;
}

void score_parts_close(struct score_parts *p)
{
    for (int k = 0; p->files && k < p->n; k++)
        h5table_close(p->files[k]);
    free(p->files), free(p->begin);
    memset(p, 0, sizeof *p);
}

/* The part's trials/<method> must be the shard's trials: same ids and classes, in order. */
static int check_trials(const struct score_parts *p, int k, const struct score_data *d,
                        const char *method)
{
    size_t b = p->begin[k], nk = p->begin[k + 1] - b, T = 0, Tc = 0;
    uint64_t *ids = NULL;
    int32_t *cls = NULL;
    int rc = scores_read_trial_values(p->files[k], method, "example_id", H5TABLE_U64,
                                      (void **)&ids, &T) ||
                     scores_read_trial_values(p->files[k], method, "class_id", H5TABLE_I32,
                                              (void **)&cls, &Tc)
                 ? err_wrap("cannot merge '%s': ", p->paths[k])
                 : 0;
    if (!rc && T != nk)
        rc = err_set("cannot merge '%s': trials/%s has %zu trials, shard %d/%d of '%s' has %zu",
                     p->paths[k], method, T, k, p->n, d->saliency_path, nk);
    for (size_t i = 0; !rc && i < nk; i++)
        if (ids[i] != d->tid[b + i] || cls[i] != d->tcls[b + i])
            rc = err_set("cannot merge '%s': trial %zu of trials/%s is (example_id %016" PRIx64
                         ", class %d), not (%016" PRIx64 ", %d)",
                         p->paths[k], i, method, ids[i], cls[i], d->tid[b + i], d->tcls[b + i]);
    free(ids), free(cls);
    return rc;
}

/* Reads array `name` of part k, which must be [nk, row...] of `type`, into dst at trial b. */
static int read_rows(const struct score_parts *p, int k, const char *name, enum h5table_type type,
                     int rank, size_t row_elems, void *dst)
{
    size_t b = p->begin[k], nk = p->begin[k + 1] - b, size = h5table_type_size(type);
    uint64_t dims[H5TABLE_MAX_RANK];
    void *data = NULL;
    if (h5table_read_array(p->files[k], name, type, rank, dims, &data))
        return err_wrap("cannot merge '%s': ", p->paths[k]);
    size_t elems = 1;
    for (int i = 1; i < rank; i++)
        elems *= (size_t)dims[i];
    int rc = 0;
    if (dims[0] != nk || elems != row_elems)
        rc = err_set("cannot merge '%s': '%s' has %" PRIu64 " rows of %zu values, not %zu of %zu",
                     p->paths[k], name, dims[0], elems, nk, row_elems);
    else if (nk)
        memcpy((char *)dst + b * row_elems * size, data, nk * row_elems * size);
    free(data);
    return rc;
}

/* Adds part k's passes of every costed metric: its table gives passes per trial it scored. */
static int read_costs(const struct score_parts *p, int k, const struct score_data *d,
                      const char *method, const struct score_part_arrays *a)
{
    size_t b = p->begin[k], nk = p->begin[k + 1] - b;
    size_t nr = score_data_rerun_end(d, b, b + nk) - b;
    struct scores_metric_row *rows = NULL;
    size_t n = 0;
    if (scores_read_metrics(p->files[k], &rows, &n))
        return err_wrap("cannot merge '%s': ", p->paths[k]);
    int rc = 0;
    for (int c = 0; !rc && c < a->n_cost; c++) {
        struct score_part_cost *cost = &a->costs[c];
        size_t i = 0;
        while (i < n && (strcmp(rows[i].method, method) || strcmp(rows[i].metric, cost->col)))
            i++;
        if (i == n) {
            rc = err_set("cannot merge '%s': its metrics table has no row (%s, %s)", p->paths[k],
                         method, cost->col);
            break;
        }
        /* totals are whole numbers of passes: the rounding recovers them exactly */
        double trials = (double)(cost->reruns ? nr : nk);
        cost->forward += (double)llround(rows[i].forward_per_trial * trials);
        cost->backward += (double)llround(rows[i].backward_per_trial * trials);
    }
    free(rows);
    return rc;
}

int score_parts_read(const struct score_parts *p, const struct score_data *d, const char *method,
                     const struct score_part_arrays *a)
{
    static const char *const curve[2] = {"deletion", "insertion"};
    static const char *const mode[2] = {"cascading", "independent"};
    char name[256];
    for (int c = 0; c < a->n_cost; c++)
        a->costs[c].forward = a->costs[c].backward = 0;
    for (int k = 0; k < p->n; k++) {
        if (check_trials(p, k, d, method)) return -1;
        for (int j = 0; j < a->ncols; j++) {
            const struct score_part_column *col = &a->cols[j];
            size_t b = p->begin[k], nk = p->begin[k + 1] - b, T = 0;
            size_t size = h5table_type_size(col->type);
            void *v = NULL;
            if (scores_read_trial_values(p->files[k], method, col->name, col->type, &v, &T))
                return err_wrap("cannot merge '%s': ", p->paths[k]);
            if (nk) memcpy((char *)col->dst + b * size, v, nk * size);
            free(v);
        }
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "curves/%s/%s", method, curve[i]);
            if (a->curves[i] &&
                read_rows(p, k, name, H5TABLE_F32, 2, (size_t)a->curve_len[i], a->curves[i]))
                return -1;
            snprintf(name, sizeof name, "curves/%s/sanity_%s", method, mode[i]);
            if (a->sanity[i] &&
                read_rows(p, k, name, H5TABLE_F64, 3, (size_t)a->L * 4, a->sanity[i]))
                return -1;
        }
        if (read_costs(p, k, d, method, a)) return -1;
    }
    return 0;
}
