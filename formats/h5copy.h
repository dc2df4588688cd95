/* Copying datasets and attributes of unknown type between salbench HDF5 files, byte for byte:
 * what bin/merge (concatenating shard parts of any stage) and bin/attack (carrying the tables
 * of examples.h5 over to the attacked file) need. A sibling of h5table: it works on the files
 * h5table_create/h5table_open return and reaches their HDF5 ids through h5table_impl.h.
 * Not here: schema-checked reads and writes (h5table.h).
 *
 * Data moves in the STORED representation: rows are read and written with the dataset's own
 * file type as memory type, so no conversion happens and the bytes written equal the bytes
 * read (h5table stores packed little-endian types). Variable-length data (vlen strings,
 * ragged arrays) is refused with a clear error: it has no fixed row size.
 *
 * A created dataset copies the source's creation properties (chunking, filters, fill, time
 * tracking off) and maxdims; when the source is chunked with an extendible first dimension it
 * starts with 0 rows and grows by appends, as h5table streams do, so a copy made with the same
 * appends as the original writer gives the same bytes.
 *
 * Errors: 0 (or a stated 1/0 answer) on success, -1 after err_set() with one line naming the
 * file and the object. Returned memory is malloc'd and freed by the named *_free. */
#ifndef SALBENCH_H5COPY_H
#define SALBENCH_H5COPY_H

#include <stddef.h>
#include <stdint.h>

#include "formats/h5table.h"

struct h5copy_dataset {
    char *name;                     /* full path without the leading '/', e.g. "maps/gradcam" */
    uint64_t addr;                  /* object header address: creation order in a fresh file */
    int rank;                       /* 0 for a scalar dataset */
    uint64_t dims[H5TABLE_MAX_RANK];
    size_t elem_bytes;              /* stored size of one element (a table row) */
    size_t row_bytes;               /* elem_bytes times dims[1..rank-1] (elem_bytes at rank 0) */
    int extendible;                 /* chunked with an unlimited first dimension */
    int compound;                   /* a table (compound type) rather than a numeric array */
    int keyed;                      /* compound with a member `example_id` of type uint64 */
    size_t key_offset;              /* byte offset of example_id in a stored row */
};

/* Every dataset of the file (groups walked recursively), sorted by object header address,
 * i.e. in the order the writer created them. Free with h5copy_list_free. */
int h5copy_list(struct h5table_file *f, struct h5copy_dataset **ds, size_t *n);
void h5copy_list_free(struct h5copy_dataset *ds, size_t n);

/* 1 when dataset `name` has the same stored type, rank, dims after the first and creation
 * properties (chunk shape, filters) in a and b; 0 when not, with the difference in err_msg()
 * ("stored type differs", "dims after the first differ"...); -1 on error. */
int h5copy_same_layout(struct h5table_file *a, struct h5table_file *b, const char *name);

/* Reads rows [start, start + count) of a dataset (a whole scalar dataset: start 0, count 1)
 * into buf in the stored representation (count * row_bytes bytes). */
int h5copy_read_rows(struct h5table_file *f, const char *name, uint64_t start, uint64_t count,
                     void *buf);

/* A dataset being written like a source dataset. */
struct h5copy_out;
/* Creates `name` in dst (parent groups too, time tracking off) like `name` in src. For an
 * extendible source it starts at 0 rows; otherwise `rows` fixes its first dimension (ignored
 * at rank 0) and appends must add up to exactly that. NULL + err_set on failure. */
struct h5copy_out *h5copy_create_like(struct h5table_file *dst, struct h5table_file *src,
                                      const char *name, uint64_t rows);
/* Appends n rows in the stored representation (0 is a no-op). */
int h5copy_append(struct h5copy_out *o, const void *rows, size_t n);
/* Closes the dataset (errors reported) and frees o; accepts NULL. */
int h5copy_close(struct h5copy_out *o);

/* ---- attributes ------------------------------------------------------------------------ */

/* Names of the attributes of object `obj` ("/" for the root) in storage order (creation order
 * for the attributes h5table writes). Free with h5table_list_free. */
int h5copy_attr_names(struct h5table_file *f, const char *obj, char ***names, size_t *n);
/* 1 when attribute `name` exists on both objects with equal stored type, shape and bytes;
 * 0 when it differs or is missing on one side; -1 on error. */
int h5copy_attr_equal(struct h5table_file *a, const char *obj_a, struct h5table_file *b,
                      const char *obj_b, const char *name);
/* Copies attribute `name` of src:src_obj onto dst:dst_obj (replacing one of that name). */
int h5copy_attr_copy(struct h5table_file *dst, const char *dst_obj, struct h5table_file *src,
                     const char *src_obj, const char *name);

#endif
