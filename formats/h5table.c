/* HDF5 tables, arrays and streams for salbench files; see h5table.h. This file holds files,
 * types, tables, arrays and streams; h5table_meta.c (attributes, ids, content hash, provenance)
 * shares the internals declared in h5table_impl.h. Every H5* return value is checked. */
#include "formats/h5table.h"
#include "formats/h5table_impl.h"

#include "formats/atomicfile.h"
#include "pipeline/err.h"

#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ~256 KiB of rows per chunk (HDF5.md: 64 KiB - 1 MiB), and a 16 MiB chunk cache. */
#define H5TABLE_CHUNK_BYTES (256u * 1024u)
#define H5TABLE_CACHE_BYTES ((size_t)16 << 20)
#define H5TABLE_CACHE_SLOTS 12421

/* ---- errors ------------------------------------------------------------------------------ */

/* libhdf5's low-level I/O messages run over several lines ("file write failed: time = ...\n,
 * filename = ..., errno = 28, error message = 'No space left on device', buf = ..."): keep the
 * head and the system's message, on one line. */
static void h5table_clean_desc(char *buf, size_t cap, const char *desc)
{
    const char *sys = strstr(desc, "error message = '");
    const char *colon = strchr(desc, ':');
    if (sys && colon && colon < sys) {
        sys += strlen("error message = '");
        const char *end = strchr(sys, '\'');
        snprintf(buf, cap, "%.*s: %.*s", (int)(colon - desc), desc,
                 (int)(end ? end - sys : (ptrdiff_t)strlen(sys)), sys);
    } else {
        snprintf(buf, cap, "%s", desc);
    }
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

static herr_t h5table_walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc && e->desc[0]) h5table_clean_desc(buf, 256, e->desc);
    return 0;
}

const char *h5table_reason(void)
{
    static _Thread_local char buf[256];
    snprintf(buf, sizeof buf, "HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5table_walk_cb, buf);
    H5Eclear2(H5E_DEFAULT);
    return buf;
}

void h5table_lib_init(void)
{
    static int done;
    if (done) return;
    done = 1;
    /* No library shutdown at exit: after a failed H5Fclose (a full disk) libhdf5 1.10.8 keeps
     * the file and segfaults closing it again in its atexit handler. Files we write are closed
     * (and checked) by commit/abort, read-only ones need no flush, temps go with atomicfile. */
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int h5table_fail(const struct h5table_file *f, const char *verb, const char *obj,
                 const char *reason)
{
    return err_set("cannot %s '%s' in '%s': %s", verb, obj && obj[0] ? obj : "/", f->path,
                   reason);
}

/* ---- types ------------------------------------------------------------------------------- */

size_t h5table_type_size(enum h5table_type t)
{
    switch (t) {
    case H5TABLE_U8: case H5TABLE_I8: return 1;
    case H5TABLE_U16: case H5TABLE_I16: return 2;
    case H5TABLE_U32: case H5TABLE_I32: case H5TABLE_F32: return 4;
    case H5TABLE_U64: case H5TABLE_I64: case H5TABLE_F64: return 8;
    default: return 0;
    }
}

const char *h5table_type_name(enum h5table_type t)
{
    static const char *const names[] = {"?", "uint8", "int8", "uint16", "int16", "uint32",
                                        "int32", "uint64", "int64", "float32", "float64",
                                        "string"};
    return t >= H5TABLE_U8 && t <= H5TABLE_STR ? names[t] : "?";
}

/* Predefined little-endian file type (not to be closed), or -1 for STR. */
static hid_t h5table_ftype(enum h5table_type t)
{
    switch (t) {
    case H5TABLE_U8: return H5T_STD_U8LE;
    case H5TABLE_I8: return H5T_STD_I8LE;
    case H5TABLE_U16: return H5T_STD_U16LE;
    case H5TABLE_I16: return H5T_STD_I16LE;
    case H5TABLE_U32: return H5T_STD_U32LE;
    case H5TABLE_I32: return H5T_STD_I32LE;
    case H5TABLE_U64: return H5T_STD_U64LE;
    case H5TABLE_I64: return H5T_STD_I64LE;
    case H5TABLE_F32: return H5T_IEEE_F32LE;
    case H5TABLE_F64: return H5T_IEEE_F64LE;
    default: return -1;
    }
}

hid_t h5table_mtype(enum h5table_type t)
{
    switch (t) {
    case H5TABLE_U8: return H5T_NATIVE_UINT8;
    case H5TABLE_I8: return H5T_NATIVE_INT8;
    case H5TABLE_U16: return H5T_NATIVE_UINT16;
    case H5TABLE_I16: return H5T_NATIVE_INT16;
    case H5TABLE_U32: return H5T_NATIVE_UINT32;
    case H5TABLE_I32: return H5T_NATIVE_INT32;
    case H5TABLE_U64: return H5T_NATIVE_UINT64;
    case H5TABLE_I64: return H5T_NATIVE_INT64;
    case H5TABLE_F32: return H5T_NATIVE_FLOAT;
    case H5TABLE_F64: return H5T_NATIVE_DOUBLE;
    default: return -1;
    }
}

/* Fixed-length NULLTERM UTF-8 string type of `size` bytes; -1 on failure. */
hid_t h5table_str_type(size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, size ? size : 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Maps a stored numeric type to the enum (0 when it is not one of ours). */
enum h5table_type h5table_classify(hid_t t)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls == H5T_FLOAT) return size == 4 ? H5TABLE_F32 : size == 8 ? H5TABLE_F64 : 0;
    if (cls == H5T_STRING) return H5TABLE_STR;
    if (cls != H5T_INTEGER) return 0;
    int sgn = H5Tget_sign(t) == H5T_SGN_2;
    switch (size) {
    case 1: return sgn ? H5TABLE_I8 : H5TABLE_U8;
    case 2: return sgn ? H5TABLE_I16 : H5TABLE_U16;
    case 4: return sgn ? H5TABLE_I32 : H5TABLE_U32;
    case 8: return sgn ? H5TABLE_I64 : H5TABLE_U64;
    default: return 0;
    }
}

/* Human name of a stored type for messages: "int16", "string[32]", "compound"... */
void h5table_describe(hid_t t, char *buf, size_t cap)
{
    enum h5table_type k = h5table_classify(t);
    H5T_class_t cls = H5Tget_class(t);
    if (k == H5TABLE_STR)
        snprintf(buf, cap, "%sstring[%zu]", H5Tis_variable_str(t) > 0 ? "variable-length " : "",
                 H5Tget_size(t));
    else if (k)
        snprintf(buf, cap, "%s", h5table_type_name(k));
    else
        snprintf(buf, cap, "%s of %zu bytes",
                 cls == H5T_COMPOUND ? "compound" : cls == H5T_ENUM ? "enum"
                 : cls == H5T_ARRAY ? "array" : cls == H5T_VLEN ? "vlen"
                 : cls == H5T_INTEGER ? "integer" : cls == H5T_FLOAT ? "float" : "other type",
                 H5Tget_size(t));
}

/* ---- corrupt-file defences --------------------------------------------------------------- */

/* libhdf5 1.10 decodes some type fields of a file without checking them and then trusts them
 * (a compound member placed past the end of its compound makes H5Dread read out of bounds);
 * this walks a stored type and refuses such layouts first. 0, or -1 with *why set. */
int h5table_type_sane(hid_t t, const char **why)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (cls < 0 || size == 0) return *why = "unreadable datatype", -1;
    if (cls == H5T_COMPOUND) {
        int n = H5Tget_nmembers(t);
        if (n < 0) return *why = "unreadable compound datatype", -1;
        for (int i = 0; i < n; i++) {
            hid_t m = H5Tget_member_type(t, (unsigned)i);
            size_t off = H5Tget_member_offset(t, (unsigned)i);
            int rc = m < 0 ? -1 : h5table_type_sane(m, why);
            size_t msize = m < 0 ? 0 : H5Tget_size(m);
            if (m >= 0) H5Tclose(m);
            if (rc == 0 && (msize > size || off > size - msize))
                *why = "compound member outside its compound (corrupt datatype)", rc = -1;
            if (rc) return -1;
        }
    } else if (cls == H5T_ARRAY) {
        hsize_t dims[H5S_MAX_RANK];
        int nd = H5Tget_array_ndims(t);
        hid_t base = H5Tget_super(t);
        int rc = nd < 1 || nd > H5S_MAX_RANK || base < 0 || H5Tget_array_dims2(t, dims) < 0
                     ? (*why = "unreadable array datatype", -1)
                     : h5table_type_sane(base, why);
        uint64_t bytes = base >= 0 ? H5Tget_size(base) : 0;
        for (int i = 0; rc == 0 && i < nd; i++) {
            if (dims[i] && bytes > UINT64_MAX / dims[i]) bytes = UINT64_MAX;
            else bytes *= dims[i];
        }
        if (base >= 0) H5Tclose(base);
        if (rc == 0 && bytes != size) *why = "array datatype of inconsistent size", rc = -1;
        return rc;
    }
    return 0;
}

/* A dataset must be plausible before anything is allocated for it: a sane type, a logical
 * size (elements x element size) that fits in 64 bits and, when it is above
 * H5TABLE_SLACK_BYTES, at most H5TABLE_MAX_EXPANSION times the bytes it stores (deflate cannot
 * expand more than 1032:1), so a few corrupt bytes cannot claim terabytes of fill values. */
#define H5TABLE_MAX_EXPANSION 1100u
#define H5TABLE_SLACK_BYTES ((uint64_t)64 << 20)

int h5table_dataset_sane(const struct h5table_file *f, const char *name, hid_t dset,
                         hid_t ftype, int rank, const hsize_t *dims)
{
    const char *why = NULL;
    char buf[160];
    if (h5table_type_sane(ftype, &why)) return h5table_fail(f, "read", name, why);
    uint64_t bytes = H5Tget_size(ftype);
    for (int i = 0; i < rank; i++) {
        if (dims[i] && bytes > UINT64_MAX / dims[i])
            return h5table_fail(f, "read", name, "dimensions overflow 64 bits (corrupt file?)");
        bytes *= dims[i];
    }
    if (bytes <= H5TABLE_SLACK_BYTES) return 0;
    uint64_t stored = H5Dget_storage_size(dset);
    if (stored >= bytes / H5TABLE_MAX_EXPANSION) return 0;
    snprintf(buf, sizeof buf, "claims %llu bytes of data but stores %llu (corrupt file?)",
             (unsigned long long)bytes, (unsigned long long)stored);
    return h5table_fail(f, "read", name, buf);
}

/* ---- files ------------------------------------------------------------------------------- */

static hid_t h5table_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    /* SEMI: H5Fclose fails while objects are open instead of silently deferring the close;
     * 1.8 format: attributes larger than 64 KiB (long JSON) use dense storage. */
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

static void h5table_free(struct h5table_file *f)
{
    if (!f) return;
    free(f->path);
    free(f->tmp);
    free(f);
}

static struct h5table_file *h5table_alloc(const char *path)
{
    struct h5table_file *f = calloc(1, sizeof *f);
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        h5table_free(f);
        err_set("cannot open '%s': out of memory", path);
        return NULL;
    }
    f->id = -1;
    return f;
}

struct h5table_file *h5table_create(const char *path)
{
    h5table_lib_init();
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        err_set("cannot create '%s': is a directory", path);
        return NULL;
    }
    struct h5table_file *f = h5table_alloc(path);
    if (!f) return NULL;
    f->writable = 1;
    f->tmp = atomicfile_temp_path(path);
    if (!f->tmp || atomicfile_register(f->tmp)) {
        h5table_free(f);
        return NULL;
    }
    hid_t fapl = h5table_fapl(), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl >= 0 && fcpl >= 0 && H5Pset_obj_track_times(fcpl, 0) >= 0 &&
        H5Pset_attr_creation_order(fcpl, H5TABLE_CRT_ORDER) >= 0)
        f->id = H5Fcreate(f->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (f->id < 0) {
        int e = errno;
        const char *why = h5table_reason();
        if (access(f->tmp, F_OK) != 0 && e) why = strerror(e);
        err_set("cannot create '%s': %s", f->tmp, why);
        atomicfile_discard(f->tmp);
        h5table_free(f);
        return NULL;
    }
    return f;
}

/* ---- crash-proof metadata check of input files ----------------------------------------- */

/* libhdf5 1.10.8 can crash (use-after-free, wild reads) on corrupt object headers and
 * attribute messages, and no cheap check on our side sees them coming. So before an input
 * file is opened for real, a forked child opens it and walks every object's header, attributes
 * (small ones are read) and dataset type/space/layout; if the child dies or hangs, the file
 * is refused with a clear message instead of crashing the stage. A child that merely meets
 * HDF5 errors exits 0: the real open then reports them. Costs a fork and a metadata walk
 * (milliseconds). SALBENCH_H5_PRECHECK=N sets the time limit to N seconds (default 60);
 * 0 turns the check off. */
#define H5TABLE_PRECHECK_SECONDS 60

static herr_t h5table_probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *d)
{
    (void)info, (void)d;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = -1, s = -1;
    if (a >= 0) t = H5Aget_type(a), s = H5Aget_space(a);
    hssize_t np = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    const char *why = NULL;
    if (t >= 0 && np >= 0 && h5table_type_sane(t, &why) == 0) {
        if (H5Tis_variable_str(t) > 0 && np == 1) {
            char *v = NULL;
            if (H5Aread(a, t, &v) >= 0 && v) H5free_memory(v);
        } else if (H5Tis_variable_str(t) <= 0 && H5Tdetect_class(t, H5T_VLEN) == 0 &&
                   H5Tdetect_class(t, H5T_REFERENCE) == 0 &&
                   (uint64_t)np * H5Tget_size(t) <= ((uint64_t)1 << 20) &&
                   (uint64_t)np * H5Tget_size(t) <= H5Aget_storage_size(a)) {
            void *buf = malloc((size_t)np * H5Tget_size(t) + 1);
            if (buf) H5Aread(a, t, buf);
            free(buf);
        }
    }
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return 0;
}

static herr_t h5table_probe_obj(hid_t root, const char *name, const H5O_info_t *info, void *d)
{
    (void)d;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    if (o < 0) return 0;
    /* by index, going on after a bad one (H5Aiterate stops at the first error, and the
     * parent may still open a later attribute by name) */
    for (hsize_t i = 0; i < info->num_attrs && i < 4096; i++) {
        char aname[1024];
        ssize_t len = H5Aget_name_by_idx(o, ".", H5_INDEX_NAME, H5_ITER_NATIVE, i, aname,
                                         sizeof aname, H5P_DEFAULT);
        if (len > 0 && (size_t)len < sizeof aname) h5table_probe_attr(o, aname, NULL, NULL);
    }
    if (info->type == H5O_TYPE_DATASET) {
        hid_t t = H5Dget_type(o), s = H5Dget_space(o), p = H5Dget_create_plist(o);
        const char *why;
        if (t >= 0) h5table_type_sane(t, &why);
        if (s >= 0) H5Sget_simple_extent_npoints(s);
        if (p >= 0) H5Pget_layout(p), H5Pget_nfilters(p);
        H5Dget_storage_size(o);
        if (p >= 0) H5Pclose(p);
        if (s >= 0) H5Sclose(s);
        if (t >= 0) H5Tclose(t);
    }
    H5Oclose(o);
    return 0;
}

static double h5table_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 0 when the child walked the file (or could not be started), -1 with err_set when it died. */
static int h5table_precheck(const char *path)
{
    const char *env = getenv("SALBENCH_H5_PRECHECK");
    long limit = env && *env ? strtol(env, NULL, 10) : H5TABLE_PRECHECK_SECONDS;
    if (limit <= 0) return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return 0; /* no process to spare: open without the check */
    if (pid == 0) {
        hid_t fapl = h5table_fapl();
        hid_t id = fapl >= 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
        if (id >= 0) H5Ovisit2(id, H5_INDEX_NAME, H5_ITER_INC, h5table_probe_obj, NULL,
                               H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS);
        _exit(0); /* no atexit handlers: the parent's temps and HDF5 state are its own */
    }
    int status = 0;
    struct timespec nap = {0, 1000000};
    double t0 = h5table_now();
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR)) break;
        if (h5table_now() - t0 >= (double)limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return err_set("cannot open '%s': libhdf5 did not finish reading its metadata in "
                           "%ld s (corrupt file?)", path, limit);
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000) nap.tv_nsec *= 2;
    }
    if (WIFSIGNALED(status))
        return err_set("cannot open '%s': corrupt HDF5 file (libhdf5 crashed reading its "
                       "metadata: signal %d)", path, WTERMSIG(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        return err_set("cannot open '%s': corrupt HDF5 file (libhdf5 failed reading its "
                       "metadata: exit status %d)", path, WEXITSTATUS(status));
    return 0;
}

struct h5table_file *h5table_open(const char *path)
{
    h5table_lib_init();
    if (access(path, R_OK) != 0) {
        err_set("cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        err_set("cannot open '%s': not an HDF5 file", path);
        return NULL;
    }
    if (h5table_precheck(path)) return NULL;
    struct h5table_file *f = h5table_alloc(path);
    if (!f) return NULL;
    hid_t fapl = h5table_fapl();
    if (fapl >= 0) f->id = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f->id < 0) {
        err_set("cannot open '%s': %s", path, h5table_reason());
        h5table_free(f);
        return NULL;
    }
    return f;
}

/* Detaches the streams still open on f: their datasets are closed with the file, and a later
 * h5table_stream_close only frees them. */
static void h5table_orphan_streams(struct h5table_file *f)
{
    for (struct h5table_stream *s = f->streams, *next; s; s = next) {
        next = s->next;
        s->file = NULL;
        s->next = NULL;
        s->dset = -1;
    }
    f->streams = NULL;
}

/* Closes every object still open in f (after a failure); returns how many there were. */
static ssize_t h5table_close_objects(struct h5table_file *f)
{
    unsigned types = H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR |
                     H5F_OBJ_LOCAL;
    ssize_t n = H5Fget_obj_count(f->id, types);
    if (n <= 0) return n;
    hid_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return n;
    ssize_t got = H5Fget_obj_ids(f->id, types, (size_t)n, ids);
    for (ssize_t i = 0; i < got; i++) {
        H5I_type_t t = H5Iget_type(ids[i]);
        if (t == H5I_ATTR) H5Aclose(ids[i]);
        else if (t == H5I_DATATYPE) H5Tclose(ids[i]);
        else H5Oclose(ids[i]);
    }
    free(ids);
    return n;
}

int h5table_commit(struct h5table_file *f)
{
    SB_ASSERT(f && f->writable);
    int rc = 0;
    if (f->streams)
        rc = err_set("cannot commit '%s': stream '%s' still open (close streams first)", f->path,
                     f->streams->name);
    h5table_orphan_streams(f);
    ssize_t open_objects = h5table_close_objects(f);
    if (open_objects > 0 && !rc)
        rc = err_set("cannot commit '%s': %zd objects still open", f->path, open_objects);
    if (H5Fclose(f->id) < 0 && !rc)
        rc = err_set("cannot commit '%s': closing '%s': %s", f->path, f->tmp, h5table_reason());
    f->id = -1;
    if (rc)
        atomicfile_discard(f->tmp);
    else
        rc = atomicfile_commit(f->tmp, f->path);
    h5table_free(f);
    return rc;
}

void h5table_abort(struct h5table_file *f)
{
    if (!f) return;
    h5table_orphan_streams(f);
    if (f->id >= 0) {
        h5table_close_objects(f);
        H5Fclose(f->id);
        H5Eclear2(H5E_DEFAULT);
    }
    if (f->writable) atomicfile_discard(f->tmp);
    h5table_free(f);
}

int h5table_close(struct h5table_file *f)
{
    if (!f) return 0;
    if (f->writable) {
        h5table_abort(f);
        return err_set("cannot close '%s': written file was neither committed nor aborted",
                       f->path);
    }
    int rc = 0;
    if (f->streams)
        rc = err_set("cannot close '%s': stream '%s' still open (close streams first)", f->path,
                     f->streams->name);
    h5table_orphan_streams(f);
    if (h5table_close_objects(f) > 0 && !rc)
        rc = err_set("cannot close '%s': objects still open", f->path);
    if (H5Fclose(f->id) < 0 && !rc)
        rc = err_set("cannot close '%s': %s", f->path, h5table_reason());
    h5table_free(f);
    return rc;
}

const char *h5table_path(const struct h5table_file *f)
{
    return f->path;
}

/* ---- objects ----------------------------------------------------------------------------- */

const char *h5table_objname(const char *name)
{
    return name && name[0] ? name : "/";
}

int h5table_exists(struct h5table_file *f, const char *name)
{
    const char *n = h5table_objname(name);
    if (strcmp(n, "/") == 0) return 1;
    char *copy = strdup(n);
    if (!copy) return err_set("cannot look up '%s' in '%s': out of memory", n, f->path);
    int found = 1;
    /* Each prefix must exist before H5Lexists may be asked about the next one. */
    for (char *p = copy + 1; found > 0; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        htri_t e = H5Lexists(f->id, copy, H5P_DEFAULT);
        if (e > 0) e = H5Oexists_by_name(f->id, copy, H5P_DEFAULT);
        found = e < 0 ? -1 : e > 0;
        *p = saved;
        if (saved == '\0') break;
    }
    free(copy);
    if (found < 0) return h5table_fail(f, "look up", n, h5table_reason());
    return found;
}

/* Creates the groups above `name` that do not exist yet (time tracking off). */
static int h5table_make_parents(struct h5table_file *f, const char *name)
{
    const char *slash = strrchr(name, '/');
    if (!slash || slash == name) return 0;
    char *copy = strndup(name, (size_t)(slash - name));
    if (!copy) return h5table_fail(f, "create", name, "out of memory");
    int rc = 0;
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0 || H5Pset_obj_track_times(gcpl, 0) < 0 ||
        H5Pset_attr_creation_order(gcpl, H5TABLE_CRT_ORDER) < 0)
        rc = -1;
    for (char *p = copy + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        htri_t e = H5Lexists(f->id, copy, H5P_DEFAULT);
        if (e == 0) {
            hid_t g = H5Gcreate2(f->id, copy, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0 || H5Gclose(g) < 0) rc = -1;
        } else if (e < 0) {
            rc = -1;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    if (gcpl >= 0) H5Pclose(gcpl);
    if (rc) h5table_fail(f, "create group for", name, h5table_reason());
    free(copy);
    return rc;
}

static herr_t h5table_list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    struct {
        char **names;
        size_t n, cap;
    } *acc = data;
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

static int h5table_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int h5table_list(struct h5table_file *f, const char *group, char ***names, size_t *n)
{
    struct {
        char **names;
        size_t n, cap;
    } acc = {NULL, 0, 0};
    const char *g = h5table_objname(group);
    *names = NULL;
    *n = 0;
    hid_t gid = H5Gopen2(f->id, g, H5P_DEFAULT);
    if (gid < 0) return h5table_fail(f, "list group", g, h5table_reason());
    herr_t e = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, NULL, h5table_list_cb, &acc);
    H5Gclose(gid);
    if (e < 0) {
        h5table_list_free(acc.names, acc.n);
        return h5table_fail(f, "list group", g, "iteration failed or out of memory");
    }
    if (acc.n) qsort(acc.names, acc.n, sizeof *acc.names, h5table_strcmp);
    *names = acc.names;
    *n = acc.n;
    return 0;
}

void h5table_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n && names; i++)
        free(names[i]);
    free(names);
}

/* ---- schemas ----------------------------------------------------------------------------- */

static int h5table_schema_ok(const struct h5table_file *f, const char *name,
                             const struct h5table_schema *s)
{
    if (!s || s->ncolumns < 1 || !s->columns || s->row_size == 0)
        return h5table_fail(f, "describe table", name, "schema has no columns");
    for (int i = 0; i < s->ncolumns; i++) {
        const struct h5table_column *c = &s->columns[i];
        size_t want = h5table_type_size(c->type);
        if (c->type == H5TABLE_STR ? c->size < 1 : want != c->size)
            return err_set("cannot describe table '%s' in '%s': column '%s' is %zu bytes in "
                           "memory, %s needs %zu", name, f->path, c->name, c->size,
                           h5table_type_name(c->type), want);
        if (c->offset + c->size > s->row_size)
            return err_set("cannot describe table '%s' in '%s': column '%s' ends past the row "
                           "(%zu > %zu)", name, f->path, c->name, c->offset + c->size,
                           s->row_size);
        for (int j = 0; j < i; j++)
            if (strcmp(s->columns[j].name, c->name) == 0)
                return err_set("cannot describe table '%s' in '%s': column '%s' twice", name,
                               f->path, c->name);
    }
    return 0;
}

/* Compound type of the schema: in memory (at struct offsets) or packed for the file. */
static hid_t h5table_compound(const struct h5table_schema *s, int packed)
{
    size_t total = 0;
    for (int i = 0; i < s->ncolumns; i++)
        total += s->columns[i].size;
    hid_t t = H5Tcreate(H5T_COMPOUND, packed ? total : s->row_size);
    size_t off = 0;
    for (int i = 0; t >= 0 && i < s->ncolumns; i++) {
        const struct h5table_column *c = &s->columns[i];
        hid_t m = c->type == H5TABLE_STR ? h5table_str_type(c->size)
                  : packed ? h5table_ftype(c->type) : h5table_mtype(c->type);
        herr_t e = m < 0 ? -1 : H5Tinsert(t, c->name, packed ? off : c->offset, m);
        if (c->type == H5TABLE_STR && m >= 0) H5Tclose(m);
        off += c->size;
        if (e < 0) {
            H5Tclose(t);
            t = -1;
        }
    }
    return t;
}

/* Checks a stored table type against the schema (extra stored columns are fine). */
static int h5table_schema_check(const struct h5table_file *f, const char *name, hid_t ftype,
                                const struct h5table_schema *s)
{
    char have[64];
    if (H5Tget_class(ftype) != H5T_COMPOUND) {
        h5table_describe(ftype, have, sizeof have);
        return err_set("cannot read table '%s' in '%s': dataset is %s, not a table", name,
                       f->path, have);
    }
    for (int i = 0; i < s->ncolumns; i++) {
        const struct h5table_column *c = &s->columns[i];
        int idx = H5Tget_member_index(ftype, c->name);
        if (idx < 0) {
            H5Eclear2(H5E_DEFAULT);
            return err_set("cannot read table '%s' in '%s': missing column '%s'", name,
                           f->path, c->name);
        }
        hid_t mt = H5Tget_member_type(ftype, (unsigned)idx);
        if (mt < 0) return h5table_fail(f, "read table", name, h5table_reason());
        enum h5table_type k = h5table_classify(mt);
        int ok = k == c->type;
        if (ok && k == H5TABLE_STR)
            ok = H5Tis_variable_str(mt) <= 0 && H5Tget_size(mt) <= c->size;
        h5table_describe(mt, have, sizeof have);
        H5Tclose(mt);
        if (!ok) {
            char want[64];
            if (c->type == H5TABLE_STR)
                snprintf(want, sizeof want, "string[<= %zu]", c->size);
            else
                snprintf(want, sizeof want, "%s", h5table_type_name(c->type));
            return err_set("cannot read table '%s' in '%s': column '%s' is %s, expected %s",
                           name, f->path, c->name, have, want);
        }
    }
    return 0;
}

/* ---- streams ----------------------------------------------------------------------------- */

static void h5table_stream_free(struct h5table_stream *s)
{
    if (!s) return;
    for (struct h5table_stream **p = s->file ? &s->file->streams : NULL; p && *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (s->dset >= 0) H5Dclose(s->dset);
    if (s->mtype >= 0) H5Tclose(s->mtype);
    free(s->name);
    free(s);
}

static struct h5table_stream *h5table_stream_alloc(struct h5table_file *f, const char *name)
{
    struct h5table_stream *s = calloc(1, sizeof *s);
    if (s) s->name = strdup(name);
    if (!s || !s->name) {
        free(s);
        h5table_fail(f, "open", name, "out of memory");
        return NULL;
    }
    s->file = f;
    s->dset = s->mtype = -1;
    s->next = f->streams;
    f->streams = s;
    return s;
}

static hid_t h5table_dapl(void)
{
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0 &&
        H5Pset_chunk_cache(dapl, H5TABLE_CACHE_SLOTS, H5TABLE_CACHE_BYTES, 1.0) < 0) {
        H5Pclose(dapl);
        return -1;
    }
    return dapl;
}

/* Creates an extendible dataset of 0 rows; s->rank, s->dims[1..] set by the caller. */
static int h5table_stream_make(struct h5table_stream *s, hid_t ftype, size_t file_row_bytes,
                               int shuffle, int level)
{
    struct h5table_file *f = s->file;
    hsize_t maxdims[H5TABLE_MAX_RANK], chunk[H5TABLE_MAX_RANK];
    size_t rows = H5TABLE_CHUNK_BYTES / (file_row_bytes ? file_row_bytes : 1);
    s->dims[0] = 0;
    maxdims[0] = H5S_UNLIMITED;
    chunk[0] = rows ? rows : 1;
    for (int i = 1; i < s->rank; i++)
        maxdims[i] = chunk[i] = s->dims[i];
    hid_t space = -1, dcpl = -1, dapl = -1;
    int rc = -1;
    if (!f->writable) return h5table_fail(f, "create", s->name, "file is open read-only");
    int e = h5table_exists(f, s->name);
    if (e != 0) return e < 0 ? -1 : h5table_fail(f, "create", s->name, "already exists");
    if (h5table_make_parents(f, s->name)) return -1;
    space = H5Screate_simple(s->rank, s->dims, maxdims);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    dapl = h5table_dapl();
    if (space < 0 || dcpl < 0 || dapl < 0 || H5Pset_chunk(dcpl, s->rank, chunk) < 0 ||
        H5Pset_obj_track_times(dcpl, 0) < 0 ||
        H5Pset_attr_creation_order(dcpl, H5TABLE_CRT_ORDER) < 0 || (shuffle && H5Pset_shuffle(dcpl) < 0) ||
        (level > 0 && H5Pset_deflate(dcpl, (unsigned)level) < 0))
        goto done;
    s->dset = H5Dcreate2(f->id, s->name, ftype, space, H5P_DEFAULT, dcpl, dapl);
    if (s->dset >= 0) rc = 0;
done:
    if (rc) h5table_fail(f, "create", s->name, h5table_reason());
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (dapl >= 0) H5Pclose(dapl);
    return rc;
}

/* Writes the TABLE attributes (PyTables / H5TB convention). */
static int h5table_table_attrs(struct h5table_file *f, const char *name,
                               const struct h5table_schema *s)
{
    char key[64];
    if (h5table_attr_set_str(f, name, "CLASS", "TABLE") ||
        h5table_attr_set_str(f, name, "VERSION", "3.0") ||
        h5table_attr_set_str(f, name, "TITLE", s->title ? s->title : name))
        return -1;
    for (int i = 0; i < s->ncolumns; i++) {
        snprintf(key, sizeof key, "FIELD_%d_NAME", i);
        if (h5table_attr_set_str(f, name, key, s->columns[i].name)) return -1;
    }
    return 0;
}

struct h5table_stream *h5table_stream_create_table(struct h5table_file *f, const char *name,
                                                   const struct h5table_schema *s)
{
    if (h5table_schema_ok(f, name, s)) return NULL;
    struct h5table_stream *st = h5table_stream_alloc(f, name);
    if (!st) return NULL;
    st->rank = 1;
    st->row_bytes = s->row_size;
    hid_t ftype = h5table_compound(s, 1);
    st->mtype = h5table_compound(s, 0);
    int rc = ftype < 0 || st->mtype < 0
                 ? h5table_fail(f, "create table", name, h5table_reason())
                 : h5table_stream_make(st, ftype, H5Tget_size(ftype), 1, 4);
    if (ftype >= 0) H5Tclose(ftype);
    if (rc == 0) rc = h5table_table_attrs(f, name, s);
    if (rc) {
        h5table_stream_free(st);
        return NULL;
    }
    return st;
}

struct h5table_stream *h5table_stream_create_array(struct h5table_file *f, const char *name,
                                                   enum h5table_type type, int rank,
                                                   const uint64_t *dims)
{
    if (rank < 1 || rank > H5TABLE_MAX_RANK || !h5table_type_size(type)) {
        h5table_fail(f, "create array", name, "rank must be 1..8 and the type numeric");
        return NULL;
    }
    size_t row = h5table_type_size(type);
    for (int i = 1; i < rank; i++) {
        if (dims[i] == 0) {
            h5table_fail(f, "create array", name, "a dimension after the first is 0");
            return NULL;
        }
        row *= dims[i];
    }
    struct h5table_stream *st = h5table_stream_alloc(f, name);
    if (!st) return NULL;
    st->rank = rank;
    st->row_bytes = row;
    for (int i = 1; i < rank; i++)
        st->dims[i] = dims[i];
    st->mtype = H5Tcopy(h5table_mtype(type));
    int narrow = h5table_type_size(type) == 1;
    if (st->mtype < 0 || h5table_stream_make(st, h5table_ftype(type), row, !narrow,
                                             narrow ? 1 : 4)) {
        if (st->mtype < 0) h5table_fail(f, "create array", name, h5table_reason());
        h5table_stream_free(st);
        return NULL;
    }
    return st;
}

/* Opens a dataset for reading and fills rank/dims; returns its stored type (caller closes). */
static hid_t h5table_stream_attach(struct h5table_stream *s)
{
    struct h5table_file *f = s->file;
    int e = h5table_exists(f, s->name);
    if (e <= 0) {
        if (e == 0) h5table_fail(f, "open", s->name, "no such dataset");
        return -1;
    }
    hid_t dapl = h5table_dapl(), space = -1, ftype = -1;
    if (dapl >= 0) s->dset = H5Dopen2(f->id, s->name, dapl);
    if (dapl >= 0) H5Pclose(dapl);
    if (s->dset >= 0) space = H5Dget_space(s->dset);
    if (space >= 0) s->rank = H5Sget_simple_extent_ndims(space);
    if (space >= 0 && s->rank >= 0 && s->rank <= H5TABLE_MAX_RANK &&
        H5Sget_simple_extent_dims(space, s->dims, NULL) >= 0)
        ftype = H5Dget_type(s->dset);
    if (space >= 0) H5Sclose(space);
    if (ftype < 0) {
        h5table_fail(f, "open", s->name,
                     s->rank > H5TABLE_MAX_RANK ? "rank above 8" : h5table_reason());
        return -1;
    }
    if (h5table_dataset_sane(f, s->name, s->dset, ftype, s->rank, s->dims)) {
        H5Tclose(ftype);
        return -1;
    }
    return ftype;
}

struct h5table_stream *h5table_stream_open_table(struct h5table_file *f, const char *name,
                                                 const struct h5table_schema *s)
{
    if (h5table_schema_ok(f, name, s)) return NULL;
    struct h5table_stream *st = h5table_stream_alloc(f, name);
    if (!st) return NULL;
    hid_t ftype = h5table_stream_attach(st);
    int rc = ftype < 0 ? -1 : h5table_schema_check(f, name, ftype, s);
    if (rc == 0 && st->rank != 1)
        rc = err_set("cannot read table '%s' in '%s': rank is %d, a table has rank 1", name,
                     f->path, st->rank);
    if (ftype >= 0) H5Tclose(ftype);
    if (rc == 0) {
        st->row_bytes = s->row_size;
        st->mtype = h5table_compound(s, 0);
        if (st->mtype < 0) rc = h5table_fail(f, "read table", name, h5table_reason());
    }
    if (rc) {
        h5table_stream_free(st);
        return NULL;
    }
    return st;
}

struct h5table_stream *h5table_stream_open_array(struct h5table_file *f, const char *name,
                                                 enum h5table_type type, int rank,
                                                 uint64_t dims[H5TABLE_MAX_RANK])
{
    struct h5table_stream *st = h5table_stream_alloc(f, name);
    if (!st) return NULL;
    hid_t ftype = h5table_stream_attach(st);
    int rc = ftype < 0 ? -1 : 0;
    if (rc == 0) {
        enum h5table_type k = h5table_classify(ftype);
        char have[64];
        h5table_describe(ftype, have, sizeof have);
        if (k != type || k == H5TABLE_STR)
            rc = err_set("cannot read array '%s' in '%s': stored type is %s, expected %s",
                         name, f->path, have, h5table_type_name(type));
        else if (rank > 0 && st->rank != rank)
            rc = err_set("cannot read array '%s' in '%s': rank is %d, expected %d", name,
                         f->path, st->rank, rank);
        else if (st->rank < 1)
            rc = err_set("cannot read array '%s' in '%s': scalar dataset, not an array", name,
                         f->path);
        H5Tclose(ftype);
    }
    if (rc == 0) {
        /* no overflow: h5table_dataset_sane bounded the whole size (and type size <= 8 bytes
         * is at most the stored element size, which matched `type`) */
        st->row_bytes = h5table_type_size(type);
        for (int i = 1; i < st->rank; i++)
            st->row_bytes *= st->dims[i];
        st->mtype = H5Tcopy(h5table_mtype(type));
        if (st->mtype < 0) rc = h5table_fail(f, "read array", name, h5table_reason());
    }
    if (rc) {
        h5table_stream_free(st);
        return NULL;
    }
    for (int i = 0; dims && i < H5TABLE_MAX_RANK; i++)
        dims[i] = i < st->rank ? st->dims[i] : 0;
    return st;
}

/* Selects rows [start, start+count) of s in a new file space; returns it and a memory space. */
static int h5table_select(struct h5table_stream *s, uint64_t start, uint64_t count,
                          hid_t *fspace, hid_t *mspace)
{
    hsize_t off[H5TABLE_MAX_RANK] = {0}, cnt[H5TABLE_MAX_RANK];
    off[0] = start;
    cnt[0] = count;
    for (int i = 1; i < s->rank; i++)
        cnt[i] = s->dims[i];
    *fspace = H5Dget_space(s->dset);
    *mspace = H5Screate_simple(s->rank, cnt, NULL);
    if (*fspace < 0 || *mspace < 0 ||
        H5Sselect_hyperslab(*fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0) {
        if (*fspace >= 0) H5Sclose(*fspace);
        if (*mspace >= 0) H5Sclose(*mspace);
        return -1;
    }
    return 0;
}

int h5table_stream_append(struct h5table_stream *s, const void *data, size_t nrows)
{
    if (nrows == 0) return 0;
    hsize_t dims[H5TABLE_MAX_RANK];
    memcpy(dims, s->dims, sizeof dims);
    dims[0] += nrows;
    hid_t fspace = -1, mspace = -1;
    if (H5Dset_extent(s->dset, dims) < 0 ||
        h5table_select(s, s->dims[0], nrows, &fspace, &mspace) < 0)
        return h5table_fail(s->file, "append to", s->name, h5table_reason());
    herr_t e = H5Dwrite(s->dset, s->mtype, mspace, fspace, H5P_DEFAULT, data);
    H5Sclose(fspace);
    H5Sclose(mspace);
    if (e < 0) return h5table_fail(s->file, "write", s->name, h5table_reason());
    s->dims[0] = dims[0];
    return 0;
}

int h5table_stream_read(struct h5table_stream *s, uint64_t start, uint64_t count, void *buf)
{
    if (start > s->dims[0] || count > s->dims[0] - start) {
        char why[128];
        snprintf(why, sizeof why, "rows [%llu, %llu) out of range (%llu rows)",
                 (unsigned long long)start, (unsigned long long)(start + count),
                 (unsigned long long)s->dims[0]);
        return h5table_fail(s->file, "read", s->name, why);
    }
    if (count == 0) return 0;
    memset(buf, 0, (size_t)count * s->row_bytes);
    hid_t fspace, mspace;
    if (h5table_select(s, start, count, &fspace, &mspace) < 0)
        return h5table_fail(s->file, "read", s->name, h5table_reason());
    herr_t e = H5Dread(s->dset, s->mtype, mspace, fspace, H5P_DEFAULT, buf);
    H5Sclose(fspace);
    H5Sclose(mspace);
    if (e < 0) return h5table_fail(s->file, "read", s->name, h5table_reason());
    return 0;
}

uint64_t h5table_stream_rows(const struct h5table_stream *s)
{
    return s->dims[0];
}

size_t h5table_stream_row_bytes(const struct h5table_stream *s)
{
    return s->row_bytes;
}

int h5table_stream_close(struct h5table_stream *s)
{
    if (!s) return 0;
    int rc = 0;
    if (!s->file)
        rc = err_set("cannot close stream '%s': its file was already closed", s->name);
    else if (H5Dclose(s->dset) < 0)
        rc = h5table_fail(s->file, "close", s->name, h5table_reason());
    s->dset = -1;
    h5table_stream_free(s);
    return rc;
}

/* ---- whole tables and arrays ------------------------------------------------------------- */

int h5table_write_table(struct h5table_file *f, const char *name,
                        const struct h5table_schema *s, const void *rows, size_t n)
{
    struct h5table_stream *st = h5table_stream_create_table(f, name, s);
    if (!st) return -1;
    int rc = h5table_stream_append(st, rows, n);
    if (h5table_stream_close(st) && !rc) rc = -1;
    return rc;
}

/* Allocates rows * row_bytes (NULL for 0 rows) with an overflow check. */
static int h5table_alloc_rows(struct h5table_stream *s, uint64_t rows, void **out)
{
    *out = NULL;
    if (rows == 0) return 0;
    if (rows > SIZE_MAX / (s->row_bytes ? s->row_bytes : 1))
        return h5table_fail(s->file, "read", s->name, "too large for memory");
    *out = malloc((size_t)rows * s->row_bytes);
    if (!*out) return h5table_fail(s->file, "read", s->name, "out of memory");
    return 0;
}

int h5table_read_table(struct h5table_file *f, const char *name,
                       const struct h5table_schema *s, void **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    struct h5table_stream *st = h5table_stream_open_table(f, name, s);
    if (!st) return -1;
    uint64_t count = st->dims[0];
    int rc = h5table_alloc_rows(st, count, rows);
    if (rc == 0) rc = h5table_stream_read(st, 0, count, *rows);
    if (h5table_stream_close(st) && !rc) rc = -1;
    if (rc) {
        free(*rows);
        *rows = NULL;
        return -1;
    }
    *n = (size_t)count;
    return 0;
}

int h5table_write_array(struct h5table_file *f, const char *name, enum h5table_type type,
                        int rank, const uint64_t *dims, const void *data)
{
    struct h5table_stream *st = h5table_stream_create_array(f, name, type, rank, dims);
    if (!st) return -1;
    int rc = h5table_stream_append(st, data, (size_t)dims[0]);
    if (h5table_stream_close(st) && !rc) rc = -1;
    return rc;
}

int h5table_read_array(struct h5table_file *f, const char *name, enum h5table_type type,
                       int rank, uint64_t dims[H5TABLE_MAX_RANK], void **data)
{
    *data = NULL;
    struct h5table_stream *st = h5table_stream_open_array(f, name, type, rank, dims);
    if (!st) return -1;
    int rc = h5table_alloc_rows(st, st->dims[0], data);
    if (rc == 0) rc = h5table_stream_read(st, 0, st->dims[0], *data);
    if (h5table_stream_close(st) && !rc) rc = -1;
    if (rc) {
        free(*data);
        *data = NULL;
    }
    return rc;
}

int h5table_array_info(struct h5table_file *f, const char *name, enum h5table_type *type,
                       int *rank, uint64_t dims[H5TABLE_MAX_RANK])
{
    struct h5table_stream *st = h5table_stream_alloc(f, name);
    if (!st) return -1;
    hid_t ftype = h5table_stream_attach(st);
    if (ftype < 0) {
        h5table_stream_free(st);
        return -1;
    }
    enum h5table_type k = h5table_classify(ftype);
    H5Tclose(ftype);
    if (type) *type = k == H5TABLE_STR ? 0 : k;
    if (rank) *rank = st->rank;
    for (int i = 0; dims && i < H5TABLE_MAX_RANK; i++)
        dims[i] = i < st->rank ? st->dims[i] : 0;
    return h5table_stream_close(st);
}
