/* merge: concatenates the shard parts of any per-example stage's output (`STAGE --shard K/N`)
 * into the file the unsharded run writes. Tables keyed by example_id and the arrays row-aligned
 * with them are concatenated in shard order; every other dataset and every attribute must be
 * identical in all parts and is copied once; the root `params` get "shard":"0/1", as an
 * unsharded run writes them. Everything is checked before the output is created, and the
 * output is written to a temp file renamed at the end (formats/h5table). Not a general HDF5
 * concatenation tool: parts must come from one stage run with one set of parameters. */
#include "formats/h5copy.h"
#include "formats/h5table.h"
#include "pipeline/err.h"
#include "stages/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const merge_usage[] = {
    "merge --out FILE [--sum NAME,...] [--drop-differing] PART.h5...   (options before the parts)",
    "  --out FILE          merged file to write (replaced atomically)",
    "  PART.h5...          the parts of one stage run, shard 0/N to N-1/N, in that order",
    "  --drop-differing    leave out attributes whose values differ between parts (per-shard",
    "                      summaries such as an accuracy) instead of failing; they are listed",
    "                      on stderr and in the root attribute merge_dropped",
    "  --sum NAME,...      add up these numeric attributes when they differ between parts",
    "                      (per-shard counts: n_examples, n_trials, forward_passes...)",
    "Rules: a table with a uint64 `example_id` column is concatenated (ids ascending, each in",
    "its part's shard); a numeric array whose first dimension equals the rows of such a table",
    "in every part is concatenated; anything else must be identical in every part and is",
    "copied once.",
    "A runtime failure (exit 1) includes parts that do not fit together.",
    NULL};

#define MERGE_BATCH_BYTES ((size_t)8 << 20)

struct merge_part {
    const char *path;
    struct h5table_file *f;
    struct h5table_provenance prov;
    char *params; /* params JSON with "shard":"0/1" */
    uint32_t k, n;
    struct h5copy_dataset *ds;
    size_t nds;
};

struct merge {
    const char *out;
    int drop;
    struct cli_list sum; /* attribute names added up across parts when they differ */
    struct merge_part *parts;
    int np;
    int *concat;     /* per dataset of part 0: 1 concatenate, 0 copy once */
    char **dropped;  /* "object:attribute" left out */
    size_t ndropped;
};

/* ---- provenance --------------------------------------------------------------------------- */

/* Replaces the value of "shard" in cli_params_json text by "0/1"; parses K/N into the part. */
static void merge_shard(struct merge_part *p)
{
    const char *key = "\"shard\":\"";
    char *at = strstr(p->prov.params, key);
    unsigned k, n;
    char end;
    if (!at || sscanf(at + strlen(key), "%u/%u%c", &k, &n, &end) != 3 || end != '"' || k >= n)
        cli_die("cannot merge '%s': its params have no \"shard\":\"K/N\" (not the output of a "
                "sharded stage)", p->path);
    p->k = k, p->n = n;
    const char *rest = strchr(at + strlen(key), '"');
    size_t head = (size_t)(at - p->prov.params) + strlen(key);
    p->params = xmalloc(head + strlen(rest) + 4);
    memcpy(p->params, p->prov.params, head);
    strcpy(p->params + head, "0/1");
    strcat(p->params, rest);
}

static void merge_check_provenance(struct merge *M)
{
    const struct merge_part *a = &M->parts[0];
    for (int i = 0; i < M->np; i++) {
        struct merge_part *p = &M->parts[i];
        merge_shard(p);
        if (p->n != (uint32_t)M->np)
            cli_die("cannot merge '%s': it is shard %u/%u but %d parts were given (give all %u "
                    "parts, in shard order)", p->path, p->k, p->n, M->np, p->n);
        if (p->k != (uint32_t)i)
            cli_die("cannot merge '%s': it is shard %u/%u, expected shard %d/%u in this place "
                    "(give the parts in shard order)", p->path, p->k, p->n, i, p->n);
        const char *what = strcmp(p->prov.stage, a->prov.stage) ? "stage"
                           : strcmp(p->prov.version, a->prov.version) ? "salbench_version"
                           : strcmp(p->params, a->params) ? "params (apart from the shard)"
                           : strcmp(p->prov.inputs, a->prov.inputs) ? "inputs" : NULL;
        if (what)
            cli_die("cannot merge '%s': its %s differ from those of '%s' (parts of different "
                    "runs)", p->path, what, a->path);
    }
}

/* ---- datasets ----------------------------------------------------------------------------- */

static const struct h5copy_dataset *merge_find(const struct merge_part *p, const char *name)
{
    for (size_t i = 0; i < p->nds; i++)
        if (strcmp(p->ds[i].name, name) == 0) return &p->ds[i];
    return NULL;
}

/* Rows of the keyed tables of p: 1 when some keyed table of p has `rows` rows. */
static int merge_matches_keyed(const struct merge_part *p, uint64_t rows)
{
    for (size_t i = 0; i < p->nds; i++)
        if (p->ds[i].keyed && p->ds[i].dims[0] == rows) return 1;
    return 0;
}

/* ids of keyed dataset d of part p ascend and lie in its shard; sets its first and last id. */
static void merge_check_ids(const struct merge_part *p, const struct h5copy_dataset *d,
                            uint64_t *first, uint64_t *last)
{
    size_t per = MERGE_BATCH_BYTES / d->row_bytes + 1;
    unsigned char *buf = xmalloc(per * d->row_bytes);
    uint64_t prev = 0;
    for (uint64_t r = 0; r < d->dims[0]; r += per) {
        size_t m = d->dims[0] - r < per ? (size_t)(d->dims[0] - r) : per;
        if (h5copy_read_rows(p->f, d->name, r, m, buf)) cli_fail();
        for (size_t j = 0; j < m; j++) {
            uint64_t id;
            memcpy(&id, buf + j * d->row_bytes + d->key_offset, sizeof id);
            if (r + j > 0 && id < prev)
                cli_die("cannot merge '%s': '%s' row %" PRIu64 " has example_id %016" PRIx64
                        " after %016" PRIx64 " (not ascending)", p->path, d->name, r + j, id,
                        prev);
            if (cli_shard_of(id, p->n) != p->k)
                cli_die("cannot merge '%s': '%s' row %" PRIu64 " has example_id %016" PRIx64
                        ", which belongs to shard %u/%u, not %u/%u", p->path, d->name, r + j, id,
                        cli_shard_of(id, p->n), p->n, p->k, p->n);
            if (r + j == 0) *first = id;
            prev = id;
        }
    }
    *last = prev;
    free(buf);
}

/* 1 when dataset d holds the same bytes in parts a and b. */
static int merge_same_bytes(const struct merge_part *a, const struct merge_part *b,
                            const struct h5copy_dataset *d)
{
    const struct h5copy_dataset *e = merge_find(b, d->name);
    if (d->rank != e->rank || (d->rank && d->dims[0] != e->dims[0])) return 0;
    uint64_t rows = d->rank ? d->dims[0] : 1;
    size_t per = MERGE_BATCH_BYTES / d->row_bytes + 1;
    unsigned char *x = xmalloc(per * d->row_bytes), *y = xmalloc(per * d->row_bytes);
    int same = 1;
    for (uint64_t r = 0; same && r < rows; r += per) {
        size_t m = rows - r < per ? (size_t)(rows - r) : per;
        if (h5copy_read_rows(a->f, d->name, r, m, x) || h5copy_read_rows(b->f, d->name, r, m, y))
            cli_fail();
        same = memcmp(x, y, m * d->row_bytes) == 0;
    }
    free(x);
    free(y);
    return same;
}

static void merge_classify(struct merge *M)
{
    const struct merge_part *a = &M->parts[0];
    M->concat = xcalloc(a->nds ? a->nds : 1, sizeof *M->concat);
    for (int i = 1; i < M->np; i++) {
        const struct merge_part *p = &M->parts[i];
        for (size_t j = 0; j < p->nds; j++)
            if (!merge_find(a, p->ds[j].name))
                cli_die("cannot merge '%s': dataset '%s' is not in '%s'", p->path,
                        p->ds[j].name, a->path);
    }
    for (size_t j = 0; j < a->nds; j++) {
        const struct h5copy_dataset *d = &a->ds[j];
        int aligned = d->rank > 0 && !d->compound;
        for (int i = 0; i < M->np; i++) {
            const struct merge_part *p = &M->parts[i];
            const struct h5copy_dataset *e = merge_find(p, d->name);
            if (!e) cli_die("cannot merge '%s': dataset '%s' is missing", p->path, d->name);
            int same = i == 0 ? 1 : h5copy_same_layout(a->f, p->f, d->name);
            if (same < 0) cli_fail();
            if (!same) cli_die("cannot merge '%s': %s", p->path, err_msg());
            aligned = aligned && merge_matches_keyed(p, e->dims[0]);
        }
        M->concat[j] = d->keyed || aligned;
        uint64_t first = 0, last = 0, prev_last = 0;
        int have_prev = 0;
        for (int i = 0; d->keyed && i < M->np; i++) {
            const struct merge_part *p = &M->parts[i];
            if (merge_find(p, d->name)->dims[0] == 0) continue;
            merge_check_ids(p, merge_find(p, d->name), &first, &last);
            if (have_prev && first <= prev_last)
                cli_die("cannot merge '%s': '%s' starts at example_id %016" PRIx64 ", not after "
                        "the previous part's last %016" PRIx64, p->path, d->name, first,
                        prev_last);
            prev_last = last, have_prev = 1;
        }
        for (int i = 1; !M->concat[j] && i < M->np; i++)
            if (!merge_same_bytes(a, &M->parts[i], d))
                cli_die("cannot merge '%s': dataset '%s' differs from '%s' and is neither keyed "
                        "by example_id nor row-aligned with a keyed table", M->parts[i].path,
                        d->name, a->path);
    }
}

/* ---- attributes --------------------------------------------------------------------------- */

static int merge_is_summed(const struct merge *M, const char *name)
{
    for (int i = 0; i < M->sum.n; i++)
        if (strcmp(M->sum.items[i], name) == 0) return 1;
    return 0;
}

/* Writes the sum over the parts of a numeric scalar attribute (int64 stays int64, a float
 * becomes float64). */
static int merge_attr_sum(struct merge *M, struct h5table_file *out, const char *obj,
                          const char *name)
{
    int64_t total = 0, v;
    double ftotal = 0, f;
    int is_int = 1;
    for (int i = 0; is_int && i < M->np; i++) {
        is_int = h5table_attr_get_i64(M->parts[i].f, obj, name, &v) == 0;
        total += is_int ? v : 0;
    }
    for (int i = 0; !is_int && i < M->np; i++) {
        if (h5table_attr_get_f64(M->parts[i].f, obj, name, &f))
            cli_die("cannot merge '%s': attribute '%s' of '%s' is not a number to add up (--sum)",
                    M->parts[i].path, name, obj);
        ftotal += f;
    }
    return is_int ? h5table_attr_set_i64(out, obj, name, total)
                  : h5table_attr_set_f64(out, obj, name, ftotal);
}

/* 1 when attribute `name` of obj is equal in all parts (the root's params were compared
 * already, normalised), 2 when it differs and is to be summed, 0 when it differs and was
 * recorded as dropped (without --drop-differing: fails). */
static int merge_attr_agrees(struct merge *M, const char *obj, const char *name)
{
    if (strcmp(obj, "/") == 0 && strcmp(name, "params") == 0) return 1;
    for (int i = 1; i < M->np; i++) {
        int eq = h5copy_attr_equal(M->parts[0].f, obj, M->parts[i].f, obj, name);
        if (eq < 0) cli_fail();
        if (eq) continue;
        if (merge_is_summed(M, name)) return 2;
        if (!M->drop)
            cli_die("cannot merge '%s': attribute '%s' of '%s' differs from '%s' (a per-shard "
                    "value: --sum %s adds it up, --drop-differing leaves it out)",
                    M->parts[i].path, name, obj, M->parts[0].path, name);
        size_t len = strlen(obj) + strlen(name) + 2;
        M->dropped = xrealloc(M->dropped, (M->ndropped + 1) * sizeof *M->dropped);
        M->dropped[M->ndropped] = xmalloc(len);
        snprintf(M->dropped[M->ndropped++], len, "%s:%s", obj, name);
        return 0;
    }
    return 1;
}

/* Copies the attributes of obj (in part 0's order) that every part agrees on. */
static int merge_attrs(struct merge *M, struct h5table_file *out, const char *obj)
{
    char **names = NULL;
    size_t n = 0;
    if (h5copy_attr_names(M->parts[0].f, obj, &names, &n)) return -1;
    for (int i = 1; i < M->np; i++) { /* attributes only some parts have */
        char **other;
        size_t m;
        if (h5copy_attr_names(M->parts[i].f, obj, &other, &m)) return -1;
        size_t common = 0;
        for (size_t a = 0; a < m; a++)
            for (size_t b = 0; b < n; b++)
                common += strcmp(other[a], names[b]) == 0;
        h5table_list_free(other, m);
        if (common != m || m != n)
            cli_die("cannot merge '%s': the attributes of '%s' are not those of '%s'",
                    M->parts[i].path, obj, M->parts[0].path);
    }
    int rc = 0;
    for (size_t a = 0; rc == 0 && a < n; a++) {
        int agree = merge_attr_agrees(M, obj, names[a]);
        if (agree == 0) continue;
        if (agree == 2)
            rc = merge_attr_sum(M, out, obj, names[a]);
        else if (strcmp(obj, "/") == 0 && strcmp(names[a], "params") == 0)
            rc = h5table_attr_set_str(out, "/", "params", M->parts[0].params);
        else
            rc = h5copy_attr_copy(out, obj, M->parts[0].f, obj, names[a]);
    }
    h5table_list_free(names, n);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

static int merge_dataset(struct merge *M, struct h5table_file *out, size_t j)
{
    const struct h5copy_dataset *d = &M->parts[0].ds[j];
    int nparts = M->concat[j] ? M->np : 1;
    uint64_t total = 0;
    for (int i = 0; i < nparts; i++)
        total += d->rank ? merge_find(&M->parts[i], d->name)->dims[0] : 1;
    struct h5copy_out *o = h5copy_create_like(out, M->parts[0].f, d->name, total);
    if (!o || merge_attrs(M, out, d->name)) {
        h5copy_close(o);
        return -1;
    }
    size_t per = MERGE_BATCH_BYTES / d->row_bytes + 1;
    unsigned char *buf = xmalloc(per * d->row_bytes);
    int rc = 0;
    for (int i = 0; rc == 0 && i < nparts; i++) {
        const struct merge_part *p = &M->parts[i];
        uint64_t rows = d->rank ? merge_find(p, d->name)->dims[0] : 1;
        for (uint64_t r = 0; rc == 0 && r < rows; r += per) {
            size_t m = rows - r < per ? (size_t)(rows - r) : per;
            rc = h5copy_read_rows(p->f, d->name, r, m, buf) || h5copy_append(o, buf, m) ? -1 : 0;
        }
    }
    free(buf);
    if (h5copy_close(o)) rc = -1;
    return rc;
}

/* Groups above the datasets, each once, in first-use order; their attributes are copied. */
static int merge_group_attrs(struct merge *M, struct h5table_file *out)
{
    const struct merge_part *a = &M->parts[0];
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < a->nds; j++) {
        char *name = xstrdup(a->ds[j].name);
        for (char *s = strrchr(name, '/'); rc == 0 && s; s = strrchr(name, '/')) {
            *s = '\0';
            int seen = 0;
            for (size_t k = 0; k < j && !seen; k++)
                seen = strncmp(a->ds[k].name, name, strlen(name)) == 0 &&
                       a->ds[k].name[strlen(name)] == '/';
            if (!seen) rc = merge_attrs(M, out, name);
        }
        free(name);
    }
    return rc;
}

static void merge_write(struct merge *M)
{
    struct h5table_file *out = h5table_create(M->out);
    if (!out) cli_fail();
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < M->parts[0].nds; j++)
        rc = merge_dataset(M, out, j);
    rc = rc || merge_group_attrs(M, out) || merge_attrs(M, out, "/");
    if (rc == 0 && M->ndropped) {
        size_t len = 1;
        for (size_t i = 0; i < M->ndropped; i++)
            len += strlen(M->dropped[i]) + 1;
        char *list = xcalloc(len, 1);
        for (size_t i = 0; i < M->ndropped; i++)
            strcat(strcat(list, i ? "," : ""), M->dropped[i]);
        fprintf(stderr, "merge: left out attributes that differ between parts: %s\n", list);
        rc = h5table_attr_set_str(out, "/", "merge_dropped", list);
        free(list);
    }
    if (rc) {
        h5table_abort(out);
        cli_fail();
    }
    if (h5table_commit(out)) cli_fail();
}

int main(int argc, char **argv)
{
    struct merge M;
    memset(&M, 0, sizeof M);
    const struct cli_option opts[] = {
        CLI_OUTPUT("out", &M.out),
        CLI_OPT("drop-differing", CLI_FLAG, &M.drop),
        CLI_OPT("sum", CLI_LIST, &M.sum),
        CLI_END};
    cli_init("merge", merge_usage);
    int first = cli_parse(opts, argc, argv);
    cli_set_output(M.out);
    if (!M.out) cli_usage_error("missing --out FILE");
    if (first >= argc) cli_usage_error("no parts to merge");
    M.np = argc - first;
    M.parts = xcalloc((size_t)M.np, sizeof *M.parts);
    for (int i = 0; i < M.np; i++) {
        struct merge_part *p = &M.parts[i];
        p->path = argv[first + i];
        if (strcmp(p->path, M.out) == 0)
            cli_usage_error("cannot merge '%s' into itself", p->path);
        h5table_provenance_init(&p->prov);
        if (!(p->f = h5table_open(p->path)) || h5table_read_provenance(p->f, &p->prov) ||
            h5copy_list(p->f, &p->ds, &p->nds))
            cli_fail();
    }
    merge_check_provenance(&M);
    merge_classify(&M);
    merge_write(&M);
    for (int i = 0; i < M.np; i++) {
        struct merge_part *p = &M.parts[i];
        h5copy_list_free(p->ds, p->nds);
        h5table_provenance_release(&p->prov);
        free(p->params);
        if (h5table_close(p->f)) cli_fail();
    }
    for (size_t i = 0; i < M.ndropped; i++)
        free(M.dropped[i]);
    free(M.dropped);
    free(M.concat);
    free(M.parts);
    return cli_exit(0);
}
