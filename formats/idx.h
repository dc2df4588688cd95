/* IDX files, the MNIST / Fashion-MNIST format (http://yann.lecun.com/exdb/mnist/), plain or
 * gzip-compressed (read through zlib's gzread, which passes plain files through unchanged).
 * Only unsigned-byte data (type 0x08), rank 1 to 4. Not a writer. */
#ifndef SALBENCH_IDX_H
#define SALBENCH_IDX_H

#include <stddef.h>
#include <stdint.h>

/* Largest element count accepted (checked on the header before allocating). */
#define IDX_MAX_ELEMENTS ((size_t)1 << 31)
/* Largest image height or width idx_load accepts (the PNG reader's bound). */
#define IDX_MAX_SIDE 16384

/* A uint8 array of rank 1..4: dims[0] is the item count N. data is malloc'd, owned. */
struct idx_array {
    int rank;
    uint32_t dims[4];
    size_t count; /* product of dims */
    uint8_t *data;
};

/* Images [N,H,W] and their labels [N], as a loaded split. Owned, free with idx_dataset_release. */
struct idx_dataset {
    size_t n;
    int height, width;
    uint8_t *images; /* n * height * width bytes, row-major, 0 = black */
    uint8_t *labels; /* n bytes */
};

/* The ten Fashion-MNIST class names, in label order (0 "T-shirt/top" ... 9 "Ankle boot"). */
extern const char *const idx_fashion_mnist_classes[10];

void idx_array_init(struct idx_array *a);
void idx_array_release(struct idx_array *a); /* accepts NULL */
void idx_dataset_init(struct idx_dataset *d);
void idx_dataset_release(struct idx_dataset *d); /* accepts NULL */

/* Reads an IDX file (plain or .gz). Checks the magic (two zero bytes, type 0x08, rank 1..4),
 * that no dimension is zero, that the element count is <= IDX_MAX_ELEMENTS and, for plain
 * files, fits in the file size, all before allocating; then that the data is complete and
 * nothing follows it. Returns 0, or -1 with err_set("cannot read idx '<path>': <reason>") and
 * `a` released. */
int idx_read(struct idx_array *a, const char *path);

/* Reads an images file (rank 3, [N,H,W]) and a labels file (rank 1, [N]) and checks they agree
 * on N and that H and W are at most IDX_MAX_SIDE. Returns 0, or -1 with err_set naming the offending file, and `d` released. */
int idx_load(struct idx_dataset *d, const char *images_path, const char *labels_path);

/* Loads a split from a directory in the MNIST naming: split "train" reads
 * train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz], split "test" reads the t10k-*
 * pair (the uncompressed name is tried first). Returns 0 or -1 with err_set (also for an unknown
 * split name or when neither file name exists). */
int idx_load_split(struct idx_dataset *d, const char *dir, const char *split);

#endif
