/* Byte-for-byte copies of datasets and attributes of unknown type between salbench HDF5 files
 * (bin/merge, bin/attack); see h5copy.h. Uses the h5table file handle through h5table_impl.h
 * and mirrors h5table's dataset access (16 MiB chunk cache) and group creation (time tracking
 * off), so copies written with the original appends give the original bytes. Every H5* return
 * value is checked. */
#include "formats/h5copy.h"
#include "formats/h5table_impl.h"

#include "pipeline/err.h"

#include <stdlib.h>
#include <string.h>

/* The same chunk cache as h5table's datasets: it decides when chunks reach the file. */
#define H5COPY_CACHE_BYTES ((size_t)16 << 20)
#define H5COPY_CACHE_SLOTS 12421

struct h5copy_out {
    struct h5table_file *file;
    char *name;
    hid_t dset, type;
    int rank, extendible;
    hsize_t dims[H5TABLE_MAX_RANK]; /* dims[0]: rows written (extendible) or the fixed total */
    hsize_t written;
};

static int h5copy_fail(const struct h5table_file *f, const char *verb, const char *obj,
                       const char *why)
{
    return err_set("cannot %s '%s' in '%s': %s", verb, h5table_objname(obj), f->path, why);
}

static hid_t h5copy_dapl(void)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 && H5Pset_chunk_cache(dapl, H5COPY_CACHE_SLOTS, H5COPY_CACHE_BYTES, 1.0) < 0) {
        H5Pclose(dapl);
        return -1;
    }
    return dapl;
}

static hid_t h5copy_open(struct h5table_file *f, const char *name)
{
    hid_t dapl = h5copy_dapl(), d = -1;
    if (dapl >= 0) d = H5Dopen2(f->id, name, dapl);
    if (dapl >= 0) H5Pclose(dapl);
    if (d < 0) h5copy_fail(f, "open", name, h5table_reason());
    return d;
}

/* 1 when the type holds variable-length data or references (no fixed byte image). */
static int h5copy_has_pointers(hid_t t)
{
    H5T_class_t c = H5Tget_class(t);
    if (c == H5T_VLEN || c == H5T_REFERENCE) return 1;
    if (c == H5T_STRING) return H5Tis_variable_str(t) > 0;
    if (c == H5T_ARRAY) {
        hid_t b = H5Tget_super(t);
        int r = b < 0 || h5copy_has_pointers(b);
        if (b >= 0) H5Tclose(b);
        return r;
    }
    if (c == H5T_COMPOUND) {
        int n = H5Tget_nmembers(t);
        for (int i = 0; i < n; i++) {
            hid_t m = H5Tget_member_type(t, (unsigned)i);
            int r = m < 0 || h5copy_has_pointers(m);
            if (m >= 0) H5Tclose(m);
            if (r) return 1;
        }
    }
    return 0;
}

/* ---- listing ----------------------------------------------------------------------------- */

struct h5copy_acc {
    struct h5copy_dataset *ds;
    size_t n, cap;
};

static herr_t h5copy_visit_cb(hid_t root, const char *name, const H5L_info_t *info, void *data)
{
    struct h5copy_acc *acc = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    H5O_info_t oi;
    if (H5Oget_info_by_name2(root, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
    if (oi.type != H5O_TYPE_DATASET) return 0;
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? 2 * acc->cap : 16;
        struct h5copy_dataset *p = realloc(acc->ds, cap * sizeof *p);
        if (!p) return -1;
        acc->ds = p;
        acc->cap = cap;
    }
    struct h5copy_dataset *d = &acc->ds[acc->n];
    memset(d, 0, sizeof *d);
    if (!(d->name = strdup(name))) return -1;
    d->addr = (uint64_t)oi.addr;
    acc->n++;
    return 0;
}

/* Fills rank, dims, sizes, key and extendibility of one listed dataset. */
static int h5copy_describe(struct h5table_file *f, struct h5copy_dataset *d)
{
    hid_t ds = h5copy_open(f, d->name), t = -1, sp = -1, dcpl = -1;
    if (ds < 0) return -1;
    int rc = -1;
    hsize_t dims[H5TABLE_MAX_RANK], maxd[H5TABLE_MAX_RANK];
    t = H5Dget_type(ds);
    sp = H5Dget_space(ds);
    dcpl = H5Dget_create_plist(ds);
    if (t < 0 || sp < 0 || dcpl < 0) goto done;
    d->rank = H5Sget_simple_extent_ndims(sp);
    if (d->rank < 0 || d->rank > H5TABLE_MAX_RANK) {
        rc = h5copy_fail(f, "list", d->name, "rank above 8");
        goto fail_msg;
    }
    if (H5Sget_simple_extent_dims(sp, dims, maxd) < 0) goto done;
    if (h5copy_has_pointers(t)) {
        rc = h5copy_fail(f, "copy", d->name, "variable-length or reference data is not supported");
        goto fail_msg;
    }
    d->elem_bytes = H5Tget_size(t);
    d->row_bytes = d->elem_bytes;
    for (int i = 0; i < d->rank; i++) {
        d->dims[i] = dims[i];
        if (i > 0) d->row_bytes *= dims[i];
    }
    d->extendible = d->rank > 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && maxd[0] == H5S_UNLIMITED;
    d->compound = H5Tget_class(t) == H5T_COMPOUND;
    if (d->compound && d->rank == 1) {
        int k = H5Tget_member_index(t, "example_id");
        hid_t m = k >= 0 ? H5Tget_member_type(t, (unsigned)k) : -1;
        if (m >= 0 && H5Tget_class(m) == H5T_INTEGER && H5Tget_size(m) == 8 &&
            H5Tget_sign(m) == H5T_SGN_NONE && H5Tget_order(m) == H5T_ORDER_LE) {
            d->keyed = 1;
            d->key_offset = H5Tget_member_offset(t, (unsigned)k);
        }
        if (m >= 0) H5Tclose(m);
    }
    rc = 0;
done:
    if (rc) h5copy_fail(f, "describe", d->name, h5table_reason());
fail_msg:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Dclose(ds);
    return rc;
}

static int h5copy_cmp_addr(const void *a, const void *b)
{
    const struct h5copy_dataset *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int h5copy_list(struct h5table_file *f, struct h5copy_dataset **ds, size_t *n)
{
    struct h5copy_acc acc = {NULL, 0, 0};
    *ds = NULL;
    *n = 0;
    if (H5Lvisit(f->id, H5_INDEX_NAME, H5_ITER_INC, h5copy_visit_cb, &acc) < 0) {
        h5copy_list_free(acc.ds, acc.n);
        return h5copy_fail(f, "list datasets of", "/", h5table_reason());
    }
    for (size_t i = 0; i < acc.n; i++)
        if (h5copy_describe(f, &acc.ds[i])) {
            h5copy_list_free(acc.ds, acc.n);
            return -1;
        }
    if (acc.n) qsort(acc.ds, acc.n, sizeof *acc.ds, h5copy_cmp_addr);
    *ds = acc.ds;
    *n = acc.n;
    return 0;
}

void h5copy_list_free(struct h5copy_dataset *ds, size_t n)
{
    for (size_t i = 0; ds && i < n; i++)
        free(ds[i].name);
    free(ds);
}

/* ---- comparing and reading --------------------------------------------------------------- */

int h5copy_same_layout(struct h5table_file *a, struct h5table_file *b, const char *name)
{
    hid_t da = h5copy_open(a, name), db = da < 0 ? -1 : h5copy_open(b, name);
    hid_t ta = -1, tb = -1, sa = -1, sb = -1, pa = -1, pb = -1;
    int rc = -1;
    if (db < 0) goto done;
    ta = H5Dget_type(da), tb = H5Dget_type(db);
    sa = H5Dget_space(da), sb = H5Dget_space(db);
    pa = H5Dget_create_plist(da), pb = H5Dget_create_plist(db);
    if (ta < 0 || tb < 0 || sa < 0 || sb < 0 || pa < 0 || pb < 0) {
        h5copy_fail(b, "compare", name, h5table_reason());
        goto done;
    }
    hsize_t xa[H5TABLE_MAX_RANK], xb[H5TABLE_MAX_RANK];
    int ra = H5Sget_simple_extent_ndims(sa), rb = H5Sget_simple_extent_ndims(sb);
    const char *why = NULL;
    if (H5Tequal(ta, tb) <= 0) why = "its stored type differs";
    else if (ra != rb || ra < 0 || ra > H5TABLE_MAX_RANK) why = "its rank differs";
    else if (H5Sget_simple_extent_dims(sa, xa, NULL) < 0 ||
             H5Sget_simple_extent_dims(sb, xb, NULL) < 0)
        why = "its dims cannot be read";
    for (int i = 1; !why && i < ra; i++)
        if (xa[i] != xb[i]) why = "its dims after the first differ";
    if (!why && H5Pequal(pa, pb) <= 0) why = "its creation properties (chunks, filters) differ";
    rc = why ? 0 : 1;
    if (why) err_set("'%s' in '%s' and '%s': %s", name, a->path, b->path, why);
done:
    H5Eclear2(H5E_DEFAULT);
    hid_t types[2] = {ta, tb}, spaces[2] = {sa, sb}, plists[2] = {pa, pb}, dsets[2] = {da, db};
    for (int i = 0; i < 2; i++) {
        if (types[i] >= 0) H5Tclose(types[i]);
        if (spaces[i] >= 0) H5Sclose(spaces[i]);
        if (plists[i] >= 0) H5Pclose(plists[i]);
        if (dsets[i] >= 0) H5Dclose(dsets[i]);
    }
    return rc;
}

/* File and memory spaces for rows [start, start+count) of a dataset of this rank and dims. */
static int h5copy_select(hid_t dset, int rank, const hsize_t *dims, hsize_t start,
                         hsize_t count, hid_t *fspace, hid_t *mspace)
{
    *fspace = H5Dget_space(dset);
    *mspace = -1;
    if (*fspace < 0) return -1;
    if (rank == 0) {
        *mspace = H5Screate(H5S_SCALAR);
        return *mspace < 0 ? -1 : 0;
    }
    hsize_t off[H5TABLE_MAX_RANK] = {0}, cnt[H5TABLE_MAX_RANK];
    off[0] = start;
    cnt[0] = count;
    for (int i = 1; i < rank; i++)
        cnt[i] = dims[i];
    *mspace = H5Screate_simple(rank, cnt, NULL);
    if (*mspace < 0 ||
        H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0)
        return -1;
    return 0;
}

int h5copy_read_rows(struct h5table_file *f, const char *name, uint64_t start, uint64_t count,
                     void *buf)
{
    if (count == 0) return 0;
    hid_t d = h5copy_open(f, name), t = -1, sp = -1, fs = -1, ms = -1;
    if (d < 0) return -1;
    int rc = -1, rank = 0;
    hsize_t dims[H5TABLE_MAX_RANK];
    t = H5Dget_type(d);
    sp = H5Dget_space(d);
    if (t < 0 || sp < 0 || (rank = H5Sget_simple_extent_ndims(sp)) < 0 ||
        rank > H5TABLE_MAX_RANK || H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
        goto done;
    if (rank == 0 ? start != 0 || count != 1 : start > dims[0] || count > dims[0] - start) {
        rc = h5copy_fail(f, "read", name, "rows out of range");
        goto out;
    }
    if (h5copy_select(d, rank, dims, start, count, &fs, &ms) == 0 &&
        H5Dread(d, t, ms, fs, H5P_DEFAULT, buf) >= 0)
        rc = 0;
done:
    if (rc) h5copy_fail(f, "read", name, h5table_reason());
out:
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Dclose(d);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* Attribute creation-order flags of group `name` in src (0 when it has none or on error). */
static unsigned h5copy_group_crt(struct h5table_file *src, const char *name)
{
    unsigned crt = 0;
    hid_t g = H5Gopen2(src->id, name, H5P_DEFAULT), gcpl = g < 0 ? -1 : H5Gget_create_plist(g);
    if (gcpl < 0 || H5Pget_attr_creation_order(gcpl, &crt) < 0) crt = 0;
    if (gcpl >= 0) H5Pclose(gcpl);
    if (g >= 0) H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    return crt;
}

/* Creates the groups above `name` that do not exist yet, as h5table does (time tracking off),
 * with the attribute creation-order flags of the same group in src. */
static int h5copy_make_parents(struct h5table_file *f, struct h5table_file *src,
                               const char *name)
{
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name) return 0;
    char *copy = strndup(name, (size_t)(slash - name));
    if (!copy) return h5copy_fail(f, "create", name, "out of memory");
    int rc = 0;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0) rc = -1;
    for (char *p = copy + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        htri_t e = H5Lexists(f->id, copy, H5P_DEFAULT);
        if (e == 0 && H5Pset_attr_creation_order(gcpl, h5copy_group_crt(src, copy)) < 0) {
            rc = -1;
        } else if (e == 0) {
            hid_t g = H5Gcreate2(f->id, copy, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0 || H5Gclose(g) < 0) rc = -1;
        } else if (e < 0) {
            rc = -1;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    if (gcpl >= 0) H5Pclose(gcpl);
    if (rc) h5copy_fail(f, "create group for", name, h5table_reason());
    free(copy);
    return rc;
}

static void h5copy_out_free(struct h5copy_out *o)
{
    if (!o) return;
    if (o->type >= 0) H5Tclose(o->type);
    free(o->name);
    free(o);
}

/* Space of the new dataset: 0 rows (extendible) or `rows`, maxdims as the source's. */
static hid_t h5copy_new_space(hid_t src_space, struct h5copy_out *o, uint64_t rows)
{
    if (o->rank == 0) return H5Screate(H5S_SCALAR);
    hsize_t maxd[H5TABLE_MAX_RANK];
    if (H5Sget_simple_extent_dims(src_space, o->dims, maxd) < 0) return -1;
    o->dims[0] = o->extendible ? 0 : rows;
    if (!o->extendible) maxd[0] = maxd[0] == H5S_UNLIMITED ? H5S_UNLIMITED : rows;
    return H5Screate_simple(o->rank, o->dims, maxd);
}

/* A new dataset creation property list with the layout, chunk shape and filters of src and
 * attribute creation-order flags and nothing else (time tracking off, default fill): the
 * properties h5table sets, so the object
 * header comes out the same size as the original writer's. (Passing src itself, as
 * H5Dget_create_plist returns it, makes HDF5 reserve a few more header bytes.) */
static hid_t h5copy_fresh_dcpl(hid_t src)
{
    hid_t d = H5Pcreate(H5P_DATASET_CREATE);
    unsigned crt = 0;
    if (d < 0 || H5Pset_obj_track_times(d, 0) < 0 || H5Pget_attr_creation_order(src, &crt) < 0 ||
        H5Pset_attr_creation_order(d, crt) < 0)
        goto fail;
    if (H5Pget_layout(src) == H5D_CHUNKED) {
        hsize_t chunk[H5TABLE_MAX_RANK];
        int r = H5Pget_chunk(src, H5TABLE_MAX_RANK, chunk);
        if (r < 0 || H5Pset_chunk(d, r, chunk) < 0) goto fail;
    } else if (H5Pset_layout(d, H5Pget_layout(src)) < 0) {
        goto fail;
    }
    int nf = H5Pget_nfilters(src);
    for (int i = 0; i < nf; i++) {
        unsigned flags, cd[16];
        size_t ncd = 16;
        char fname[64];
        H5Z_filter_t id = H5Pget_filter2(src, (unsigned)i, &flags, &ncd, cd, sizeof fname,
                                         fname, NULL);
        herr_t e = id == H5Z_FILTER_SHUFFLE   ? H5Pset_shuffle(d)
                   : id == H5Z_FILTER_DEFLATE ? H5Pset_deflate(d, ncd ? cd[0] : 6)
                   : id < 0                   ? -1
                                              : H5Pset_filter(d, id, flags, ncd, cd);
        if (e < 0) goto fail;
    }
    return d;
fail:
    if (d >= 0) H5Pclose(d);
    return -1;
}

struct h5copy_out *h5copy_create_like(struct h5table_file *dst, struct h5table_file *src,
                                      const char *name, uint64_t rows)
{
    struct h5copy_out *o = calloc(1, sizeof *o);
    if (!o || !(o->name = strdup(name))) {
        free(o);
        h5copy_fail(dst, "create", name, "out of memory");
        return NULL;
    }
    o->file = dst;
    o->dset = o->type = -1;
    hid_t sd = -1, sp = -1, dcpl = -1, space = -1, dapl = -1, ndcpl = -1;
    int rc = -1;
    if (!dst->writable) {
        h5copy_fail(dst, "create", name, "file is open read-only");
        goto out;
    }
    if (h5copy_make_parents(dst, src, name) || (sd = h5copy_open(src, name)) < 0) goto out;
    o->type = H5Dget_type(sd);
    sp = H5Dget_space(sd);
    dcpl = H5Dget_create_plist(sd);
    if (o->type < 0 || sp < 0 || dcpl < 0 || (o->rank = H5Sget_simple_extent_ndims(sp)) < 0 ||
        o->rank > H5TABLE_MAX_RANK)
        goto done;
    hsize_t sdims[H5TABLE_MAX_RANK], smax[H5TABLE_MAX_RANK];
    if (o->rank > 0 && H5Sget_simple_extent_dims(sp, sdims, smax) < 0) goto done;
    o->extendible = o->rank > 0 && H5Pget_layout(dcpl) == H5D_CHUNKED && smax[0] == H5S_UNLIMITED;
    space = h5copy_new_space(sp, o, rows);
    dapl = h5copy_dapl();
    ndcpl = h5copy_fresh_dcpl(dcpl);
    if (space < 0 || dapl < 0 || ndcpl < 0) goto done;
    o->dset = H5Dcreate2(dst->id, name, o->type, space, H5P_DEFAULT, ndcpl, dapl);
    if (o->dset >= 0) rc = 0;
done:
    if (rc) h5copy_fail(dst, "create", name, h5table_reason());
out:
    if (sd >= 0) H5Dclose(sd);
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (dapl >= 0) H5Pclose(dapl);
    if (ndcpl >= 0) H5Pclose(ndcpl);
    if (rc) {
        if (o->dset >= 0) H5Dclose(o->dset);
        h5copy_out_free(o);
        return NULL;
    }
    return o;
}

int h5copy_append(struct h5copy_out *o, const void *rows, size_t n)
{
    if (n == 0) return 0;
    hsize_t total = o->rank == 0 ? 1 : o->extendible ? o->written + n : o->dims[0];
    if (o->written + n > total)
        return h5copy_fail(o->file, "write", o->name, "more rows than the dataset holds");
    if (o->extendible) {
        o->dims[0] = total;
        if (H5Dset_extent(o->dset, o->dims) < 0)
            return h5copy_fail(o->file, "extend", o->name, h5table_reason());
    }
    hid_t fs = -1, ms = -1;
    int rc = h5copy_select(o->dset, o->rank, o->dims, o->written, n, &fs, &ms);
    if (rc == 0 && H5Dwrite(o->dset, o->type, ms, fs, H5P_DEFAULT, rows) < 0) rc = -1;
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (rc) return h5copy_fail(o->file, "write", o->name, h5table_reason());
    o->written += n;
    return 0;
}

int h5copy_close(struct h5copy_out *o)
{
    if (!o) return 0;
    int rc = 0;
    hsize_t want = o->rank == 0 ? 1 : o->dims[0];
    if (!o->extendible && o->written != want)
        rc = h5copy_fail(o->file, "close", o->name, "fewer rows written than created");
    if (H5Dclose(o->dset) < 0 && !rc) rc = h5copy_fail(o->file, "close", o->name,
                                                       h5table_reason());
    h5copy_out_free(o);
    return rc;
}

/* ---- attributes -------------------------------------------------------------------------- */

struct h5copy_names {
    char **names;
    size_t n, cap;
};

static herr_t h5copy_attr_cb(hid_t o, const char *name, const H5A_info_t *info, void *data)
{
    (void)o;
    (void)info;
    struct h5copy_names *acc = data;
    if (acc->n == acc->cap) {
        size_t cap = acc->cap ? 2 * acc->cap : 16;
        char **p = realloc(acc->names, cap * sizeof *p);
        if (!p) return -1;
        acc->names = p;
        acc->cap = cap;
    }
    if (!(acc->names[acc->n] = strdup(name))) return -1;
    acc->n++;
    return 0;
}

/* Where h5table's writers put a known attribute: the TABLE attributes in the order
 * h5table_table_attrs writes them, then the provenance in h5table_write_provenance's order;
 * everything else after those (order among them kept). */
static long h5copy_attr_rank(const char *name)
{
    static const char *const known[] = {"CLASS", "VERSION", "TITLE", "stage",
                                        "salbench_version", "params", "inputs", "id_hash",
                                        "id_seed"};
    int field;
    char end;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(name, known[i]) == 0) return i < 3 ? (long)i : 100000 + (long)i;
    if (sscanf(name, "FIELD_%d_NAM%c", &field, &end) == 2 && end == 'E' && field >= 0 &&
        field < 99999)
        return 3 + field;
    return 200000;
}

static void h5copy_sort_known(char **names, size_t n)
{
    for (size_t i = 1; i < n; i++) /* stable insertion sort by rank */
        for (size_t j = i; j > 0 && h5copy_attr_rank(names[j - 1]) > h5copy_attr_rank(names[j]);
             j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
}

int h5copy_attr_names(struct h5table_file *f, const char *obj, char ***names, size_t *n)
{
    struct h5copy_names acc = {NULL, 0, 0};
    *names = NULL;
    *n = 0;
    hid_t o = H5Oopen(f->id, h5table_objname(obj), H5P_DEFAULT), ocpl = -1;
    unsigned crt = 0;
    if (o >= 0)
        ocpl = H5Iget_type(o) == H5I_DATASET ? H5Dget_create_plist(o)
               : H5Iget_type(o) == H5I_GROUP ? H5Gget_create_plist(o) : -1;
    if (ocpl >= 0 && H5Pget_attr_creation_order(ocpl, &crt) < 0) crt = 0;
    if (ocpl >= 0) H5Pclose(ocpl);
    H5Eclear2(H5E_DEFAULT);
    hsize_t idx = 0;
    int by_order = (crt & H5P_CRT_ORDER_INDEXED) != 0;
    herr_t e = o < 0 ? -1 : H5Aiterate2(o, by_order ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME,
                                        by_order ? H5_ITER_INC : H5_ITER_NATIVE, &idx,
                                        h5copy_attr_cb, &acc);
    if (o >= 0) H5Oclose(o);
    if (e < 0) {
        h5table_list_free(acc.names, acc.n);
        return h5copy_fail(f, "list attributes of", obj, h5table_reason());
    }
    if (!by_order) h5copy_sort_known(acc.names, acc.n);
    *names = acc.names;
    *n = acc.n;
    return 0;
}

/* One attribute read whole in its stored representation. */
struct h5copy_attr {
    hid_t type, space;
    size_t bytes;
    unsigned char *data;
};

static void h5copy_attr_release(struct h5copy_attr *a)
{
    if (a->type >= 0) H5Tclose(a->type);
    if (a->space >= 0) H5Sclose(a->space);
    free(a->data);
}

/* Reads attribute name of obj; 0 ok, 1 absent, -1 error. */
static int h5copy_attr_read(struct h5table_file *f, const char *obj, const char *name,
                            struct h5copy_attr *a)
{
    a->type = a->space = -1;
    a->data = NULL;
    hid_t o = H5Oopen(f->id, h5table_objname(obj), H5P_DEFAULT), at = -1;
    int rc = -1;
    if (o < 0) goto done;
    htri_t ex = H5Aexists(o, name);
    if (ex <= 0) {
        rc = ex == 0 ? 1 : -1;
        goto done;
    }
    at = H5Aopen(o, name, H5P_DEFAULT);
    if (at < 0 || (a->type = H5Aget_type(at)) < 0 || (a->space = H5Aget_space(at)) < 0)
        goto done;
    if (h5copy_has_pointers(a->type)) {
        H5Aclose(at), H5Oclose(o);
        return err_set("cannot copy attribute '%s' of '%s' in '%s': variable-length data is "
                       "not supported", name, h5table_objname(obj), f->path);
    }
    hssize_t npts = H5Sget_simple_extent_npoints(a->space);
    if (npts < 0) goto done;
    a->bytes = (size_t)npts * H5Tget_size(a->type);
    a->data = malloc(a->bytes ? a->bytes : 1);
    if (a->data && H5Aread(at, a->type, a->data) >= 0) rc = 0;
done:
    if (rc < 0)
        err_set("cannot read attribute '%s' of '%s' in '%s': %s", name, h5table_objname(obj),
                f->path, h5table_reason());
    if (at >= 0) H5Aclose(at);
    if (o >= 0) H5Oclose(o);
    return rc;
}

int h5copy_attr_equal(struct h5table_file *a, const char *obj_a, struct h5table_file *b,
                      const char *obj_b, const char *name)
{
    struct h5copy_attr x, y;
    int ra = h5copy_attr_read(a, obj_a, name, &x);
    int rb = ra < 0 ? -1 : h5copy_attr_read(b, obj_b, name, &y);
    int rc = ra < 0 || rb < 0 ? -1 : ra || rb ? 0 : -2;
    if (rc == -2)
        rc = H5Tequal(x.type, y.type) > 0 && H5Sextent_equal(x.space, y.space) > 0 &&
             x.bytes == y.bytes && memcmp(x.data, y.data, x.bytes) == 0;
    if (ra == 0) h5copy_attr_release(&x);
    if (ra >= 0 && rb == 0) h5copy_attr_release(&y);
    return rc;
}

int h5copy_attr_copy(struct h5table_file *dst, const char *dst_obj, struct h5table_file *src,
                     const char *src_obj, const char *name)
{
    struct h5copy_attr x;
    int r = h5copy_attr_read(src, src_obj, name, &x);
    if (r) return r < 0 ? -1 : h5copy_fail(src, "copy attribute of", src_obj, "no such attribute");
    hid_t o = H5Oopen(dst->id, h5table_objname(dst_obj), H5P_DEFAULT), at = -1;
    int rc = -1;
    htri_t ex = o < 0 ? -1 : H5Aexists(o, name);
    if (ex < 0 || (ex > 0 && H5Adelete(o, name) < 0)) goto done;
    at = H5Acreate2(o, name, x.type, x.space, H5P_DEFAULT, H5P_DEFAULT);
    if (at >= 0 && H5Awrite(at, x.type, x.data) >= 0) rc = 0;
done:
    if (at >= 0 && H5Aclose(at) < 0) rc = -1;
    if (o >= 0 && H5Oclose(o) < 0) rc = -1;
    if (rc)
        err_set("cannot write attribute '%s' of '%s' in '%s': %s", name,
                h5table_objname(dst_obj), dst->path, h5table_reason());
    h5copy_attr_release(&x);
    return rc;
}
