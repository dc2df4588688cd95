/* Tests for formats/idx on small IDX files written here (plain and gzip), every refusal (magic,
 * type, rank, zero or absurd dims, truncation, trailing bytes, corrupt gzip, N mismatch), and a
 * known-answer check on Debian's Fashion-MNIST t10k files (sums computed with NumPy) when
 * present. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "formats/idx.h"
#include "pipeline/err.h"
#include "tests/check.h"

static char dir[64];

/* Writes magic(type, rank) + dims + n data bytes (value i*7) + extra bytes, plain or gzip. */
static const char *write_idx(const char *name, int gz, int type, int rank, const uint32_t *dims,
                             size_t n, size_t extra)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len = 4 + 4 * (size_t)rank + n + extra;
    uint8_t *b = calloc(len, 1);
    b[2] = (uint8_t)type, b[3] = (uint8_t)rank;
    for (int i = 0; i < rank; i++) {
        uint8_t *p = b + 4 + 4 * i;
        p[0] = (uint8_t)(dims[i] >> 24), p[1] = (uint8_t)(dims[i] >> 16);
        p[2] = (uint8_t)(dims[i] >> 8), p[3] = (uint8_t)dims[i];
    }
    for (size_t i = 0; i < n + extra; i++) b[4 + 4 * rank + i] = (uint8_t)(i * 7);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        gzwrite(f, b, (unsigned)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        fwrite(b, 1, len, f);
        fclose(f);
    }
    free(b);
    return path;
}

static void test_good(void)
{
    const uint32_t imd[3] = {5, 3, 4}, lbd[1] = {5};
    struct idx_array a;
    idx_array_init(&a);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_idx(gz ? "img.gz" : "img", gz, 8, 3, imd, 60, 0);
        int rc = idx_read(&a, p);
        int ok = rc == 0 && a.rank == 3 && a.dims[0] == 5 && a.dims[2] == 4 && a.count == 60 &&
                 a.data[59] == (uint8_t)(59 * 7);
        CHECK(ok, gz ? "idx_read_gzip" : "idx_read_plain", "%s", err_msg());
    }
    idx_array_release(&a);
    idx_array_release(NULL);

    /* a split directory: t10k gzip, train plain */
    write_idx("t10k-images-idx3-ubyte.gz", 1, 8, 3, imd, 60, 0);
    write_idx("t10k-labels-idx1-ubyte.gz", 1, 8, 1, lbd, 5, 0);
    write_idx("train-images-idx3-ubyte", 0, 8, 3, imd, 60, 0);
    write_idx("train-labels-idx1-ubyte", 0, 8, 1, lbd, 5, 0);
    struct idx_dataset d;
    idx_dataset_init(&d);
    int rc = idx_load_split(&d, dir, "test");
    CHECK(rc == 0 && d.n == 5 && d.height == 3 && d.width == 4 && d.labels[1] == 7 &&
              d.images[1] == 7,
          "idx_load_split_test_gz", "%s", err_msg());
    rc = idx_load_split(&d, dir, "train");
    CHECK(rc == 0 && d.n == 5, "idx_load_split_train_plain", "%s", err_msg());
    CHECK(idx_load_split(&d, dir, "val") == -1 && strstr(err_msg(), "'val'") && d.images == NULL,
          "idx_load_split_unknown", "%s", err_msg());
    CHECK(idx_load_split(&d, "/nonexistent", "test") == -1 && strstr(err_msg(), "neither"),
          "idx_load_split_missing", "%s", err_msg());
    idx_dataset_release(&d);
}

static int refused(const char *path, const char *want)
{
    struct idx_array a;
    idx_array_init(&a);
    int rc = idx_read(&a, path);
    return rc == -1 && a.data == NULL && strstr(err_msg(), "cannot read idx '") &&
           strstr(err_msg(), want);
}

static void test_bad(void)
{
    const uint32_t d3[3] = {5, 3, 4}, zero[3] = {5, 0, 4}, huge[3] = {1u << 20, 1u << 10, 1u << 10};
    const uint32_t big[3] = {1000000, 32, 32}, d5[5] = {5, 3, 4, 1, 1};
    CHECK(refused(write_idx("b1", 0, 8, 3, d3, 59, 0), "holds 59"), "idx_bad_truncated_plain",
          "%s", err_msg());
    CHECK(refused(write_idx("b2.gz", 1, 8, 3, d3, 59, 0), "truncated"), "idx_bad_truncated_gzip",
          "%s", err_msg());
    CHECK(refused(write_idx("b3", 0, 8, 3, d3, 60, 1), "after 60 bytes"), "idx_bad_trailing",
          "%s", err_msg());
    CHECK(refused(write_idx("b4", 0, 0x0D, 3, d3, 60, 0), "not unsigned byte"), "idx_bad_type",
          "%s", err_msg());
    CHECK(refused(write_idx("b5", 0, 8, 5, d5, 0, 0), "rank 5"), "idx_bad_rank", "%s", err_msg());
    CHECK(refused(write_idx("b6", 0, 8, 3, zero, 0, 0), "dimension 1 is zero"), "idx_bad_zero_dim",
          "%s", err_msg());
    CHECK(refused(write_idx("b7.gz", 1, 8, 3, huge, 10, 0), "larger than"), "idx_bad_absurd_dims",
          "%s", err_msg());
    /* 1 GB claimed in a tiny gzip: fails on truncation having allocated at most 2 MB */
    CHECK(refused(write_idx("b8.gz", 1, 8, 3, big, 100, 0), "truncated: 100 of"),
          "idx_bad_big_claim_gzip", "%s", err_msg());
    CHECK(refused(write_idx("b9", 0, 8, 0, d3, 0, 0), "rank 0"), "idx_bad_rank_zero", "%s",
          err_msg());
    const char *p = write_idx("b10", 0, 8, 3, d3, 60, 0);
    FILE *f = fopen(p, "r+b");
    fputc(1, f); /* magic 01 00 ... */
    fclose(f);
    CHECK(refused(p, "bad magic"), "idx_bad_magic", "%s", err_msg());
    CHECK(refused(write_idx("b11", 0, 8, 3, d3, 0, 0) , "holds 0"), "idx_bad_header_only", "%s",
          err_msg());
    /* corrupt gzip: flip bytes in the middle of the deflate stream */
    const uint32_t d3b[3] = {50, 30, 40};
    p = write_idx("b12.gz", 1, 8, 3, d3b, 60000, 0);
    f = fopen(p, "r+b");
    fseek(f, 30, SEEK_SET);
    for (int i = 0; i < 8; i++) fputc(0xA5, f);
    fclose(f);
    struct idx_array a;
    idx_array_init(&a);
    CHECK(idx_read(&a, p) == -1 && a.data == NULL, "idx_bad_corrupt_gzip", "accepted");
    CHECK(refused("/nonexistent/file", "No such file"), "idx_bad_missing", "%s", err_msg());
    CHECK(refused(dir, "not a regular file"), "idx_bad_directory", "%s", err_msg());
    /* idx_load: N mismatch and wrong ranks */
    char ip[256], lp[256];
    const uint32_t l4[1] = {4};
    snprintf(ip, sizeof ip, "%s", write_idx("m_img", 0, 8, 3, d3, 60, 0));
    snprintf(lp, sizeof lp, "%s", write_idx("m_lab", 0, 8, 1, l4, 4, 0));
    struct idx_dataset d;
    idx_dataset_init(&d);
    CHECK(idx_load(&d, ip, lp) == -1 && strstr(err_msg(), "4 labels for 5 images"),
          "idx_load_n_mismatch", "%s", err_msg());
    CHECK(idx_load(&d, lp, lp) == -1 && strstr(err_msg(), "images need 3"), "idx_load_bad_rank",
          "%s", err_msg());
    CHECK(idx_load(&d, ip, ip) == -1 && strstr(err_msg(), "labels need 1"),
          "idx_load_bad_label_rank", "%s", err_msg());
}

static void test_fashion_mnist(void)
{
    const char *fm = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    char p[256];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", fm);
    if (stat(p, &st)) {
        CHECK(1, "idx_fashion_mnist_t10k", "");
        printf("note: %s absent (dataset-fashion-mnist not installed), real-file check skipped\n",
               p);
        return;
    }
    struct idx_dataset d;
    idx_dataset_init(&d);
    int rc = idx_load_split(&d, fm, "test");
    unsigned long long sum = 0, first = 0;
    int hist[10] = {0}, balanced = 1;
    if (rc == 0) {
        for (size_t i = 0; i < d.n * 784; i++) sum += d.images[i];
        for (size_t i = 0; i < 784; i++) first += d.images[i];
        for (size_t i = 0; i < d.n; i++) hist[d.labels[i] < 10 ? d.labels[i] : 0]++;
        for (int k = 0; k < 10; k++) balanced &= hist[k] == 1000;
    }
    /* NumPy: pixel sum 573469082, first image 33456, labels start 9 2 1 1 6, 1000 per class */
    CHECK(rc == 0 && d.n == 10000 && d.height == 28 && d.width == 28 && sum == 573469082ULL &&
              first == 33456 && d.labels[0] == 9 && d.labels[4] == 6 && balanced,
          "idx_fashion_mnist_t10k", "rc %d n %zu sum %llu first %llu: %s", rc, d.n, sum, first,
          err_msg());
    CHECK(strcmp(idx_fashion_mnist_classes[9], "Ankle boot") == 0, "idx_fashion_mnist_names",
          "wrong");
    idx_dataset_release(&d);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/test_idx_XXXXXX");
    if (!mkdtemp(dir)) return CHECK(0, "idx_mkdtemp", "failed"), check_summary();
    test_good();
    test_bad();
    test_fashion_mnist();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
