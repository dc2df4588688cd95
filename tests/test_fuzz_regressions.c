/* Replays every committed fuzz input (tests/fuzz/corpus/<target>/ seeds and
 * tests/fuzz/regressions/<target>/ crashes found by fuzzing) through the harnesses' own entry
 * points, compiled here with the normal test build (and ASan/UBSan under `make sanitize`): each
 * input must run without a crash or a broken invariant. Then checks the fixes those inputs led
 * to by their messages (limits on IDX sides, COCO nesting and strings, corrupt HDF5 types and
 * extents, the crash-proof HDF5 precheck). */
#define FUZZ_NO_MAIN
#include "tests/fuzz/fuzz_png.c"
#include "tests/fuzz/fuzz_coco.c"
#include "tests/fuzz/fuzz_idx.c"
#include "tests/fuzz/fuzz_imagefolder.c"
#include "tests/fuzz/fuzz_h5table.c"
#include "tests/fuzz/fuzz_model_arch.c"
#include "tests/fuzz/fuzz_model_file.c"
#include "tests/fuzz/fuzz_mlflow.c"
#include "tests/fuzz/fuzz_options.c" /* last: it compiles stages/common.c with exit() redirected */

#include <zlib.h>

#include "tests/check.h"

/* Under `make sanitize`: libhdf5 1.10.8 leaks on some error paths of the corrupt files replayed
 * here (its own allocations, not ours); LeakSanitizer reads this hook (unused otherwise). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5_serial.so\nleak:libhdf5.so\n";
}

struct fuzzreg_target {
    const char *name;
    int (*run)(const uint8_t *, size_t);
};

static const struct fuzzreg_target fuzzreg_targets[] = {
    {"png", fuzz_png},           {"coco", fuzz_coco},
    {"idx", fuzz_idx},           {"imagefolder", fuzz_imagefolder},
    {"h5table", fuzz_h5table},   {"model_arch", fuzz_model_arch},
    {"model_file", fuzz_model_file}, {"mlflow", fuzz_mlflow},
    {"options", fuzz_options},
};

static uint8_t *fuzzreg_slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    *n = 0;
    if (!fp) return NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long len = ftell(fp);
        if (len >= 0 && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)) &&
            fread(buf, 1, (size_t)len, fp) == (size_t)len)
            *n = (size_t)len;
    }
    fclose(fp);
    return buf;
}

static int fuzzreg_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of dir/<kind>/<target>/; returns how many were replayed. */
static int fuzzreg_replay_dir(const char *root, const char *kind, const struct fuzzreg_target *t)
{
    char dir[512], path[1024], name[512];
    snprintf(dir, sizeof dir, "%s/%s/%s", root, kind, t->name);
    DIR *d = opendir(dir);
    if (!d) return 0;
    char *files[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.') files[n++] = strdup(e->d_name);
    closedir(d);
    qsort(files, (size_t)n, sizeof *files, fuzzreg_name_cmp);
    int replayed = 0;
    for (int i = 0; i < n; i++) {
        size_t size;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        uint8_t *data = fuzzreg_slurp(path, &size);
        snprintf(name, sizeof name, "fuzz_%s_%s_%s", kind, t->name, files[i]);
        if (!data) {
            CHECK(0, name, "cannot read '%s'", path);
        } else {
            int before = fuzz_failures;
            t->run(data, size);
            CHECK(fuzz_failures == before, name, "broke an invariant (see stderr)");
            replayed++;
        }
        free(data);
        free(files[i]);
    }
    return replayed;
}

/* ---- the fixes, checked by their messages -------------------------------------------------- */

static void fuzzreg_gz(const char *path, const uint8_t *data, size_t n)
{
    gzFile gz = gzopen(path, "wb");
    if (!gz || gzwrite(gz, data, (unsigned)n) != (int)n || gzclose(gz) != Z_OK) abort();
}

/* idx_load refuses images wider than IDX_MAX_SIDE (they used to reach int casts in bin/load). */
static void fuzzreg_idx_side(void)
{
    enum { W = IDX_MAX_SIDE + 1 };
    static uint8_t img[16 + W], lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
    uint8_t hdr[16] = {0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, W >> 8, W & 255};
    char ip[600], lp[600];
    memcpy(img, hdr, 16);
    fuzzreg_gz(fuzz_path(ip, sizeof ip, "wide-images.gz"), img, sizeof img);
    fuzzreg_gz(fuzz_path(lp, sizeof lp, "wide-labels.gz"), lab, sizeof lab);
    struct idx_dataset d;
    idx_dataset_init(&d);
    CHECK(idx_load(&d, ip, lp) == -1 && strstr(err_msg(), "above the limit of 16384 per side") &&
              d.images == NULL,
          "fuzzreg_idx_side_limit", "%s", err_msg());
}

static void fuzzreg_h5(void)
{
    struct h5table_file *f = h5table_open("tests/fuzz/regressions/h5table/compound_member_offset");
    uint64_t hash;
    CHECK(f && h5table_content_hash(f, &hash) == -1 &&
              strstr(err_msg(), "compound member outside its compound"),
          "fuzzreg_h5_compound_member_outside", "%s", err_msg());
    h5table_close(f);
    f = h5table_open("tests/fuzz/regressions/h5table/huge_extent");
    void *data = NULL;
    uint64_t dims[H5TABLE_MAX_RANK];
    CHECK(f && h5table_read_array(f, "images", H5TABLE_U8, 3, dims, &data) == -1 &&
              strstr(err_msg(), "claims 17592186044416 bytes of data but stores 16") && !data,
          "fuzzreg_h5_huge_extent_array", "%s", err_msg());
    void *rows = NULL;
    size_t n = 0;
    CHECK(f && h5table_read_table(f, "examples", &fh5_example_schema, &rows, &n) == -1 &&
              strstr(err_msg(), "claims") && !rows,
          "fuzzreg_h5_huge_extent_table", "%s", err_msg());
    CHECK(f && h5table_content_hash(f, &hash) == -1 && strstr(err_msg(), "stores"),
          "fuzzreg_h5_huge_extent_hash", "%s", err_msg());
    h5table_close(f);
    /* a file on which libhdf5 itself spins: the forked precheck gives up after its limit */
    setenv("SALBENCH_H5_PRECHECK", "2", 1);
    f = h5table_open("tests/fuzz/regressions/h5table/attr_read_hang");
    CHECK(!f && strstr(err_msg(), "did not finish reading its metadata in 2 s"),
          "fuzzreg_h5_precheck_hang", "%s", f ? "opened" : err_msg());
    h5table_close(f);
    setenv("SALBENCH_H5_PRECHECK", "3", 1);
}

/* coco: deep nesting and huge strings get messages that say so. */
static void fuzzreg_coco_limits(void)
{
    struct coco_dataset ds;
    coco_init(&ds);
    char deep[300];
    memset(deep, '[', 150);
    memset(deep + 150, ']', 150);
    CHECK(coco_parse(&ds, deep, sizeof deep, "deep") == -1 &&
              strstr(err_msg(), "nested deeper than 64 levels at byte 64"),
          "fuzzreg_coco_deep", "%s", err_msg());
    size_t n = 5000;
    char *json = malloc(n + 200);
    int k = snprintf(json, n + 200, "{\"images\": [{\"id\": 1, \"width\": 1, \"height\": 1, "
                                    "\"file_name\": \"");
    memset(json + k, 'x', n);
    k += (int)n;
    k += snprintf(json + k, 200, "\"}], \"annotations\": [], \"categories\": []}");
    CHECK(coco_parse(&ds, json, (size_t)k, "long") == -1 &&
              strstr(err_msg(), "images[0].file_name: 5000 bytes long (limit 4096)"),
          "fuzzreg_coco_long_string", "%s", err_msg());
    free(json);
}

/* net_build refuses a net whose arenas exceed NET_MAX_ARENA_BYTES, before allocating them
 * (regressions/model_arch/arena_48g; arena_3g, under the limit, is skipped by the harness), and
 * mlflowstore_key_sanitise no longer cuts a key to a "." last segment
 * (regressions/mlflow/key_sanitise_cut_dot). */
static void fuzzreg_arena_and_key(const char *root)
{
    char path[600];
    snprintf(path, sizeof path, "%s/regressions/model_arch/arena_48g", root);
    size_t n = 0;
    uint8_t *data = fuzzreg_slurp(path, &n);
    char *json = data ? fuzz_strndup(data, n) : NULL;
    struct net_layer_spec *specs = NULL;
    int nl = 0;
    struct model m;
    model_init(&m);
    CHECK(json && model_arch_parse(json, "arena_48g", &specs, &nl) == 0 &&
              model_build(&m, specs, nl, 2, 0) != 0 && m.net == NULL &&
              strstr(err_msg(), "activations need 48 GiB for max batch 2, above the 8 GiB limit"),
          "fuzzreg_net_arena_limit", "%s", err_msg());
    model_release(&m);
    free(specs);
    free(json);
    free(data);

    snprintf(path, sizeof path, "%s/regressions/mlflow/key_sanitise_cut_dot", root);
    data = fuzzreg_slurp(path, &n);
    char *a = NULL, *b = NULL, *c = NULL, key[MLFLOWSTORE_KEY_MAX + 1] = "";
    if (data && n > 0) {
        fmlf_split(data + 1, n - 1, &a, &b, &c);
        mlflowstore_key_sanitise(key, sizeof key, a);
    }
    CHECK(data && mlflowstore_key_valid(key), "fuzzreg_mlflow_key_cut", "key '%s'", key);
    free(a), free(b), free(c);
    free(data);
}

int main(void)
{
    const char *root = getenv("FUZZ_DATA_DIR") ? getenv("FUZZ_DATA_DIR") : "tests/fuzz";
    /* files that make libhdf5 spin are refused after 3 s instead of the default 60 */
    setenv("SALBENCH_H5_PRECHECK", "3", 0);
    for (size_t i = 0; i < sizeof fuzzreg_targets / sizeof *fuzzreg_targets; i++) {
        int n = fuzzreg_replay_dir(root, "corpus", &fuzzreg_targets[i]);
        n += fuzzreg_replay_dir(root, "regressions", &fuzzreg_targets[i]);
        char name[128];
        snprintf(name, sizeof name, "fuzzreg_%s_has_inputs", fuzzreg_targets[i].name);
        CHECK(n > 0, name, "no input under %s/{corpus,regressions}/%s", root,
              fuzzreg_targets[i].name);
    }
    fuzzreg_idx_side();
    fuzzreg_coco_limits();
    fuzzreg_h5();
    fuzzreg_arena_and_key(root);
    return check_summary();
}
