/* h5table: round trips of every column type and of arrays (whole, streamed in uneven batches,
 * row ranges), schema errors with their messages, empty tables, byte-identical files, the
 * content hash, attributes, provenance, id checks, and failed commits leaving the previous
 * file in place. */
#include "formats/atomicfile.h"
#include "formats/h5table.h"
#include "pipeline/err.h"
#include "tests/check.h"

#include <inttypes.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct t_row {
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int16_t i16;
    uint32_t u32;
    int32_t i32;
    uint64_t example_id;
    int64_t i64;
    float f32;
    double f64;
    char name[12];
};

static const struct h5table_column t_cols[] = {
    H5TABLE_COLUMN(struct t_row, example_id, H5TABLE_U64), H5TABLE_COLUMN(struct t_row, u8, H5TABLE_U8),
    H5TABLE_COLUMN(struct t_row, i8, H5TABLE_I8),   H5TABLE_COLUMN(struct t_row, u16, H5TABLE_U16),
    H5TABLE_COLUMN(struct t_row, i16, H5TABLE_I16), H5TABLE_COLUMN(struct t_row, u32, H5TABLE_U32),
    H5TABLE_COLUMN(struct t_row, i32, H5TABLE_I32), H5TABLE_COLUMN(struct t_row, i64, H5TABLE_I64),
    H5TABLE_COLUMN(struct t_row, f32, H5TABLE_F32), H5TABLE_COLUMN(struct t_row, f64, H5TABLE_F64),
    H5TABLE_COLUMN(struct t_row, name, H5TABLE_STR),
};
static const struct h5table_schema t_schema = {"all types", sizeof(struct t_row), 11, t_cols};

static char t_dir[] = "/tmp/test_h5table.XXXXXX";

static const char *t_path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", t_dir, name);
    return buf[k];
}

static void t_fill(struct t_row *r, size_t n)
{
    memset(r, 0, n * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        r[i].u8 = (uint8_t)(i == 0 ? 255 : i);
        r[i].i8 = (int8_t)(i == 0 ? -128 : (int)(i % 200) - 100);
        r[i].u16 = (uint16_t)(i == 0 ? 65535 : i * 7);
        r[i].i16 = (int16_t)(i == 0 ? -32768 : -(int)i);
        r[i].u32 = i == 0 ? UINT32_MAX : (uint32_t)(i * 2654435761u);
        r[i].i32 = i == 0 ? INT32_MIN : (int32_t)i - 500;
        r[i].example_id = i == 0 ? UINT64_MAX : (uint64_t)i * 0x9e3779b97f4a7c15ull;
        r[i].i64 = i == 0 ? INT64_MIN : -(int64_t)i * 1000000007;
        r[i].f32 = (float)i * 0.25f - 3.5f;
        r[i].f64 = i == 0 ? -1e300 : (double)i / 3.0;
        snprintf(r[i].name, sizeof r[i].name, i == 0 ? "h\xc3\xa9llo-utf8" : "row%zu", i);
    }
}

static int t_rows_equal(const struct t_row *a, const struct t_row *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].u8 != b[i].u8 || a[i].i8 != b[i].i8 || a[i].u16 != b[i].u16 ||
            a[i].i16 != b[i].i16 || a[i].u32 != b[i].u32 || a[i].i32 != b[i].i32 ||
            a[i].example_id != b[i].example_id || a[i].i64 != b[i].i64 || a[i].f32 != b[i].f32 ||
            a[i].f64 != b[i].f64 || strcmp(a[i].name, b[i].name) != 0)
            return 0;
    return 1;
}

/* Reads a whole file into memory; NULL when missing. */
static unsigned char *t_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

static int t_same_bytes(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    unsigned char *x = t_slurp(a, &na), *y = t_slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* One file with a table, a u8 image array and a float array, written in `batch`-row pieces. */
static int t_write_sample(const char *path, size_t batch)
{
    enum { N = 257, H = 9, W = 7 };
    static struct t_row rows[N];
    static float maps[N * H * W];
    static uint8_t imgs[N * H * W * 3];
    t_fill(rows, N);
    for (size_t i = 0; i < (size_t)N * H * W; i++)
        maps[i] = (float)((i * 37) % 1001) / 1000.0f;
    for (size_t i = 0; i < sizeof imgs; i++)
        imgs[i] = (uint8_t)(i * 13);
    struct h5table_file *f = h5table_create(path);
    if (!f) return -1;
    const uint64_t md[3] = {0, H, W}, id[4] = {0, H, W, 3};
    struct h5table_stream *t = h5table_stream_create_table(f, "examples", &t_schema);
    struct h5table_stream *m = h5table_stream_create_array(f, "maps/method", H5TABLE_F32, 3, md);
    struct h5table_stream *g = h5table_stream_create_array(f, "images", H5TABLE_U8, 4, id);
    int rc = t && m && g ? 0 : -1;
    for (size_t r = 0; rc == 0 && r < N; r += batch) {
        size_t n = N - r < batch ? N - r : batch;
        rc = h5table_stream_append(t, rows + r, n) ||
             h5table_stream_append(m, maps + r * H * W, n) ||
             h5table_stream_append(g, imgs + r * H * W * 3, n);
    }
    if (h5table_stream_close(t) || h5table_stream_close(m) || h5table_stream_close(g)) rc = -1;
    if (rc == 0) rc = h5table_attr_set_str(f, "/", "note", "sample");
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

static void t_round_trips(void)
{
    enum { N = 1000 };
    static struct t_row rows[N];
    t_fill(rows, N);
    struct h5table_file *f = h5table_create(t_path("rt.h5"));
    int rc = f ? h5table_write_table(f, "examples", &t_schema, rows, N) : -1;
    const uint64_t dims[3] = {5, 3, 4};
    float a[60];
    for (int i = 0; i < 60; i++)
        a[i] = (float)i * 1.5f - 7.0f;
    if (rc == 0) rc = h5table_write_array(f, "arr/f32", H5TABLE_F32, 3, dims, a);
    if (rc == 0) rc = h5table_write_table(f, "empty", &t_schema, NULL, 0);
    const uint64_t edims[2] = {0, 4};
    if (rc == 0) rc = h5table_write_array(f, "empty_arr", H5TABLE_I32, 2, edims, NULL);
    if (rc == 0) rc = h5table_commit(f);
    else h5table_abort(f);
    CHECK(rc == 0, "h5table_write_commit", "%s", err_msg());

    f = h5table_open(t_path("rt.h5"));
    struct t_row *back = NULL;
    size_t n = 0;
    rc = f ? h5table_read_table(f, "examples", &t_schema, (void **)&back, &n) : -1;
    CHECK(rc == 0 && n == N && t_rows_equal(rows, back, N), "h5table_table_all_types_roundtrip",
          "rc %d n %zu: %s", rc, n, err_msg());
    free(back);

    uint64_t got[H5TABLE_MAX_RANK];
    float *ab = NULL;
    rc = h5table_read_array(f, "arr/f32", H5TABLE_F32, 3, got, (void **)&ab);
    CHECK(rc == 0 && got[0] == 5 && got[1] == 3 && got[2] == 4 && memcmp(a, ab, sizeof a) == 0,
          "h5table_array_whole_roundtrip", "%s", err_msg());
    free(ab);

    back = (struct t_row *)&n; /* must be reset to NULL */
    rc = h5table_read_table(f, "empty", &t_schema, (void **)&back, &n);
    CHECK(rc == 0 && n == 0 && back == NULL, "h5table_empty_table", "rc %d n %zu: %s", rc, n,
          err_msg());
    int32_t *eb = NULL;
    rc = h5table_read_array(f, "empty_arr", H5TABLE_I32, 2, got, (void **)&eb);
    CHECK(rc == 0 && got[0] == 0 && got[1] == 4 && eb == NULL, "h5table_empty_array", "%s",
          err_msg());

    char *cls = NULL, *f0 = NULL;
    rc = h5table_attr_get_str(f, "examples", "CLASS", &cls) ||
         h5table_attr_get_str(f, "examples", "FIELD_0_NAME", &f0);
    CHECK(rc == 0 && strcmp(cls, "TABLE") == 0 && strcmp(f0, "example_id") == 0,
          "h5table_table_attributes", "%s", err_msg());
    free(cls);
    free(f0);

    enum h5table_type type = 0;
    int rank = 0;
    rc = h5table_array_info(f, "arr/f32", &type, &rank, got);
    CHECK(rc == 0 && type == H5TABLE_F32 && rank == 3 && got[2] == 4, "h5table_array_info",
          "%s", err_msg());
    CHECK(h5table_exists(f, "arr/f32") == 1 && h5table_exists(f, "arr/nope") == 0 &&
              h5table_exists(f, "nope/deeper") == 0 && h5table_exists(f, "/") == 1,
          "h5table_exists", "%s", err_msg());
    char **names = NULL;
    rc = h5table_list(f, "/", &names, &n);
    CHECK(rc == 0 && n == 4 && strcmp(names[0], "arr") == 0 && strcmp(names[3], "examples") == 0,
          "h5table_list_sorted", "n %zu", n);
    h5table_list_free(names, n);
    CHECK(h5table_close(f) == 0, "h5table_close_readonly", "%s", err_msg());
}

static void t_streams(void)
{
    int rc = t_write_sample(t_path("s1.h5"), 257);
    CHECK(rc == 0, "h5table_stream_write_one_batch", "%s", err_msg());
    rc = t_write_sample(t_path("s2.h5"), 5);
    CHECK(rc == 0, "h5table_stream_write_small_batches", "%s", err_msg());
    rc = t_write_sample(t_path("s3.h5"), 100);
    CHECK(t_same_bytes(t_path("s1.h5"), t_path("s3.h5")), "h5table_batches_same_bytes",
          "257 rows in batches of 100 and of 257 give different files");

    struct h5table_file *f = h5table_open(t_path("s2.h5"));
    uint64_t dims[H5TABLE_MAX_RANK];
    struct h5table_stream *s = f ? h5table_stream_open_array(f, "maps/method", H5TABLE_F32, 3,
                                                             dims) : NULL;
    float part[40 * 63];
    int ok = s && dims[0] == 257 && dims[1] == 9 && dims[2] == 7;
    ok = ok && h5table_stream_read(s, 200, 40, part) == 0;
    for (size_t i = 0; ok && i < 40 * 63; i++)
        ok = part[i] == (float)((((200 * 63) + i) * 37) % 1001) / 1000.0f;
    CHECK(ok, "h5table_array_row_range_read", "%s", err_msg());
    rc = s ? h5table_stream_read(s, 250, 8, part) : 0;
    CHECK(rc == -1 && strstr(err_msg(), "rows [250, 258) out of range (257 rows)"),
          "h5table_row_range_out_of_bounds", "msg '%s'", err_msg());
    h5table_stream_close(s);

    struct t_row want[257], got[3];
    t_fill(want, 257);
    s = h5table_stream_open_table(f, "examples", &t_schema);
    ok = s && h5table_stream_rows(s) == 257 && h5table_stream_read(s, 254, 3, got) == 0 &&
         t_rows_equal(want + 254, got, 3);
    CHECK(ok, "h5table_table_row_range_read", "%s", err_msg());
    h5table_stream_close(s);
    h5table_close(f);
}

/* A reader schema that disagrees with the stored one. */
struct t_bad {
    uint64_t example_id;
    float i32;
    int64_t u32;
    char name[4];
    int32_t missing;
};

static void t_schema_errors(void)
{
    struct h5table_file *f = h5table_open(t_path("rt.h5"));
    const struct h5table_column c_type[] = {H5TABLE_COLUMN(struct t_bad, i32, H5TABLE_F32)};
    const struct h5table_column c_size[] = {H5TABLE_COLUMN(struct t_bad, u32, H5TABLE_I64)};
    const struct h5table_column c_str[] = {H5TABLE_COLUMN(struct t_bad, name, H5TABLE_STR)};
    const struct h5table_column c_miss[] = {H5TABLE_COLUMN(struct t_bad, example_id, H5TABLE_U64),
                                            H5TABLE_COLUMN(struct t_bad, missing, H5TABLE_I32)};
    const struct h5table_schema s_type = {"t", sizeof(struct t_bad), 1, c_type};
    const struct h5table_schema s_size = {"t", sizeof(struct t_bad), 1, c_size};
    const struct h5table_schema s_str = {"t", sizeof(struct t_bad), 1, c_str};
    const struct h5table_schema s_miss = {"t", sizeof(struct t_bad), 2, c_miss};
    void *rows = NULL;
    size_t n;
    int rc = h5table_read_table(f, "examples", &s_miss, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "missing column 'missing'") &&
              strstr(err_msg(), "'examples'") && strstr(err_msg(), "rt.h5"),
          "h5table_schema_missing_column", "msg '%s'", err_msg());
    rc = h5table_read_table(f, "examples", &s_type, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "column 'i32' is int32, expected float32"),
          "h5table_schema_wrong_class", "msg '%s'", err_msg());
    rc = h5table_read_table(f, "examples", &s_size, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "column 'u32' is uint32, expected int64"),
          "h5table_schema_wrong_size", "msg '%s'", err_msg());
    rc = h5table_read_table(f, "examples", &s_str, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "column 'name' is string[12], expected string[<= 4]"),
          "h5table_schema_string_too_long", "msg '%s'", err_msg());
    rc = h5table_read_table(f, "arr/f32", &t_schema, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "not a table"), "h5table_schema_array_is_not_table",
          "msg '%s'", err_msg());
    rc = h5table_read_table(f, "nope", &t_schema, &rows, &n);
    CHECK(rc == -1 && strstr(err_msg(), "'nope'") && strstr(err_msg(), "no such dataset"),
          "h5table_missing_dataset", "msg '%s'", err_msg());
    uint64_t dims[H5TABLE_MAX_RANK];
    rc = h5table_read_array(f, "arr/f32", H5TABLE_F64, 3, dims, &rows);
    CHECK(rc == -1 && strstr(err_msg(), "stored type is float32, expected float64"),
          "h5table_array_wrong_type", "msg '%s'", err_msg());
    rc = h5table_read_array(f, "arr/f32", H5TABLE_F32, 2, dims, &rows);
    CHECK(rc == -1 && strstr(err_msg(), "rank is 3, expected 2"), "h5table_array_wrong_rank",
          "msg '%s'", err_msg());
    /* A subset schema in another column order reads fine. */
    const struct h5table_column c_sub[] = {H5TABLE_COLUMN(struct t_row, name, H5TABLE_STR),
                                           H5TABLE_COLUMN(struct t_row, i16, H5TABLE_I16)};
    const struct h5table_schema s_sub = {"t", sizeof(struct t_row), 2, c_sub};
    struct t_row *sub = NULL;
    rc = h5table_read_table(f, "examples", &s_sub, (void **)&sub, &n);
    CHECK(rc == 0 && n == 1000 && sub[5].i16 == -5 && strcmp(sub[5].name, "row5") == 0 &&
              sub[5].example_id == 0,
          "h5table_schema_subset_reorder", "%s", err_msg());
    free(sub);
    h5table_close(f);
    CHECK(h5table_open(t_path("missing.h5")) == NULL &&
              strstr(err_msg(), "No such file or directory"),
          "h5table_open_missing_file", "msg '%s'", err_msg());
    atomicfile_write_all(t_path("text.h5"), "hello", 5);
    CHECK(h5table_open(t_path("text.h5")) == NULL && strstr(err_msg(), "not an HDF5 file"),
          "h5table_open_not_hdf5", "msg '%s'", err_msg());
}

static void t_identical_and_hash(void)
{
    int rc = t_write_sample(t_path("b1.h5"), 257);
    sleep(1); /* a stored timestamp would now differ */
    rc |= t_write_sample(t_path("b2.h5"), 257);
    CHECK(rc == 0 && t_same_bytes(t_path("b1.h5"), t_path("b2.h5")),
          "h5table_two_runs_byte_identical", "files differ (rc %d)", rc);

    uint64_t h1 = 0, h2 = 1, h3 = 2;
    rc = h5table_content_hash_path(t_path("b1.h5"), &h1) ||
         h5table_content_hash_path(t_path("s2.h5"), &h2);
    CHECK(rc == 0 && h1 == h2, "h5table_content_hash_stable_across_layout",
          "%016llx vs %016llx: %s", (unsigned long long)h1, (unsigned long long)h2, err_msg());

    /* Same data but one byte of one image changed: a different hash. */
    enum { N = 257, H = 9, W = 7 };
    struct h5table_file *f = h5table_open(t_path("b1.h5"));
    uint64_t dims[H5TABLE_MAX_RANK];
    uint8_t *img = NULL;
    struct t_row *rows = NULL;
    float *maps = NULL;
    size_t n;
    rc = h5table_read_array(f, "images", H5TABLE_U8, 4, dims, (void **)&img) ||
         h5table_read_array(f, "maps/method", H5TABLE_F32, 3, dims, (void **)&maps) ||
         h5table_read_table(f, "examples", &t_schema, (void **)&rows, &n);
    h5table_close(f);
    img[1234] ^= 1;
    struct h5table_file *g = h5table_create(t_path("b3.h5"));
    const uint64_t md[3] = {N, H, W}, id[4] = {N, H, W, 3};
    rc = rc || !g || h5table_write_table(g, "examples", &t_schema, rows, n) ||
         h5table_write_array(g, "maps/method", H5TABLE_F32, 3, md, maps) ||
         h5table_write_array(g, "images", H5TABLE_U8, 4, id, img) || h5table_commit(g);
    rc = rc || h5table_content_hash_path(t_path("b3.h5"), &h3);
    CHECK(rc == 0 && h3 != h1, "h5table_content_hash_one_byte_changes", "%s", err_msg());
    img[1234] ^= 1;
    g = h5table_create(t_path("b4.h5"));
    rc = !g || h5table_write_table(g, "examples", &t_schema, rows, n) ||
         h5table_write_array(g, "images", H5TABLE_U8, 4, id, img) ||
         h5table_write_array(g, "maps/method", H5TABLE_F32, 3, md, maps) ||
         h5table_attr_set_str(g, "/", "different", "attributes do not count") ||
         h5table_commit(g) || h5table_content_hash_path(t_path("b4.h5"), &h3);
    CHECK(rc == 0 && h3 == h1, "h5table_content_hash_ignores_order_and_attrs",
          "%016llx vs %016llx", (unsigned long long)h3, (unsigned long long)h1);
    free(img);
    free(maps);
    free(rows);
}

static void t_failures(void)
{
    const char *final = t_path("keep.h5");
    int rc = t_write_sample(final, 257);
    uint64_t before = 0, after = 1;
    h5table_content_hash_path(final, &before);

    /* Commit fails right before rename: final untouched, no temp left. */
    struct h5table_file *f = h5table_create(final);
    const uint64_t d[2] = {3, 2};
    const int32_t v[6] = {1, 2, 3, 4, 5, 6};
    rc = f ? h5table_write_array(f, "other", H5TABLE_I32, 2, d, v) : -1;
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", final, (long)getpid());
    int tmp_existed = access(tmp, F_OK) == 0;
    atomicfile_inject_failure(1);
    rc = h5table_commit(f);
    CHECK(rc == -1 && strstr(err_msg(), "failure injected"), "h5table_commit_injected_failure",
          "rc %d msg '%s'", rc, err_msg());
    h5table_content_hash_path(final, &after);
    CHECK(tmp_existed && access(tmp, F_OK) != 0 && before == after,
          "h5table_failed_commit_keeps_previous", "temp existed %d, exists now %d, hash same %d",
          tmp_existed, access(tmp, F_OK) == 0, before == after);

    /* Abort: nothing new appears. */
    f = h5table_create(t_path("never.h5"));
    if (f) h5table_write_array(f, "x", H5TABLE_I32, 2, d, v);
    h5table_abort(f);
    CHECK(access(t_path("never.h5"), F_OK) != 0, "h5table_abort_leaves_nothing",
          "final file exists after abort");

    /* A stream left open makes the commit fail. */
    f = h5table_create(t_path("open.h5"));
    struct h5table_stream *s = f ? h5table_stream_create_array(f, "x", H5TABLE_I32, 2, d) : NULL;
    rc = h5table_commit(f);
    CHECK(rc == -1 && strstr(err_msg(), "stream 'x' still open") &&
              access(t_path("open.h5"), F_OK) != 0,
          "h5table_commit_with_open_stream_fails", "rc %d msg '%s'", rc, err_msg());
    rc = h5table_stream_close(s); /* after the file: reports an error, frees */
    CHECK(rc == -1 && strstr(err_msg(), "its file was already closed"),
          "h5table_stream_close_after_file", "rc %d msg '%s'", rc, err_msg());

    /* Creating an object twice. */
    f = h5table_create(t_path("twice.h5"));
    rc = h5table_write_array(f, "x", H5TABLE_I32, 2, d, v);
    rc = rc || h5table_write_array(f, "x", H5TABLE_I32, 2, d, v) != -1;
    CHECK(rc == 0 && strstr(err_msg(), "already exists"), "h5table_create_twice_fails",
          "msg '%s'", err_msg());
    h5table_abort(f);
    const char *dir_as_file = t_dir;
    CHECK(h5table_create(dir_as_file) == NULL && strstr(err_msg(), "is a directory"),
          "h5table_create_on_directory", "msg '%s'", err_msg());
}

static void t_attributes(void)
{
    struct h5table_file *f = h5table_create(t_path("attr.h5"));
    size_t big = 200000;
    char *json = malloc(big + 1);
    memset(json, 'x', big);
    json[0] = '"';
    json[big - 1] = '"';
    json[big] = '\0';
    const uint64_t d[1] = {2};
    const double v[3] = {0.485, 0.456, 0.406};
    int rc = !f || h5table_write_array(f, "a", H5TABLE_F64, 1, d, v) ||
             h5table_attr_set_str(f, "/", "long", json) ||
             h5table_attr_set_i64(f, "/", "i", INT64_MIN) ||
             h5table_attr_set_u64(f, "a", "u", UINT64_MAX) ||
             h5table_attr_set_f64(f, "a", "x", 0.1) ||
             h5table_attr_set_f64_array(f, "/", "mean", v, 3) ||
             h5table_attr_set_str(f, "a", "s", "first") ||
             h5table_attr_set_str(f, "a", "s", "second") || h5table_commit(f);
    CHECK(rc == 0, "h5table_attr_write", "%s", err_msg());
    f = h5table_open(t_path("attr.h5"));
    char *s = NULL, *l = NULL;
    int64_t i = 0;
    uint64_t u = 0;
    double x = 0, *mv = NULL;
    size_t n = 0;
    rc = !f || h5table_attr_get_str(f, "", "long", &l) || h5table_attr_get_i64(f, "/", "i", &i) ||
         h5table_attr_get_u64(f, "a", "u", &u) || h5table_attr_get_f64(f, "a", "x", &x) ||
         h5table_attr_get_str(f, "a", "s", &s) ||
         h5table_attr_get_f64_array(f, "/", "mean", &mv, &n);
    CHECK(rc == 0 && strcmp(l, json) == 0 && i == INT64_MIN && u == UINT64_MAX && x == 0.1 &&
              strcmp(s, "second") == 0 && n == 3 && mv[2] == 0.406,
          "h5table_attr_roundtrip_long_json", "%s", err_msg());
    free(s);
    free(l);
    free(mv);
    rc = h5table_attr_get_i64(f, "a", "s", &i);
    CHECK(rc == -1 && strstr(err_msg(), "attribute 's' of 'a'") &&
              strstr(err_msg(), "expected an integer"),
          "h5table_attr_type_check", "msg '%s'", err_msg());
    rc = h5table_attr_get_i64(f, "a", "u", &i);
    CHECK(rc == -1 && strstr(err_msg(), "does not fit"), "h5table_attr_range_check", "msg '%s'",
          err_msg());
    rc = h5table_attr_get_f64(f, "/", "nope", &x);
    CHECK(rc == -1 && strstr(err_msg(), "no such attribute") && h5table_attr_exists(f, "/", "i") == 1 &&
              h5table_attr_exists(f, "/", "nope") == 0,
          "h5table_attr_missing", "msg '%s'", err_msg());
    rc = h5table_attr_set_i64(f, "/", "ro", 1);
    CHECK(rc == -1 && strstr(err_msg(), "read-only"), "h5table_attr_readonly_file", "msg '%s'",
          err_msg());
    h5table_close(f);
    free(json);
}

static void t_provenance_and_ids(void)
{
    struct h5table_file *f = h5table_create(t_path("prov.h5"));
    const uint64_t given = 0x0123456789abcdefull; /* a caller's hash is written, not recomputed */
    const struct h5table_input in[2] = {{"examples", t_path("b1.h5"), NULL},
                                        {"other", t_path("rt.h5"), &given}};
    int rc = !f || h5table_write_provenance(f, "test", "{\"size\":\"8x8\",\"limit\":3}", in, 2) ||
             h5table_commit(f);
    CHECK(rc == 0, "h5table_provenance_write", "%s", err_msg());
    struct h5table_provenance p;
    h5table_provenance_init(&p);
    f = h5table_open(t_path("prov.h5"));
    rc = !f || h5table_read_provenance(f, &p);
    uint64_t h = 0, want = 1;
    char *path = NULL, *val = NULL, *lim = NULL;
    h5table_content_hash_path(t_path("b1.h5"), &want);
    int found = rc ? -1 : h5table_provenance_input(&p, "examples", &path, &h);
    int pv = rc ? -1 : h5table_provenance_param(&p, "size", &val);
    int pl = rc ? -1 : h5table_provenance_param(&p, "limit", &lim);
    CHECK(rc == 0 && strcmp(p.stage, "test") == 0 && strcmp(p.version, SALBENCH_VERSION) == 0 &&
              found == 1 && h == want && strcmp(path, t_path("b1.h5")) == 0 && pv == 1 &&
              strcmp(val, "8x8") == 0 && pl == 1 && strcmp(lim, "3") == 0 &&
              h5table_provenance_input(&p, "model", NULL, &h) == 0,
          "h5table_provenance_roundtrip", "%s", err_msg());
    CHECK(rc == 0 && h5table_provenance_input(&p, "other", NULL, &h) == 1 && h == given,
          "h5table_provenance_given_hash", "hash %016" PRIx64, h);
    CHECK(h5table_check_input(f, "prov.h5", "use", "other", "rt.h5", given) == 0 &&
              h5table_check_input(f, "prov.h5", "use", "other", "x.h5", 7) == -1 &&
              strstr(err_msg(), "cannot use 'prov.h5': it was computed with other '") &&
              strstr(err_msg(), "(content hash 0123456789abcdef), not with 'x.h5' (content hash "
                                "0000000000000007)") &&
              h5table_check_input(f, "prov.h5", "use", "model", "m.h5", 7) == -1 &&
              strstr(err_msg(), "cannot verify 'prov.h5': its provenance names no model input"),
          "h5table_check_input_messages", "msg '%s'", err_msg());
    char *idh = NULL;
    uint64_t seed = 9;
    CHECK(h5table_attr_get_str(f, "/", "id_hash", &idh) == 0 && strcmp(idh, "XXH3-64") == 0 &&
              h5table_attr_get_u64(f, "/", "id_seed", &seed) == 0 && seed == 0,
          "h5table_provenance_id_hash", "%s", err_msg());
    free(idh);
    free(path);
    free(val);
    free(lim);
    h5table_provenance_release(&p);
    h5table_close(f);
    f = h5table_create(t_path("prov2.h5"));
    rc = h5table_write_provenance(f, "test", "[1,2]", NULL, 0);
    CHECK(rc == -1 && strstr(err_msg(), "not a JSON object"), "h5table_provenance_bad_params",
          "msg '%s'", err_msg());
    rc = h5table_write_provenance(f, "test", "{}", in + 1, 0) ||
         h5table_write_provenance(f, "test", "{}",
                                  (struct h5table_input[]){{"x", "/nonexistent.h5", NULL}},
                                  1) != -1;
    CHECK(rc == 0 && strstr(err_msg(), "cannot hash input 'x'") &&
              strstr(err_msg(), "/nonexistent.h5"),
          "h5table_provenance_missing_input", "msg '%s'", err_msg());
    h5table_abort(f);

    /* ids: read the column and check order and alignment. */
    f = h5table_open(t_path("rt.h5"));
    uint64_t *ids = NULL;
    size_t n = 0;
    rc = h5table_read_ids(f, "examples", &ids, &n);
    CHECK(rc == 0 && n == 1000 && ids[0] == UINT64_MAX && ids[2] == 2 * 0x9e3779b97f4a7c15ull,
          "h5table_read_ids", "%s", err_msg());
    rc = h5table_ids_check_sorted(ids, n, 1, "examples in 'rt.h5'");
    CHECK(rc == -1 && strstr(err_msg(), "row 1 (id 9e3779b97f4a7c15) is below row 0") &&
              strstr(err_msg(), "examples in 'rt.h5'"),
          "h5table_ids_unsorted_message", "msg '%s'", err_msg());
    const uint64_t s1[4] = {1, 5, 5, 9}, s2[4] = {1, 5, 6, 9};
    CHECK(h5table_ids_check_sorted(s1, 4, 0, "a") == 0 && h5table_ids_check_sorted(s2, 4, 1, "b") == 0,
          "h5table_ids_sorted_ok", "%s", err_msg());
    rc = h5table_ids_check_sorted(s1, 4, 1, "a");
    CHECK(rc == -1 && strstr(err_msg(), "row 2") && strstr(err_msg(), "duplicate"),
          "h5table_ids_duplicate_message", "msg '%s'", err_msg());
    rc = h5table_ids_check_aligned(s1, 4, "saliency", s2, 4, "examples");
    CHECK(rc == -1 && strstr(err_msg(), "row 2 has id 0000000000000005 versus 0000000000000006"),
          "h5table_ids_misaligned_message", "msg '%s'", err_msg());
    rc = h5table_ids_check_aligned(s1, 3, "saliency", s2, 4, "examples");
    CHECK(rc == -1 && strstr(err_msg(), "3 rows versus 4"), "h5table_ids_length_mismatch",
          "msg '%s'", err_msg());
    free(ids);
    h5table_close(f);
}

/* Files written by h5py (the fixture generators' tool): vlen strings in a dataset and an
 * attribute, an aligned (padded) compound table. Skipped when Debian's h5py is missing. */
static void t_h5py_files(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import h5py, numpy as np, sys\n"
             "for name, last in [(\"p1\", \"bb\"), (\"p2\", \"bc\"), (\"p3\", \"bb\")]:\n"
             "    f = h5py.File(\"%s/\" + name + \".h5\", \"w\")\n"
             "    f[\"names\"] = [\"a\", last]\n"
             "    f[\"x\"] = np.arange(6, dtype=np.int32).reshape(3, 2)\n"
             "    f.attrs[\"note\"] = \"vlen attribute\"\n"
             "    dt = np.dtype([(\"example_id\", \"<u8\"), (\"f32\", \"<f4\"), (\"i16\", \"<i2\")], align=True)\n"
             "    f[\"tab\"] = np.array([(7, 1.5, -2), (9, 2.5, 3)], dtype=dt)\n' 2>/dev/null",
             t_dir);
    if (system(cmd) != 0) {
        CHECK(1, "h5table_h5py_files_skipped", "");
        return;
    }
    uint64_t h1 = 0, h2 = 0, h3 = 0;
    int rc = h5table_content_hash_path(t_path("p1.h5"), &h1) ||
             h5table_content_hash_path(t_path("p2.h5"), &h2) ||
             h5table_content_hash_path(t_path("p3.h5"), &h3);
    CHECK(rc == 0 && h1 == h3 && h1 != h2, "h5table_content_hash_h5py_vlen_strings",
          "rc %d: %s", rc, err_msg());
    struct h5table_file *f = h5table_open(t_path("p1.h5"));
    char *note = NULL;
    rc = !f || h5table_attr_get_str(f, "/", "note", &note);
    CHECK(rc == 0 && strcmp(note, "vlen attribute") == 0, "h5table_attr_h5py_vlen_string", "%s",
          err_msg());
    free(note);
    const struct h5table_column cols[] = {H5TABLE_COLUMN(struct t_row, example_id, H5TABLE_U64),
                                          H5TABLE_COLUMN(struct t_row, i16, H5TABLE_I16),
                                          H5TABLE_COLUMN(struct t_row, f32, H5TABLE_F32)};
    const struct h5table_schema s = {"t", sizeof(struct t_row), 3, cols};
    struct t_row *rows = NULL;
    size_t n = 0;
    rc = h5table_read_table(f, "tab", &s, (void **)&rows, &n);
    CHECK(rc == 0 && n == 2 && rows[1].example_id == 9 && rows[1].f32 == 2.5f && rows[0].i16 == -2,
          "h5table_read_h5py_padded_table", "%s", err_msg());
    free(rows);
    h5table_close(f);
}

int main(void)
{
    if (!mkdtemp(t_dir)) return 1;
    t_round_trips();
    t_streams();
    t_schema_errors();
    t_identical_and_hash();
    t_failures();
    t_attributes();
    t_provenance_and_ids();
    t_h5py_files();
    int rc = check_summary();
    if (rc == 0 && !getenv("TEST_H5TABLE_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir);
        if (system(cmd) != 0) return 1;
    }
    return rc;
}
