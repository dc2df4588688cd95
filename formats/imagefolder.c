/* ImageFolder scanning: class subdirectories of a root, *.png files inside, all sorted bytewise
 * so the listing is the same on every machine and file system. Lists paths only; no decoding. */
#include "formats/imagefolder.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pipeline/err.h"

void imagefolder_init(struct imagefolder *f)
{
    memset(f, 0, sizeof *f);
}

void imagefolder_release(struct imagefolder *f)
{
    if (!f) return;
    for (int i = 0; i < f->nclasses; i++) free(f->class_names[i]);
    for (size_t i = 0; i < f->nitems; i++) free(f->items[i].path);
    free(f->class_names);
    free(f->items);
    imagefolder_init(f);
}

/* A growable list of malloc'd strings. */
struct imagefolder_names {
    char **v;
    size_t n, cap;
};

static void imagefolder_names_free(struct imagefolder_names *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int imagefolder_names_add(struct imagefolder_names *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **g = realloc(l->v, sizeof *g * cap);
        if (!g) return -1;
        l->v = g, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static int imagefolder_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *imagefolder_join(const char *dir, const char *name)
{
    size_t n = strlen(dir), m = strlen(name);
    int slash = n > 0 && dir[n - 1] != '/';
    char *p = malloc(n + slash + m + 1);
    if (!p) return NULL;
    memcpy(p, dir, n);
    if (slash) p[n] = '/';
    memcpy(p + n + slash, name, m + 1);
    return p;
}

static int imagefolder_is_png(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcasecmp(name + n - 4, ".png") == 0;
}

/* Lists the non-hidden entries of dir that are directories (want_dirs) or regular .png files,
 * sorted. Returns 0 or -1 with err_set("<reason>"). */
static int imagefolder_list(struct imagefolder_names *out, const char *dir, int want_dirs)
{
    DIR *d = opendir(dir);
    if (!d) return err_set("cannot open '%s': %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || (!want_dirs && !imagefolder_is_png(e->d_name))) continue;
        char *path = imagefolder_join(dir, e->d_name);
        struct stat st;
        if (!path) {
            rc = err_set("out of memory");
            break;
        }
        if (stat(path, &st)) {
            rc = err_set("cannot stat '%s': %s", path, strerror(errno));
            free(path);
            break;
        }
        free(path);
        int keep = want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
        if (keep && imagefolder_names_add(out, e->d_name)) {
            rc = err_set("out of memory");
            break;
        }
        errno = 0;
    }
    if (!rc && errno) rc = err_set("cannot read directory '%s': %s", dir, strerror(errno));
    closedir(d);
    if (!rc && out->n > 1) qsort(out->v, out->n, sizeof *out->v, imagefolder_cmp);
    return rc;
}

/* Appends the sorted images of one class folder; an empty folder is an error. */
static int imagefolder_add_class(struct imagefolder *f, size_t *cap, const char *dir, int id)
{
    struct imagefolder_names files = {0};
    int rc = imagefolder_list(&files, dir, 0);
    if (!rc && files.n == 0) rc = err_set("class folder '%s' has no .png image", dir);
    for (size_t i = 0; !rc && i < files.n; i++) {
        if (f->nitems == *cap) {
            size_t ncap = *cap ? *cap * 2 : 256;
            struct imagefolder_item *g = realloc(f->items, sizeof *g * ncap);
            if (!g) {
                rc = err_set("out of memory");
                break;
            }
            f->items = g, *cap = ncap;
        }
        char *path = imagefolder_join(dir, files.v[i]);
        if (!path) {
            rc = err_set("out of memory");
            break;
        }
        f->items[f->nitems].path = path;
        f->items[f->nitems++].class_id = id;
    }
    imagefolder_names_free(&files);
    return rc;
}

int imagefolder_scan(struct imagefolder *f, const char *root)
{
    struct imagefolder_names classes = {0};
    size_t cap = 0;
    imagefolder_release(f);
    int rc = imagefolder_list(&classes, root, 1);
    if (!rc && classes.n == 0) rc = err_set("no class subdirectory");
    if (!rc && classes.n > 1000000) rc = err_set("too many classes (%zu)", classes.n);
    for (size_t i = 0; !rc && i < classes.n; i++) {
        char *dir = imagefolder_join(root, classes.v[i]);
        if (!dir) rc = err_set("out of memory");
        else rc = imagefolder_add_class(f, &cap, dir, (int)i);
        free(dir);
    }
    if (rc) {
        imagefolder_names_free(&classes);
        imagefolder_release(f);
        return err_wrap("cannot scan imagefolder '%s': ", root);
    }
    f->class_names = classes.v; /* ownership moves to f */
    f->nclasses = (int)classes.n;
    return 0;
}
