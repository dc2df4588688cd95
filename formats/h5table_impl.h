/* Internals shared by h5table.c (files, tables, arrays, streams) and h5table_meta.c
 * (attributes, ids, content hash, provenance). Not for use outside the h5table module: the
 * public API is h5table.h, which never exposes HDF5 types. */
#ifndef SALBENCH_H5TABLE_IMPL_H
#define SALBENCH_H5TABLE_IMPL_H

#include "formats/h5table.h"

#include <hdf5.h>
#include <sys/types.h>

/* Attribute creation order tracked and indexed on every object we create: readers list
 * attributes in the order written, and a file merged from shards by h5copy comes out
 * byte-identical to one written in a single run (name-ordered B-trees depend on history). */
#define H5TABLE_CRT_ORDER (H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)

struct h5table_file {
    hid_t id;     /* -1 once closed */
    char *path;   /* final path */
    char *tmp;    /* temp being written; NULL when read-only */
    int writable;
    struct h5table_stream *streams; /* open streams, so closing the file can orphan them */
};

struct h5table_stream {
    struct h5table_file *file;
    char *name;
    hid_t dset, mtype; /* mtype: memory type of one element / row (owned copy) */
    int rank;
    hsize_t dims[H5TABLE_MAX_RANK]; /* dims[0]: current rows */
    size_t row_bytes;               /* bytes of one row in memory */
    struct h5table_stream *next;    /* in file->streams */
};

/* H5open + H5Eset_auto off, once. */
void h5table_lib_init(void);
/* The innermost message of the HDF5 error stack (thread-local buffer), clearing the stack. */
const char *h5table_reason(void);
/* err_set("cannot VERB 'OBJ' in 'FILE': REASON"); returns -1. */
int h5table_fail(const struct h5table_file *f, const char *verb, const char *obj,
                 const char *reason);
/* Native memory type of a numeric enum value (predefined: never close). */
hid_t h5table_mtype(enum h5table_type t);
/* Fixed NULLTERM UTF-8 string type of size bytes (caller closes). */
hid_t h5table_str_type(size_t size);
/* Our enum for a stored type (H5TABLE_STR for any string, 0 when none fits). */
enum h5table_type h5table_classify(hid_t t);
/* "int16", "string[32]", "compound of 40 bytes"... */
void h5table_describe(hid_t t, char *buf, size_t cap);
/* Corrupt-file defences (libhdf5 trusts some decoded fields): h5table_type_sane refuses
 * compound members outside their compound and inconsistent array types (-1, *why set);
 * h5table_dataset_sane also refuses a logical size that overflows or is implausibly larger
 * than the stored bytes (-1 after h5table_fail). Call before allocating for or reading a
 * dataset of an input file. */
int h5table_type_sane(hid_t t, const char **why);
int h5table_dataset_sane(const struct h5table_file *f, const char *name, hid_t dset,
                         hid_t ftype, int rank, const hsize_t *dims);
/* "/" for NULL or "", else name. */
const char *h5table_objname(const char *name);

#endif
