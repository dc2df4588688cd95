/* h5table attributes, example_id checks, the content hash of a file's datasets and the
 * provenance attributes; see h5table.h. Shares the internals of h5table.c (h5table_impl.h).
 * Every H5* return value is checked. */
#include "formats/h5table.h"
#include "formats/h5table_impl.h"

#include "formats/chash.h"
#include "pipeline/err.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- attributes -------------------------------------------------------------------------- */

static int meta_attr_fail(const struct h5table_file *f, const char *verb, const char *obj,
                          const char *name, const char *reason)
{
    return err_set("cannot %s attribute '%s' of '%s' in '%s': %s", verb, name,
                   h5table_objname(obj), f->path, reason);
}

/* Writes (replacing) attribute `name` of `obj` from buf of memory type mtype. */
static int meta_attr_write(struct h5table_file *f, const char *obj, const char *name,
                           hid_t ftype, hid_t mtype, hid_t space, const void *buf)
{
    if (!f->writable) return meta_attr_fail(f, "write", obj, name, "file is open read-only");
    hid_t o = H5Oopen(f->id, h5table_objname(obj), H5P_DEFAULT), a = -1;
    int rc = -1;
    if (o < 0) goto done;
    htri_t ex = H5Aexists(o, name);
    if (ex < 0 || (ex > 0 && H5Adelete(o, name) < 0)) goto done;
    a = H5Acreate2(o, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, buf) < 0) goto done;
    rc = 0;
done:
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    if (o >= 0 && H5Oclose(o) < 0) rc = -1;
    if (rc) meta_attr_fail(f, "write", obj, name, h5table_reason());
    return rc;
}

int h5table_attr_set_str(struct h5table_file *f, const char *obj, const char *name,
                         const char *value)
{
    hid_t t = h5table_str_type(strlen(value) + 1), space = H5Screate(H5S_SCALAR);
    int rc = t < 0 || space < 0 ? meta_attr_fail(f, "write", obj, name, h5table_reason())
                                : meta_attr_write(f, obj, name, t, t, space, value);
    if (t >= 0) H5Tclose(t);
    if (space >= 0) H5Sclose(space);
    return rc;
}

static int meta_attr_set_num(struct h5table_file *f, const char *obj, const char *name,
                             hid_t ftype, hid_t mtype, const void *v, size_t n, int scalar)
{
    hsize_t dim = n;
    hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (space < 0) return meta_attr_fail(f, "write", obj, name, h5table_reason());
    int rc = meta_attr_write(f, obj, name, ftype, mtype, space, v);
    H5Sclose(space);
    return rc;
}

int h5table_attr_set_i64(struct h5table_file *f, const char *obj, const char *name, int64_t v)
{
    return meta_attr_set_num(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, 1, 1);
}

int h5table_attr_set_u64(struct h5table_file *f, const char *obj, const char *name, uint64_t v)
{
    return meta_attr_set_num(f, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v, 1, 1);
}

int h5table_attr_set_f64(struct h5table_file *f, const char *obj, const char *name, double v)
{
    return meta_attr_set_num(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, 1, 1);
}

int h5table_attr_set_f64_array(struct h5table_file *f, const char *obj, const char *name,
                               const double *v, size_t n)
{
    if (n == 0) return meta_attr_fail(f, "write", obj, name, "empty array");
    return meta_attr_set_num(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v, n, 0);
}

int h5table_attr_exists(struct h5table_file *f, const char *obj, const char *name)
{
    hid_t o = H5Oopen(f->id, h5table_objname(obj), H5P_DEFAULT);
    if (o < 0) return meta_attr_fail(f, "look up", obj, name, h5table_reason());
    htri_t ex = H5Aexists(o, name);
    H5Oclose(o);
    if (ex < 0) return meta_attr_fail(f, "look up", obj, name, h5table_reason());
    return ex > 0;
}

/* Opens an attribute; *type and *npoints describe it. Caller closes both ids. */
static hid_t meta_attr_open(struct h5table_file *f, const char *obj, const char *name,
                            hid_t *type, hssize_t *npoints)
{
    hid_t o = H5Oopen(f->id, h5table_objname(obj), H5P_DEFAULT), a = -1, space = -1;
    *type = -1;
    if (o < 0) {
        meta_attr_fail(f, "read", obj, name, h5table_reason());
        return -1;
    }
    htri_t ex = H5Aexists(o, name);
    if (ex == 0) {
        H5Oclose(o);
        meta_attr_fail(f, "read", obj, name, "no such attribute");
        return -1;
    }
    if (ex > 0) a = H5Aopen(o, name, H5P_DEFAULT);
    H5Oclose(o);
    if (a >= 0) space = H5Aget_space(a);
    *npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0) H5Sclose(space);
    if (a >= 0 && *npoints >= 0) *type = H5Aget_type(a);
    if (*type < 0) {
        if (a >= 0) H5Aclose(a);
        meta_attr_fail(f, "read", obj, name, h5table_reason());
        return -1;
    }
    /* a corrupt file can claim a huge fixed-size string or array: what we would allocate
     * must be stored (variable-length strings live in the global heap and are not counted) */
    const char *why = NULL;
    if (h5table_type_sane(*type, &why) == 0 && H5Tis_variable_str(*type) <= 0 &&
        (uint64_t)*npoints > H5Aget_storage_size(a) / H5Tget_size(*type))
        why = "claims more data than it stores (corrupt file?)";
    if (why) {
        H5Tclose(*type);
        H5Aclose(a);
        *type = -1;
        meta_attr_fail(f, "read", obj, name, why);
        return -1;
    }
    return a;
}

/* Checks the stored class and that the attribute holds one value (when one is required). */
static int meta_attr_expect(struct h5table_file *f, const char *obj, const char *name,
                            hid_t type, hssize_t npoints, H5T_class_t cls, int single)
{
    char have[64], why[128];
    if (H5Tget_class(type) == cls && (!single || npoints == 1) && npoints >= 1) return 0;
    h5table_describe(type, have, sizeof have);
    snprintf(why, sizeof why, "stored as %s with %lld value(s), expected %s%s", have,
             (long long)npoints,
             cls == H5T_STRING ? "a string" : cls == H5T_INTEGER ? "an integer" : "a float",
             single ? "" : " array");
    return meta_attr_fail(f, "read", obj, name, why);
}

int h5table_attr_get_str(struct h5table_file *f, const char *obj, const char *name,
                         char **value)
{
    hid_t type;
    hssize_t np;
    *value = NULL;
    hid_t a = meta_attr_open(f, obj, name, &type, &np);
    if (a < 0) return -1;
    int rc = meta_attr_expect(f, obj, name, type, np, H5T_STRING, 1);
    if (rc == 0 && H5Tis_variable_str(type) > 0) {
        char *p = NULL;
        rc = H5Aread(a, type, &p) < 0 ? -1 : 0;
        if (rc == 0 && !(*value = strdup(p ? p : ""))) rc = -1;
        if (p) H5free_memory(p);
    } else if (rc == 0) {
        size_t size = H5Tget_size(type);
        *value = calloc(size + 1, 1);
        rc = !*value || H5Aread(a, type, *value) < 0 ? -1 : 0;
    }
    H5Tclose(type);
    H5Aclose(a);
    if (rc) {
        free(*value);
        *value = NULL;
        if (strstr(err_msg(), name) == NULL || !strstr(err_msg(), "stored as"))
            meta_attr_fail(f, "read", obj, name, h5table_reason());
    }
    return rc;
}

/* Reads one integer attribute as signed or unsigned 64-bit according to its stored sign. */
static int meta_attr_get_int(struct h5table_file *f, const char *obj, const char *name,
                             int64_t *sv, uint64_t *uv, int *is_signed)
{
    hid_t type;
    hssize_t np;
    hid_t a = meta_attr_open(f, obj, name, &type, &np);
    if (a < 0) return -1;
    int rc = meta_attr_expect(f, obj, name, type, np, H5T_INTEGER, 1);
    if (rc == 0) {
        *is_signed = H5Tget_sign(type) == H5T_SGN_2;
        herr_t e = *is_signed ? H5Aread(a, H5T_NATIVE_INT64, sv)
                              : H5Aread(a, H5T_NATIVE_UINT64, uv);
        if (e < 0) rc = meta_attr_fail(f, "read", obj, name, h5table_reason());
    }
    H5Tclose(type);
    H5Aclose(a);
    return rc;
}

int h5table_attr_get_i64(struct h5table_file *f, const char *obj, const char *name, int64_t *v)
{
    int64_t s = 0;
    uint64_t u = 0;
    int sgn = 1;
    if (meta_attr_get_int(f, obj, name, &s, &u, &sgn)) return -1;
    if (!sgn && u > (uint64_t)INT64_MAX)
        return meta_attr_fail(f, "read", obj, name, "unsigned value does not fit in int64");
    *v = sgn ? s : (int64_t)u;
    return 0;
}

int h5table_attr_get_u64(struct h5table_file *f, const char *obj, const char *name,
                         uint64_t *v)
{
    int64_t s = 0;
    uint64_t u = 0;
    int sgn = 0;
    if (meta_attr_get_int(f, obj, name, &s, &u, &sgn)) return -1;
    if (sgn && s < 0) return meta_attr_fail(f, "read", obj, name, "negative value for uint64");
    *v = sgn ? (uint64_t)s : u;
    return 0;
}

static int meta_attr_get_f64v(struct h5table_file *f, const char *obj, const char *name,
                              double **v, size_t *n, int single)
{
    hid_t type;
    hssize_t np;
    *v = NULL;
    hid_t a = meta_attr_open(f, obj, name, &type, &np);
    if (a < 0) return -1;
    int rc = meta_attr_expect(f, obj, name, type, np, H5T_FLOAT, single);
    if (rc == 0 && !(*v = malloc((size_t)np * sizeof **v)))
        rc = meta_attr_fail(f, "read", obj, name, "out of memory");
    if (rc == 0 && H5Aread(a, H5T_NATIVE_DOUBLE, *v) < 0)
        rc = meta_attr_fail(f, "read", obj, name, h5table_reason());
    H5Tclose(type);
    H5Aclose(a);
    if (rc) {
        free(*v);
        *v = NULL;
        return -1;
    }
    *n = (size_t)np;
    return 0;
}

int h5table_attr_get_f64(struct h5table_file *f, const char *obj, const char *name, double *v)
{
    double *p;
    size_t n;
    if (meta_attr_get_f64v(f, obj, name, &p, &n, 1)) return -1;
    *v = p[0];
    free(p);
    return 0;
}

int h5table_attr_get_f64_array(struct h5table_file *f, const char *obj, const char *name,
                               double **v, size_t *n)
{
    *n = 0;
    return meta_attr_get_f64v(f, obj, name, v, n, 0);
}

/* ---- example_id checks ------------------------------------------------------------------- */

int h5table_read_ids(struct h5table_file *f, const char *table, uint64_t **ids, size_t *n)
{
    static const struct h5table_column col[] = {{"example_id", H5TABLE_U64, 0, 8}};
    const struct h5table_schema s = {"ids", sizeof(uint64_t), 1, col};
    void *rows = NULL;
    int rc = h5table_read_table(f, table, &s, &rows, n);
    *ids = rows;
    return rc;
}

int h5table_ids_check_sorted(const uint64_t *ids, size_t n, int strict, const char *what)
{
    for (size_t i = 1; i < n; i++) {
        if (ids[i] > ids[i - 1] || (!strict && ids[i] == ids[i - 1])) continue;
        return err_set("cannot verify example_id order of %s: row %zu (id %016" PRIx64
                       ") %s row %zu (id %016" PRIx64 ")%s", what, i, ids[i],
                       ids[i] == ids[i - 1] ? "repeats" : "is below", i - 1, ids[i - 1],
                       ids[i] == ids[i - 1] ? ", a duplicate id" : ", rows must ascend");
    }
    return 0;
}

int h5table_ids_check_aligned(const uint64_t *a, size_t na, const char *what_a,
                              const uint64_t *b, size_t nb, const char *what_b)
{
    if (na != nb)
        return err_set("cannot align %s with %s: %zu rows versus %zu", what_a, what_b, na, nb);
    for (size_t i = 0; i < na; i++)
        if (a[i] != b[i])
            return err_set("cannot align %s with %s: row %zu has id %016" PRIx64 " versus %016"
                           PRIx64, what_a, what_b, i, a[i], b[i]);
    return 0;
}

/* ---- content hash ------------------------------------------------------------------------ */

struct meta_buf {
    char *s;
    size_t n, cap;
    int oom;
};

static void meta_buf_add(struct meta_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void meta_buf_add(struct meta_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || b->oom) return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->n + (size_t)k + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, tmp, (size_t)k + 1);
    b->n += (size_t)k;
}

/* A canonical (little-endian, packed) copy of a stored type, described into b. -1 when the
 * type cannot be hashed (references, variable-length data other than a dataset of strings as
 * h5py writes them: allowed at the top level only). Caller closes the result. */
static hid_t meta_canon(hid_t t, struct meta_buf *b, int top)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    hid_t c = -1;
    if (top && cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        c = H5Tcopy(H5T_C_S1);
        if (c >= 0 && (H5Tset_size(c, H5T_VARIABLE) < 0 ||
                       H5Tset_cset(c, H5Tget_cset(t)) < 0)) {
            H5Tclose(c);
            c = -1;
        }
        meta_buf_add(b, "vs");
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT || cls == H5T_BITFIELD || cls == H5T_ENUM) {
        c = H5Tcopy(t);
        if (c >= 0 && H5Tset_order(c, H5T_ORDER_LE) < 0) {
            H5Tclose(c);
            c = -1;
        }
        int sgn = cls != H5T_FLOAT && H5Tget_sign(t) == H5T_SGN_2;
        meta_buf_add(b, "%c%s%zu", cls == H5T_INTEGER ? 'i' : cls == H5T_FLOAT ? 'f'
                                   : cls == H5T_ENUM ? 'e' : 'b', sgn ? "s" : "u", size);
    } else if ((cls == H5T_STRING && H5Tis_variable_str(t) <= 0) || cls == H5T_OPAQUE) {
        c = H5Tcopy(t);
        meta_buf_add(b, "%c%zu", cls == H5T_STRING ? 's' : 'o', size);
    } else if (cls == H5T_ARRAY) {
        hsize_t dims[H5S_MAX_RANK];
        int nd = H5Tget_array_ndims(t);
        hid_t base = H5Tget_super(t), cb = -1;
        if (nd >= 1 && H5Tget_array_dims2(t, dims) >= 0) {
            meta_buf_add(b, "[");
            for (int i = 0; i < nd; i++)
                meta_buf_add(b, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
            meta_buf_add(b, "]");
            cb = base >= 0 ? meta_canon(base, b, 0) : -1;
        }
        if (cb >= 0) c = H5Tarray_create2(cb, (unsigned)nd, dims);
        if (cb >= 0) H5Tclose(cb);
        if (base >= 0) H5Tclose(base);
    } else if (cls == H5T_COMPOUND) {
        int nm = H5Tget_nmembers(t);
        hid_t mem[64];
        size_t total = 0;
        int ok = nm >= 1 && nm <= 64;
        meta_buf_add(b, "{");
        for (int i = 0; ok && i < nm; i++) {
            char *mname = H5Tget_member_name(t, (unsigned)i);
            hid_t mt = H5Tget_member_type(t, (unsigned)i);
            meta_buf_add(b, "%s%s:", i ? "," : "", mname ? mname : "?");
            mem[i] = mt >= 0 ? meta_canon(mt, b, 0) : -1;
            if (mname) H5free_memory(mname);
            if (mt >= 0) H5Tclose(mt);
            if (mem[i] < 0) {
                nm = i;
                ok = 0;
            } else {
                total += H5Tget_size(mem[i]);
            }
        }
        meta_buf_add(b, "}");
        if (ok) c = H5Tcreate(H5T_COMPOUND, total);
        size_t off = 0;
        for (int i = 0; i < nm; i++) {
            char *mname = H5Tget_member_name(t, (unsigned)i);
            if (c >= 0 && (!mname || H5Tinsert(c, mname, off, mem[i]) < 0)) {
                H5Tclose(c);
                c = -1;
            }
            off += H5Tget_size(mem[i]);
            if (mname) H5free_memory(mname);
            H5Tclose(mem[i]);
        }
    }
    return c;
}

static void meta_le(uint8_t *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

/* Hashes one dataset: path, type description, rank, dims, then its data in row batches. */
static int meta_hash_dataset(struct h5table_file *f, const char *name, struct chash *h)
{
    hid_t d = H5Dopen2(f->id, name, H5P_DEFAULT), ft = -1, ct = -1, space = -1;
    struct meta_buf desc = {0};
    hsize_t dims[H5S_MAX_RANK];
    uint8_t *buf = NULL, le[8];
    int rc = -1, rank = -1;
    const char *why = NULL;
    if (d < 0 || (ft = H5Dget_type(d)) < 0 || (space = H5Dget_space(d)) < 0 ||
        (rank = H5Sget_simple_extent_ndims(space)) < 0 ||
        H5Sget_simple_extent_dims(space, dims, NULL) < 0)
        goto done;
    if (h5table_dataset_sane(f, name, d, ft, rank, dims)) {
        rc = -1;
        goto done_reported;
    }
    if ((ct = meta_canon(ft, &desc, 1)) < 0 || desc.oom) {
        why = "type not supported (variable-length or reference data)";
        goto done;
    }
    int vlen = H5Tis_variable_str(ct) > 0;
    chash_update(h, name, strlen(name) + 1);
    chash_update(h, desc.s, desc.n + 1);
    meta_le(le, (uint64_t)rank, 4);
    chash_update(h, le, 4);
    size_t row = H5Tget_size(ct);
    for (int i = 0; i < rank; i++) {
        meta_le(le, dims[i], 8);
        chash_update(h, le, 8);
        if (i > 0) row *= dims[i];
    }
    hsize_t rows = rank == 0 ? 1 : dims[0];
    if (H5Sget_simple_extent_type(space) == H5S_NULL || rows == 0 || row == 0) {
        rc = 0;
        goto done;
    }
    hsize_t batch = row >= ((size_t)4 << 20) ? 1 : ((size_t)4 << 20) / row;
    if (batch > rows) batch = rows;
    if (!(buf = malloc(batch * row))) {
        why = "out of memory";
        goto done;
    }
    for (hsize_t r = 0; r < rows; r += batch) {
        hsize_t n = rows - r < batch ? rows - r : batch;
        hsize_t off[H5S_MAX_RANK] = {0}, cnt[H5S_MAX_RANK];
        memcpy(cnt, dims, sizeof cnt);
        off[0] = r;
        cnt[0] = n;
        hid_t ms = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, cnt, NULL);
        herr_t e = ms < 0 ? -1
                   : rank == 0 ? 0 : H5Sselect_hyperslab(space, H5S_SELECT_SET, off, NULL, cnt,
                                                         NULL);
        if (e >= 0) e = H5Dread(d, ct, ms, rank == 0 ? H5S_ALL : space, H5P_DEFAULT, buf);
        if (e >= 0 && vlen) { /* strings with their NUL, then give HDF5 its memory back */
            for (size_t k = 0; k < n * (row / sizeof(char *)); k++) {
                const char *str = ((char **)(void *)buf)[k];
                chash_update(h, str ? str : "", str ? strlen(str) + 1 : 1);
            }
            H5Dvlen_reclaim(ct, ms, H5P_DEFAULT, buf);
        } else if (e >= 0) {
            chash_update(h, buf, n * row);
        }
        if (ms >= 0) H5Sclose(ms);
        if (e < 0) goto done;
    }
    rc = 0;
done:
    if (rc) h5table_fail(f, "hash dataset", name, why ? why : h5table_reason());
done_reported:
    free(buf);
    free(desc.s);
    if (ct >= 0) H5Tclose(ct);
    if (ft >= 0) H5Tclose(ft);
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    return rc;
}

struct meta_names {
    char **names;
    size_t n, cap;
};

static herr_t meta_visit_cb(hid_t o, const char *name, const H5O_info_t *info, void *data)
{
    (void)o;
    struct meta_names *acc = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
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

static int meta_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int h5table_content_hash(struct h5table_file *f, uint64_t *hash)
{
    struct meta_names acc = {0};
    if (H5Ovisit2(f->id, H5_INDEX_NAME, H5_ITER_INC, meta_visit_cb, &acc, H5O_INFO_BASIC) < 0) {
        h5table_list_free(acc.names, acc.n);
        return h5table_fail(f, "hash", "/", "cannot list datasets (out of memory?)");
    }
    if (acc.n) qsort(acc.names, acc.n, sizeof *acc.names, meta_strcmp);
    struct chash *h = chash_new();
    int rc = h ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < acc.n; i++)
        rc = meta_hash_dataset(f, acc.names[i], h);
    if (rc == 0) *hash = chash_digest(h);
    chash_free(h);
    h5table_list_free(acc.names, acc.n);
    return rc;
}

int h5table_content_hash_path(const char *path, uint64_t *hash)
{
    struct h5table_file *f = h5table_open(path);
    if (!f) return -1;
    int rc = h5table_content_hash(f, hash);
    if (h5table_close(f) && !rc) rc = -1;
    return rc;
}

/* ---- provenance -------------------------------------------------------------------------- */

/* {"role": {"path": "...", "hash": "hex"}, ...} as unformatted JSON, malloc'd. */
static char *meta_inputs_json(const struct h5table_input *inputs, int n)
{
    cJSON *root = cJSON_CreateObject();
    char *out = NULL;
    int ok = root != NULL;
    for (int i = 0; ok && i < n; i++) {
        uint64_t h;
        char hex[17];
        if (inputs[i].hash) h = *inputs[i].hash;
        else if (h5table_content_hash_path(inputs[i].path, &h)) {
            err_wrap("cannot hash input '%s': ", inputs[i].role);
            ok = 0;
            break;
        }
        chash_hex(hex, h);
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddStringToObject(o, "path", inputs[i].path) &&
             cJSON_AddStringToObject(o, "hash", hex);
        if (o && !cJSON_AddItemToObject(root, inputs[i].role, o)) {
            cJSON_Delete(o);
            ok = 0;
        }
        if (!ok) err_set("cannot describe inputs: out of memory");
    }
    if (ok && !(out = cJSON_PrintUnformatted(root))) err_set("cannot describe inputs: out of memory");
    cJSON_Delete(root);
    return out;
}

int h5table_write_provenance(struct h5table_file *f, const char *stage, const char *params_json,
                             const struct h5table_input *inputs, int ninputs)
{
    cJSON *params = cJSON_Parse(params_json ? params_json : "");
    int is_obj = cJSON_IsObject(params);
    cJSON_Delete(params);
    if (!is_obj) return h5table_fail(f, "write provenance", "/", "params is not a JSON object");
    char *in = meta_inputs_json(inputs, ninputs);
    if (!in) return -1;
    int rc = h5table_attr_set_str(f, "/", "stage", stage) ||
             h5table_attr_set_str(f, "/", "salbench_version", SALBENCH_VERSION) ||
             h5table_attr_set_str(f, "/", "params", params_json) ||
             h5table_attr_set_str(f, "/", "inputs", in) ||
             h5table_attr_set_str(f, "/", "id_hash", CHASH_NAME) ||
             h5table_attr_set_u64(f, "/", "id_seed", CHASH_SEED)
                 ? -1 : 0;
    free(in);
    return rc;
}

void h5table_provenance_init(struct h5table_provenance *p)
{
    memset(p, 0, sizeof *p);
}

void h5table_provenance_release(struct h5table_provenance *p)
{
    if (!p) return;
    free(p->stage);
    free(p->version);
    free(p->params);
    free(p->inputs);
    h5table_provenance_init(p);
}

int h5table_read_provenance(struct h5table_file *f, struct h5table_provenance *p)
{
    if (h5table_attr_get_str(f, "/", "stage", &p->stage) ||
        h5table_attr_get_str(f, "/", "salbench_version", &p->version) ||
        h5table_attr_get_str(f, "/", "params", &p->params) ||
        h5table_attr_get_str(f, "/", "inputs", &p->inputs)) {
        h5table_provenance_release(p);
        return -1;
    }
    return 0;
}

int h5table_provenance_input(const struct h5table_provenance *p, const char *role, char **path,
                             uint64_t *hash)
{
    if (path) *path = NULL;
    cJSON *root = cJSON_Parse(p->inputs ? p->inputs : "");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set("cannot read provenance inputs: not a JSON object");
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, role);
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "path");
    const cJSON *hh = cJSON_GetObjectItemCaseSensitive(o, "hash");
    int rc = 0;
    if (!o)
        rc = 0;
    else if (!cJSON_IsString(ph) || !cJSON_IsString(hh) || chash_parse_hex(hash, hh->valuestring))
        rc = err_set("cannot read provenance input '%s': needs string path and 16-hex hash", role);
    else if (path && !(*path = strdup(ph->valuestring)))
        rc = err_set("cannot read provenance input '%s': out of memory", role);
    else
        rc = 1;
    cJSON_Delete(root);
    return rc;
}

int h5table_provenance_param(const struct h5table_provenance *p, const char *key,
                             char **value)
{
    *value = NULL;
    cJSON *root = cJSON_Parse(p->params ? p->params : "");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set("cannot read provenance params: not a JSON object");
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    int rc = 0;
    if (v) {
        *value = cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
        rc = *value ? 1 : err_set("cannot read provenance param '%s': out of memory", key);
    }
    cJSON_Delete(root);
    return rc;
}

int h5table_input_hash(struct h5table_file *f, const char *role, char **path, uint64_t *hash)
{
    struct h5table_provenance p;
    h5table_provenance_init(&p);
    int found = h5table_read_provenance(f, &p) ? -1 : h5table_provenance_input(&p, role, path,
                                                                                hash);
    h5table_provenance_release(&p);
    return found;
}

int h5table_require_input(struct h5table_file *f, const char *path, const char *role,
                          char **src, uint64_t *hash)
{
    int found = h5table_input_hash(f, role, src, hash);
    if (found < 0) return err_wrap("cannot verify '%s': ", path);
    if (found == 0)
        return err_set("cannot verify '%s': its provenance names no %s input", path, role);
    return 0;
}

int h5table_check_input(struct h5table_file *f, const char *path, const char *verb,
                        const char *role, const char *want_path, uint64_t want)
{
    char *src = NULL, a[17], b[17];
    uint64_t h = 0;
    int rc = h5table_require_input(f, path, role, &src, &h);
    if (!rc && h != want) {
        chash_hex(a, h), chash_hex(b, want);
        rc = err_set("cannot %s '%s': it was computed with %s '%s' (content hash %s), not with "
                     "'%s' (content hash %s)",
                     verb, path, role, src ? src : "?", a, want_path, b);
    }
    free(src);
    return rc ? -1 : 0;
}
