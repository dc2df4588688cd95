/* Fuzz target: ImageFolder walking (formats/imagefolder), then decoding what it lists as bin/load
 * does. The input is a script that builds a tree under a scratch root; each step is
 *   op (op % 7: 0 class directory, 1 file in a class, 2 symlink in a class, 3 symlink in the
 *   root, 4 file in the root, 5 directory in a class, 6 hidden file), class index, name length
 *   and bytes ('/' and NUL become '_'), suffix (% 4: none, ".png", ".PNG", ".Png"), then for
 *   files a length byte and the content, for symlinks a target index (past the end: dangling).
 * The scan is compared with an independent listing (scandir) of the same rules. */
#include "tests/fuzz/fuzz.h"

#include <strings.h>

#include "formats/imagefolder.h"
#include "formats/pngio.h"

#define FFOLD_MAX_ENTRIES 64

struct ffold_tree {
    char root[600];
    char *paths[FFOLD_MAX_ENTRIES]; /* everything created, for symlink targets */
    int npaths;
    char *classes[FFOLD_MAX_ENTRIES];
    int nclasses;
};

static void ffold_name(struct fuzz_reader *r, char *out, size_t cap)
{
    static const char *const suffix[4] = {"", ".png", ".PNG", ".Png"};
    size_t n = fuzz_u8(r) % 33, k = 0;
    for (; k < n && k + 1 < cap; k++) {
        unsigned c = fuzz_u8(r);
        out[k] = (char)(c == '/' || c == 0 ? '_' : c);
    }
    if (k == 0) out[k++] = '_';
    out[k] = '\0';
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s", suffix[fuzz_u8(r) % 4]);
}

static void ffold_add(struct ffold_tree *t, const char *path)
{
    if (t->npaths < FFOLD_MAX_ENTRIES && (t->paths[t->npaths] = strdup(path))) t->npaths++;
}

static void ffold_step(struct ffold_tree *t, struct fuzz_reader *r)
{
    unsigned op = fuzz_u8(r) % 7, k = fuzz_u8(r);
    char name[80], path[800], content[256];
    ffold_name(r, name, sizeof name);
    const char *dir = t->root;
    if ((op == 1 || op == 2 || op == 5 || op == 6) && t->nclasses > 0 && !(op == 6 && k & 0x80))
        dir = t->classes[k % t->nclasses];
    snprintf(path, sizeof path, "%s/%s%s", dir, op == 6 ? "." : "", name);
    if (op == 0 || op == 5) {
        if (mkdir(path, 0755) == 0) {
            ffold_add(t, path);
            if (op == 0 && t->nclasses < FFOLD_MAX_ENTRIES)
                t->classes[t->nclasses++] = t->paths[t->npaths - 1];
        }
    } else if (op == 2 || op == 3) {
        unsigned target = fuzz_u8(r);
        const char *to = (int)target < t->npaths ? t->paths[target] : "/nonexistent/target";
        if (symlink(to, path) == 0) ffold_add(t, path);
    } else {
        size_t n = fuzz_u8(r);
        for (size_t i = 0; i < n; i++) content[i] = (char)fuzz_u8(r);
        FILE *fp = fopen(path, "wb");
        if (fp) {
            fwrite(content, 1, n, fp);
            fclose(fp);
            ffold_add(t, path);
        }
    }
}

static int ffold_is_png(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

static int ffold_cmp(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int ffold_visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* The expected listing: 0 with f filled, or -1 when the scan must fail. */
static int ffold_expect(struct imagefolder *f, const char *root)
{
    struct dirent **cl = NULL;
    int n = scandir(root, &cl, ffold_visible, ffold_cmp), rc = 0;
    char path[1200];
    size_t cap = 0;
    f->class_names = calloc((size_t)(n > 0 ? n : 1), sizeof *f->class_names);
    for (int i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", root, cl[i]->d_name);
        if (rc == 0 && stat(path, &st)) rc = -1;
        if (rc == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **fl = NULL;
            int m = scandir(path, &fl, ffold_visible, ffold_cmp), found = 0;
            for (int j = 0; j < m; j++) {
                char fp[1600];
                snprintf(fp, sizeof fp, "%s/%s", path, fl[j]->d_name);
                if (rc == 0 && ffold_is_png(fl[j]->d_name) && stat(fp, &st)) rc = -1;
                if (rc == 0 && ffold_is_png(fl[j]->d_name) && S_ISREG(st.st_mode)) {
                    if (f->nitems == cap) {
                        cap = cap ? 2 * cap : 16;
                        f->items = realloc(f->items, cap * sizeof *f->items);
                    }
                    f->items[f->nitems].path = strdup(fp);
                    f->items[f->nitems++].class_id = f->nclasses;
                    found = 1;
                }
                free(fl[j]);
            }
            free(fl);
            if (!found) rc = -1;
            f->class_names[f->nclasses++] = strdup(cl[i]->d_name);
        }
        free(cl[i]);
    }
    free(cl);
    return rc == 0 && f->nclasses > 0 ? 0 : -1;
}

static void ffold_compare(const struct imagefolder *got, const struct imagefolder *want)
{
    FUZZ_CHECK(got->nclasses == want->nclasses && got->nitems == want->nitems);
    for (int i = 0; i < got->nclasses && i < want->nclasses; i++)
        FUZZ_CHECK(strcmp(got->class_names[i], want->class_names[i]) == 0);
    for (size_t i = 0; i < got->nitems && i < want->nitems; i++)
        FUZZ_CHECK(strcmp(got->items[i].path, want->items[i].path) == 0 &&
                   got->items[i].class_id == want->items[i].class_id);
}

int fuzz_imagefolder(const uint8_t *data, size_t size)
{
    struct ffold_tree t = {.npaths = 0};
    struct fuzz_reader r = {data, size};
    fuzz_path(t.root, sizeof t.root, "root");
    fuzz_rmtree(t.root);
    if (mkdir(t.root, 0755)) abort();
    for (int steps = 0; r.n > 0 && steps < FFOLD_MAX_ENTRIES; steps++) ffold_step(&t, &r);
    struct imagefolder got, want;
    imagefolder_init(&got);
    imagefolder_init(&want);
    int rc = imagefolder_scan(&got, t.root), expect = ffold_expect(&want, t.root);
    FUZZ_CHECK(rc == expect);
    if (rc != 0) {
        FUZZ_CHECK(fuzz_msg_ok("cannot scan imagefolder '") && got.items == NULL);
    } else {
        ffold_compare(&got, &want);
        for (size_t i = 0; i < got.nitems && i < 4; i++) {
            struct pngio_image img;
            pngio_image_init(&img);
            if (pngio_read(&img, got.items[i].path)) FUZZ_CHECK(fuzz_msg_ok("cannot read png '"));
            pngio_image_release(&img);
        }
    }
    imagefolder_release(&got);
    imagefolder_release(&want);
    for (int i = 0; i < t.npaths; i++) free(t.paths[i]);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_imagefolder(data, size);
}
#endif
