/* Fuzz target: IDX parsing (formats/idx), plain and gzip. Input byte 0, bit 0 clear: the rest is
 * one file for idx_read. Bit 0 set: two files for idx_load, the next two bytes (little endian)
 * give the images file's length, the labels file is what follows. A file that reads must match
 * its header; every failure is one "cannot read idx" line. */
#include "tests/fuzz/fuzz.h"

#include "formats/idx.h"

static void fidx_one(const uint8_t *data, size_t size)
{
    char path[600];
    struct idx_array a;
    idx_array_init(&a);
    fuzz_write_file(fuzz_path(path, sizeof path, "one-ubyte"), data, size);
    if (idx_read(&a, path) != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot read idx '") && a.data == NULL);
        return;
    }
    size_t count = 1;
    FUZZ_CHECK(a.rank >= 1 && a.rank <= 4 && a.data);
    for (int i = 0; i < a.rank; i++) count *= a.dims[i];
    FUZZ_CHECK(count == a.count && count <= IDX_MAX_ELEMENTS);
    fuzz_touch(a.data, a.count);
    idx_array_release(&a);
}

static void fidx_pair(const uint8_t *data, size_t size)
{
    struct fuzz_reader r = {data, size};
    size_t n = fuzz_u16(&r);
    if (n > r.n) n = r.n;
    char ipath[600], lpath[600];
    fuzz_write_file(fuzz_path(ipath, sizeof ipath, "images-idx3-ubyte"), r.p, n);
    fuzz_write_file(fuzz_path(lpath, sizeof lpath, "labels-idx1-ubyte"), r.p + n, r.n - n);
    struct idx_dataset d;
    idx_dataset_init(&d);
    if (idx_load(&d, ipath, lpath) != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot read idx '") && d.images == NULL && d.labels == NULL);
        return;
    }
    FUZZ_CHECK(d.n >= 1 && d.height >= 1 && d.width >= 1 && d.images && d.labels);
    FUZZ_CHECK((uint64_t)d.n * (uint64_t)d.height * (uint64_t)d.width <= IDX_MAX_ELEMENTS);
    FUZZ_CHECK(d.height <= IDX_MAX_SIDE && d.width <= IDX_MAX_SIDE);
    fuzz_touch(d.images, d.n * (size_t)d.height * (size_t)d.width);
    fuzz_touch(d.labels, d.n);
    idx_dataset_release(&d);
}

int fuzz_idx(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1) fidx_pair(data + 1, size - 1);
    else fidx_one(data + 1, size - 1);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_idx(data, size);
}
#endif
