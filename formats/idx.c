/* IDX (MNIST format) reader through zlib's gz* functions, which read gzip and plain files alike.
 * Header checks come before any allocation; gzip data is read into a buffer that grows as bytes
 * arrive, so a tiny file claiming a huge array fails without allocating its claimed size. */
#include "formats/idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "pipeline/err.h"

const char *const idx_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

void idx_array_init(struct idx_array *a)
{
    memset(a, 0, sizeof *a);
}

void idx_array_release(struct idx_array *a)
{
    if (!a) return;
    free(a->data);
    idx_array_init(a);
}

void idx_dataset_init(struct idx_dataset *d)
{
    memset(d, 0, sizeof *d);
}

void idx_dataset_release(struct idx_dataset *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    idx_dataset_init(d);
}

/* Reads exactly n bytes; returns the count read (short at end of data) or -1 on a zlib error. */
static long long idx_gzread(gzFile gz, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(gz, out + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static const char *idx_gzerror(gzFile gz)
{
    int code;
    const char *m = gzerror(gz, &code);
    return code == Z_ERRNO ? strerror(errno) : m;
}

/* Parses the magic and dims; checks sizes against the limit and, for plain files, the file. */
static int idx_header(struct idx_array *a, gzFile gz, long long file_size)
{
    uint8_t h[4 + 4 * 4];
    if (idx_gzread(gz, h, 4) != 4) return err_set("file is too short for an IDX header");
    if (h[0] || h[1]) return err_set("bad magic %02x %02x (not an IDX file)", h[0], h[1]);
    if (h[2] != 0x08) return err_set("data type 0x%02x is not unsigned byte (0x08)", h[2]);
    if (h[3] < 1 || h[3] > 4) return err_set("rank %d is not 1 to 4", h[3]);
    a->rank = h[3];
    if (idx_gzread(gz, h + 4, 4 * (size_t)a->rank) != 4 * a->rank)
        return err_set("file is truncated in the dimensions");
    a->count = 1;
    for (int i = 0; i < a->rank; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        a->dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (a->dims[i] == 0) return err_set("dimension %d is zero", i);
        if (a->dims[i] > IDX_MAX_ELEMENTS / a->count)
            return err_set("%d-d array is larger than %zu elements", a->rank, IDX_MAX_ELEMENTS);
        a->count *= a->dims[i];
    }
    if (file_size >= 0 && (unsigned long long)a->count > (unsigned long long)file_size - 4 -
                                                              4 * (unsigned long long)a->rank)
        return err_set("header claims %zu bytes of data but the file holds %lld", a->count,
                       file_size - 4 - 4 * a->rank);
    return 0;
}

/* Reads a->count bytes, growing the buffer as data arrives, then checks nothing follows. */
static int idx_data(struct idx_array *a, gzFile gz)
{
    size_t cap = a->count < (1u << 20) ? a->count : (1u << 20), got = 0;
    for (;;) {
        uint8_t *g = realloc(a->data, cap);
        if (!g) return err_set("out of memory for %zu bytes", cap);
        a->data = g;
        long long r = idx_gzread(gz, a->data + got, cap - got);
        if (r < 0) return err_set("%s", idx_gzerror(gz));
        got += (size_t)r;
        if (got < cap) return err_set("data is truncated: %zu of %zu bytes", got, a->count);
        if (cap == a->count) break;
        cap = cap > a->count / 2 ? a->count : cap * 2;
    }
    uint8_t extra;
    long long r = idx_gzread(gz, &extra, 1);
    if (r < 0) return err_set("%s", idx_gzerror(gz));
    if (r > 0) return err_set("unexpected data after %zu bytes of array", a->count);
    return 0;
}

int idx_read(struct idx_array *a, const char *path)
{
    idx_array_release(a);
    struct stat st;
    if (stat(path, &st)) return err_set("cannot read idx '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return err_set("cannot read idx '%s': not a regular file", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return err_set("cannot read idx '%s': %s", path, errno ? strerror(errno) : "gzopen");
    /* right after gzopen, gzdirect peeks at the start: 1 for a plain (uncompressed) file */
    long long size = gzdirect(gz) ? (long long)st.st_size : -1;
    int rc = idx_header(a, gz, size);
    if (!rc) rc = idx_data(a, gz);
    gzclose(gz);
    if (rc) {
        idx_array_release(a);
        return err_wrap("cannot read idx '%s': ", path);
    }
    return 0;
}

int idx_load(struct idx_dataset *d, const char *images_path, const char *labels_path)
{
    struct idx_array im, lb;
    idx_array_init(&im);
    idx_array_init(&lb);
    idx_dataset_release(d);
    if (idx_read(&im, images_path)) return -1;
    if (im.rank != 3 || im.dims[1] > IDX_MAX_SIDE || im.dims[2] > IDX_MAX_SIDE) {
        if (im.rank != 3)
            err_set("cannot read idx '%s': rank %d, images need 3 (N, H, W)", images_path,
                    im.rank);
        else
            err_set("cannot read idx '%s': images are %ux%u, above the limit of %d per side",
                    images_path, im.dims[1], im.dims[2], IDX_MAX_SIDE);
        idx_array_release(&im);
        return -1;
    }
    if (idx_read(&lb, labels_path)) {
        idx_array_release(&im);
        return -1;
    }
    int rc = 0;
    if (lb.rank != 1)
        rc = err_set("cannot read idx '%s': rank %d, labels need 1 (N)", labels_path, lb.rank);
    else if (lb.dims[0] != im.dims[0])
        rc = err_set("cannot read idx '%s': %u labels for %u images in '%s'", labels_path,
                     lb.dims[0], im.dims[0], images_path);
    if (rc) {
        idx_array_release(&im);
        idx_array_release(&lb);
        return rc;
    }
    d->n = im.dims[0];
    d->height = (int)im.dims[1];
    d->width = (int)im.dims[2];
    d->images = im.data; /* ownership moves to d */
    d->labels = lb.data;
    return 0;
}

/* dir/prefix-kind-idxR-ubyte, or with .gz when the plain name does not exist. */
static int idx_split_path(char *out, size_t cap, const char *dir, const char *prefix,
                          const char *kind)
{
    struct stat st;
    int n = snprintf(out, cap, "%s/%s-%s-ubyte", dir, prefix, kind);
    if (n < 0 || (size_t)n + 3 >= cap) return err_set("cannot load idx split: path too long");
    if (stat(out, &st) == 0) return 0;
    memcpy(out + n, ".gz", 4);
    if (stat(out, &st) == 0) return 0;
    out[n] = '\0';
    return err_set("cannot load idx split: neither '%s' nor '%s.gz' exists", out, out);
}

int idx_load_split(struct idx_dataset *d, const char *dir, const char *split)
{
    char images[4096], labels[4096];
    const char *prefix = strcmp(split, "train") == 0 ? "train"
                         : strcmp(split, "test") == 0 ? "t10k"
                                                      : NULL;
    idx_dataset_release(d);
    if (!prefix) return err_set("cannot load idx split '%s': not 'train' or 'test'", split);
    if (idx_split_path(images, sizeof images, dir, prefix, "images-idx3") ||
        idx_split_path(labels, sizeof labels, dir, prefix, "labels-idx1"))
        return -1;
    return idx_load(d, images, labels);
}
