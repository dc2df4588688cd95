/* HDF5 files of salbench: tables keyed by example_id, row-aligned N-D arrays, attributes and
 * provenance. The one module that talks to libhdf5 for the pipeline's data files; callers
 * never see an hid_t. Not a general HDF5 binding: no variable-length data, no references, no
 * partial writes of existing rows, one thread at a time (HDF5's high-level layer is not
 * thread-safe: keep every call on the thread that opened the file).
 *
 * Files
 *   struct h5table_file *f = h5table_create("run/examples.h5");   // writes examples.h5.tmp.<pid>
 *   ... h5table_write_table / stream_* / write_array / attr_set_* / write_provenance ...
 *   if (h5table_commit(f)) ...      // H5Fclose checked, fsync, rename, fsync dir; frees f
 *   or h5table_abort(f);            // close, unlink the temp; frees f
 * The temp is registered with atomicfile, so exit() or SIGINT/SIGTERM/SIGHUP before commit
 * removes it and leaves the previous final file untouched. Every stream on f must be closed
 * before commit (commit fails otherwise, naming the stream). Closing, committing or aborting a
 * file closes the datasets of streams still open on it; such streams must still be freed with
 * h5table_stream_close (which then returns -1). Input files: h5table_open (read-only) and
 * h5table_close.
 *
 * Tables are rank-1 compound datasets described by a C schema (one scalar column per struct
 * field). On disk: packed little-endian types (no padding bytes), fixed-length NULLTERM UTF-8
 * strings, chunked (~256 KiB of rows per chunk), shuffle + deflate 4, and the attributes
 * CLASS="TABLE", VERSION="3.0", TITLE, FIELD_n_NAME, so h5dump, h5py, PyTables and
 * pandas.read_hdf(path, "name") all read them. Reading converts by column name: the file may
 * hold extra columns and another column order, but every schema column must exist with the
 * same type class, size and signedness (strings: file size <= schema size), else the read fails
 * naming file, dataset and column.
 *
 * Arrays are N-D datasets (rank 1..H5TABLE_MAX_RANK) of one numeric type whose first dimension
 * is extendible (rows, aligned with a table); chunks hold whole rows, ~256 KiB; uint8/int8
 * arrays use deflate 1, wider types shuffle + deflate 4. Readers keep a 16 MiB chunk cache per
 * open dataset so row-range reads do not decompress a chunk per call.
 *
 * Reproducibility: object time tracking is off everywhere and record buffers are packed, so
 * the same calls with the same data give byte-identical files.
 *
 * Names of datasets and attributes' objects are HDF5 paths relative to the root ("examples",
 * "maps/gradcam"); intermediate groups are created as needed. "/" (or "") is the root group.
 *
 * Errors: functions return 0 (or a count / 1-0 answer where stated) on success and -1 after
 * err_set() with one line "cannot <verb> '<object>' in '<file>': <reason>". Nothing is
 * printed. Memory returned through a pointer-to-pointer is malloc'd and owned by the caller
 * (free()), unless a *_free/release function is named. */
#ifndef SALBENCH_H5TABLE_H
#define SALBENCH_H5TABLE_H

#include <stddef.h>
#include <stdint.h>

#ifndef SALBENCH_VERSION
#define SALBENCH_VERSION "0.1.0"
#endif

#define H5TABLE_MAX_RANK 8

/* Element / column types. H5TABLE_STR is a table column only: fixed-length UTF-8, NUL
 * terminated in memory (a char[n] field holds at most n-1 bytes of text). */
enum h5table_type {
    H5TABLE_U8 = 1,
    H5TABLE_I8,
    H5TABLE_U16,
    H5TABLE_I16,
    H5TABLE_U32,
    H5TABLE_I32,
    H5TABLE_U64,
    H5TABLE_I64,
    H5TABLE_F32,
    H5TABLE_F64,
    H5TABLE_STR,
};

/* Size in bytes of a numeric type (0 for H5TABLE_STR), and its name ("uint8", "float32"...). */
size_t h5table_type_size(enum h5table_type t);
const char *h5table_type_name(enum h5table_type t);

struct h5table_column {
    const char *name;
    enum h5table_type type;
    size_t offset; /* offsetof(row struct, field) */
    size_t size;   /* sizeof the field: the type size, or the char array length for STR */
};

/* Describe a struct field: H5TABLE_COLUMN(struct ex_row, label, H5TABLE_I32). */
#define H5TABLE_COLUMN(rowtype, field, type)                                                   \
    {#field, (type), offsetof(rowtype, field), sizeof(((rowtype *)0)->field)}

struct h5table_schema {
    const char *title; /* TITLE attribute, e.g. "examples" */
    size_t row_size;   /* sizeof(struct row) */
    int ncolumns;
    const struct h5table_column *columns;
};

struct h5table_file;   /* an open file; opaque */
struct h5table_stream; /* an open dataset being appended to or read by rows; opaque */

/* ---- files ---------------------------------------------------------------------------- */

/* Creates "<path>.tmp.<pid>" (replacing a stale one) for writing. NULL + err_set on failure. */
struct h5table_file *h5table_create(const char *path);
/* Opens an existing file read-only. NULL + err_set on failure (missing, not HDF5...). Input
 * files may be corrupt or hostile: a forked child first walks the file's metadata (libhdf5
 * 1.10.8 crashes or hangs on some corrupt headers), and a child that dies or takes longer than
 * SALBENCH_H5_PRECHECK seconds (default 60; 0 disables the check) makes the open fail with
 * "corrupt HDF5 file". Datasets whose types are inconsistent, or that claim far more data than
 * they store (over 64 MiB and above 1100x their stored bytes), are refused when read. */
struct h5table_file *h5table_open(const char *path);
/* Closes the written file (every H5Fclose error reported), fsyncs, renames it over path.
 * Always frees f; on failure the temp is removed and path is untouched. */
int h5table_commit(struct h5table_file *f);
/* Gives up a written file: closes everything, removes the temp, frees f. Accepts NULL. */
void h5table_abort(struct h5table_file *f);
/* Closes a read-only file and frees f (a written file is aborted and -1 returned). NULL ok. */
int h5table_close(struct h5table_file *f);
/* The final path given to create/open. */
const char *h5table_path(const struct h5table_file *f);

/* 1 when the object (dataset or group) exists, 0 when not, -1 on error. */
int h5table_exists(struct h5table_file *f, const char *name);
/* Names of the direct children of a group, sorted bytewise. Free with h5table_list_free. */
int h5table_list(struct h5table_file *f, const char *group, char ***names, size_t *n);
void h5table_list_free(char **names, size_t n);

/* ---- tables --------------------------------------------------------------------------- */

/* Writes n rows (n may be 0) as a new table. */
int h5table_write_table(struct h5table_file *f, const char *name,
                        const struct h5table_schema *s, const void *rows, size_t n);
/* Reads the whole table after verifying it against s. *rows is malloc'd (NULL when *n == 0),
 * rows are s->row_size bytes, zero-filled before reading. */
int h5table_read_table(struct h5table_file *f, const char *name,
                       const struct h5table_schema *s, void **rows, size_t *n);

/* ---- arrays --------------------------------------------------------------------------- */

/* Writes a whole array of dims[0..rank-1] (dims[0] may be 0; others must be >= 1). */
int h5table_write_array(struct h5table_file *f, const char *name, enum h5table_type type,
                        int rank, const uint64_t *dims, const void *data);
/* Type, rank and dims of an array or table (tables: rank 1, type H5TABLE_STR is not used;
 * *type is 0 for non-numeric datasets). Any output pointer may be NULL. */
int h5table_array_info(struct h5table_file *f, const char *name, enum h5table_type *type,
                       int *rank, uint64_t dims[H5TABLE_MAX_RANK]);
/* Reads a whole array. The stored type must be `type` exactly and, when rank > 0, the stored
 * rank must equal it. dims receives the stored dims; *data is malloc'd (NULL when empty). */
int h5table_read_array(struct h5table_file *f, const char *name, enum h5table_type type,
                       int rank, uint64_t dims[H5TABLE_MAX_RANK], void **data);

/* ---- streams: append batch by batch, or read row ranges ------------------------------- */

/* New table / array with 0 rows, extended by h5table_stream_append. For arrays dims[1..rank-1]
 * give the row shape (dims[0] is ignored). NULL + err_set on failure. */
struct h5table_stream *h5table_stream_create_table(struct h5table_file *f, const char *name,
                                                   const struct h5table_schema *s);
struct h5table_stream *h5table_stream_create_array(struct h5table_file *f, const char *name,
                                                   enum h5table_type type, int rank,
                                                   const uint64_t *dims);
/* Opens an existing table (verified as in h5table_read_table) or array (type exact, rank
 * checked when rank > 0; dims may be NULL) for h5table_stream_read. */
struct h5table_stream *h5table_stream_open_table(struct h5table_file *f, const char *name,
                                                 const struct h5table_schema *s);
struct h5table_stream *h5table_stream_open_array(struct h5table_file *f, const char *name,
                                                 enum h5table_type type, int rank,
                                                 uint64_t dims[H5TABLE_MAX_RANK]);
/* Appends nrows rows (table rows, or rows of the array's row shape). 0 rows is a no-op. */
int h5table_stream_append(struct h5table_stream *s, const void *data, size_t nrows);
/* Reads rows [start, start+count) into buf (count rows of the stream's row size). */
int h5table_stream_read(struct h5table_stream *s, uint64_t start, uint64_t count, void *buf);
/* Current number of rows, and bytes per row in memory. */
uint64_t h5table_stream_rows(const struct h5table_stream *s);
size_t h5table_stream_row_bytes(const struct h5table_stream *s);
/* Closes the dataset (errors reported) and frees s. Accepts NULL (returns 0). */
int h5table_stream_close(struct h5table_stream *s);

/* ---- attributes (on any object; "/" is the root) --------------------------------------- */

/* Set replaces an existing attribute of that name. Strings are fixed-length NULLTERM UTF-8 of
 * any length (long JSON included). */
int h5table_attr_set_str(struct h5table_file *f, const char *obj, const char *name,
                         const char *value);
int h5table_attr_set_i64(struct h5table_file *f, const char *obj, const char *name, int64_t v);
int h5table_attr_set_u64(struct h5table_file *f, const char *obj, const char *name, uint64_t v);
int h5table_attr_set_f64(struct h5table_file *f, const char *obj, const char *name, double v);
int h5table_attr_set_f64_array(struct h5table_file *f, const char *obj, const char *name,
                               const double *v, size_t n);
/* Get checks the stored type: string (fixed or variable length) for str, an integer that fits
 * for i64/u64, a float for f64 (a scalar or a 1-element array). *value is malloc'd. */
int h5table_attr_get_str(struct h5table_file *f, const char *obj, const char *name,
                         char **value);
int h5table_attr_get_i64(struct h5table_file *f, const char *obj, const char *name, int64_t *v);
int h5table_attr_get_u64(struct h5table_file *f, const char *obj, const char *name,
                         uint64_t *v);
int h5table_attr_get_f64(struct h5table_file *f, const char *obj, const char *name, double *v);
int h5table_attr_get_f64_array(struct h5table_file *f, const char *obj, const char *name,
                               double **v, size_t *n);
/* 1 when present, 0 when absent, -1 on error (e.g. no such object). */
int h5table_attr_exists(struct h5table_file *f, const char *obj, const char *name);

/* ---- example_id checks ------------------------------------------------------------------ */

/* Reads the `example_id` column (uint64) of a table. *ids malloc'd (NULL when *n == 0). */
int h5table_read_ids(struct h5table_file *f, const char *table, uint64_t **ids, size_t *n);
/* Checks ids ascend (strict: each > the previous; else >=). On failure names `what` (e.g.
 * "examples in 'run/examples.h5'"), the first offending row and both ids. */
int h5table_ids_check_sorted(const uint64_t *ids, size_t n, int strict, const char *what);
/* Checks a and b have the same length and equal ids row by row; names the first mismatching
 * row and both ids. */
int h5table_ids_check_aligned(const uint64_t *a, size_t na, const char *what_a,
                              const uint64_t *b, size_t nb, const char *what_b);

/* ---- content hash and provenance -------------------------------------------------------- */

/* XXH3-64 over every dataset, in bytewise-sorted full-path order: for each, its path, a type
 * description (class, size, sign, members), rank and dims, then its elements converted to a
 * packed little-endian layout. Attributes and file layout (chunks, compression, times) do not
 * count, so the hash identifies the data, not the bytes of the file. */
int h5table_content_hash(struct h5table_file *f, uint64_t *hash);
int h5table_content_hash_path(const char *path, uint64_t *hash);

struct h5table_input {
    const char *role;     /* e.g. "examples", "model" */
    const char *path;
    const uint64_t *hash; /* its content hash when the caller has it already, else NULL */
};

/* Root attributes: stage, salbench_version (SALBENCH_VERSION), params (the JSON string given,
 * which must parse as a JSON object), inputs (JSON {"role": {"path": "...", "hash": "16 hex"}}
 * with each input's content hash: the one given, else computed here), id_hash = "XXH3-64",
 * id_seed = 0. */
int h5table_write_provenance(struct h5table_file *f, const char *stage, const char *params_json,
                             const struct h5table_input *inputs, int ninputs);

struct h5table_provenance {
    char *stage, *version, *params, *inputs; /* malloc'd; params and inputs are JSON text */
};
void h5table_provenance_init(struct h5table_provenance *p);
void h5table_provenance_release(struct h5table_provenance *p); /* accepts NULL */
/* Reads the four root attributes (all required). p must be init'ed. */
int h5table_read_provenance(struct h5table_file *f, struct h5table_provenance *p);
/* Looks up one input: returns 1 and fills *path (malloc'd, may be NULL to skip) and *hash,
 * 0 when the role is absent, -1 when the inputs JSON is malformed. */
int h5table_provenance_input(const struct h5table_provenance *p, const char *role, char **path,
                             uint64_t *hash);
/* Looks up one parameter: returns 1 and *value = the value as text (strings without quotes,
 * numbers and booleans as JSON prints them, objects/arrays as JSON), 0 when absent, -1 on
 * malformed JSON. *value malloc'd. */
int h5table_provenance_param(const struct h5table_provenance *p, const char *key,
                             char **value);

/* Reads f's provenance and looks up input role as h5table_provenance_input does: 1 found, 0
 * absent, -1 when f has no readable provenance. */
int h5table_input_hash(struct h5table_file *f, const char *role, char **path, uint64_t *hash);
/* The same for an input f (opened from path) must name: 0, or -1 and "cannot verify 'path':
 * ..." when its provenance is unreadable or names no such input. */
int h5table_require_input(struct h5table_file *f, const char *path, const char *role,
                          char **src, uint64_t *hash);/* f (opened from path) must have been computed with input role of content hash want (the file
 * want_path). Else -1 and "cannot VERB 'path': it was computed with ROLE 'SRC' (content hash
 * X), not with 'WANT_PATH' (content hash Y)", or h5table_require_input's error. */
int h5table_check_input(struct h5table_file *f, const char *path, const char *verb,
                        const char *role, const char *want_path, uint64_t want);

#endif
