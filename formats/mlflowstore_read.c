/* Reading an MLflow file store: a small YAML reader for the flat meta.yaml mappings (plain,
 * single- and double-quoted scalars, as PyYAML writes them and as we do), experiments, runs
 * with params/tags/metrics, and artifacts. Mirrors the read rules of MLflow's FileStore
 * (MLFLOW.md A.1-A.12); no writing. */
#include "formats/mlflowstore.h"
#include "formats/mlflowstore_impl.h"

#include "pipeline/err.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- YAML: one flat block mapping --------------------------------------------------------- */

enum { MLFS_Y_NULL, MLFS_Y_PLAIN, MLFS_Y_QUOTED };

struct mlfs_yitem {
    char *key, *value; /* value NULL for MLFS_Y_NULL */
    int kind;
};

struct mlfs_yaml {
    struct mlfs_yitem *items;
    size_t n;
};

static void mlfs_yaml_release(struct mlfs_yaml *y)
{
    for (size_t i = 0; i < y->n; i++) {
        free(y->items[i].key);
        free(y->items[i].value);
    }
    free(y->items);
    y->items = NULL;
    y->n = 0;
}

static int mlfs_put_utf8(struct mlfs_buf *b, uint32_t cp)
{
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (unsigned char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (unsigned char)(0xC0 | cp >> 6); u[1] = (unsigned char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (unsigned char)(0xF0 | cp >> 18);
        u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (unsigned char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return mlfs_buf_put(b, u, n);
}

/* A line break inside a flow scalar: trailing blanks already written are dropped, then one
 * break folds to a space and k > 1 breaks give k-1 newlines; leading blanks are skipped. */
static int mlfs_yaml_fold(const char **pp, struct mlfs_buf *b)
{
    const char *p = *pp;
    while (b->n > 0 && (b->s[b->n - 1] == ' ' || b->s[b->n - 1] == '\t')) b->s[--b->n] = '\0';
    int breaks = 0;
    while (*p == '\n' || *p == ' ' || *p == '\t' || *p == '\r') {
        if (*p == '\n') breaks++;
        p++;
    }
    *pp = p;
    if (breaks <= 1) return mlfs_buf_puts(b, " ");
    for (int i = 1; i < breaks; i++)
        if (mlfs_buf_puts(b, "\n")) return -1;
    return 0;
}

static int mlfs_yaml_hex(const char *p, int n, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* Escape after '\' in a double-quoted scalar; *pp points at the escape letter. */
static int mlfs_yaml_escape(const char **pp, struct mlfs_buf *b)
{
    const char *p = *pp;
    static const char simple[] = "0abt\tnvfre \"/\\N_LP";
    static const uint32_t values[] = {0, 7, 8, 9, 9, 10, 11, 12, 13, 27, 32, '"', '/', '\\',
                                      0x85, 0xA0, 0x2028, 0x2029};
    const char *hit = *p ? strchr(simple, *p) : NULL;
    uint32_t cp;
    if (hit) {
        cp = values[hit - simple];
        p++;
    } else if (*p == '\n' || *p == '\r') { /* escaped line break: joins lines, no space */
        while (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t') p++;
        *pp = p;
        return 0;
    } else {
        int n = *p == 'x' ? 2 : *p == 'u' ? 4 : *p == 'U' ? 8 : 0;
        if (!n || mlfs_yaml_hex(p + 1, n, &cp)) return err_set("bad escape '\\%c'", *p ? *p : '0');
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return err_set("escape '\\%.*s' is not a Unicode scalar value", n + 1, p);
        p += n + 1;
    }
    *pp = p;
    return mlfs_put_utf8(b, cp);
}

static int mlfs_yaml_quoted(const char **pp, struct mlfs_buf *b)
{
    const char *p = *pp;
    char q = *p++;
    for (;;) {
        if (!*p) return err_set("unterminated quoted scalar");
        if (*p == q) {
            if (q == '\'' && p[1] == '\'') {
                if (mlfs_buf_puts(b, "'")) return -1;
                p += 2;
                continue;
            }
            p++;
            break;
        }
        int rc;
        if (*p == '\n' || (*p == '\r' && p[1] == '\n')) rc = mlfs_yaml_fold(&p, b);
        else if (q == '"' && *p == '\\') { p++; rc = mlfs_yaml_escape(&p, b); }
        else rc = mlfs_buf_put(b, p++, 1);
        if (rc) return -1;
    }
    *pp = p;
    return 0;
}

/* Plain scalar: the rest of the line plus indented continuation lines, folded; " #" starts a
 * comment. */
static int mlfs_yaml_plain(const char **pp, struct mlfs_buf *b)
{
    const char *p = *pp;
    for (;;) {
        const char *end = p;
        while (*end && *end != '\n' && !(*end == '#' && end > p && (end[-1] == ' ' || end[-1] == '\t')))
            end++;
        const char *stop = end;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t' || stop[-1] == '\r')) stop--;
        if (stop > p && b->n > 0 && mlfs_buf_puts(b, " ")) return -1;
        if (mlfs_buf_put(b, p, (size_t)(stop - p))) return -1;
        while (*end && *end != '\n') end++;
        p = end;
        if (*p == '\n' && (p[1] == ' ' || p[1] == '\t')) {
            p++;
            while (*p == ' ' || *p == '\t') p++;
            continue;
        }
        break;
    }
    *pp = p;
    return 0;
}

static int mlfs_yaml_parse(const char *text, struct mlfs_yaml *y)
{
    const char *p = text;
    size_t cap = 0;
    y->items = NULL;
    y->n = 0;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    while (*p) {
        if (*p == '\n' || *p == '\r' || *p == '#' || strncmp(p, "---", 3) == 0 || *p == ' ') {
            while (*p && *p != '\n') p++;
            if (*p) p++;
            continue;
        }
        const char *colon = p;
        while (*colon && *colon != '\n' && !(*colon == ':' && (colon[1] == ' ' || colon[1] == '\n' || !colon[1])))
            colon++;
        if (*colon != ':') return err_set("line '%.40s' is not 'key: value'", p);
        if (y->n == cap) {
            cap = cap ? 2 * cap : 16;
            struct mlfs_yitem *it = realloc(y->items, cap * sizeof *it);
            if (!it) return err_set("out of memory");
            y->items = it;
        }
        struct mlfs_yitem *it = &y->items[y->n];
        it->key = strndup(p, (size_t)(colon - p));
        it->value = NULL;
        it->kind = MLFS_Y_NULL;
        y->n++;
        if (!it->key) return err_set("out of memory");
        p = colon + 1;
        while (*p == ' ' || *p == '\t') p++;
        struct mlfs_buf b = {0};
        int rc = 0;
        if (*p == '"' || *p == '\'') {
            rc = mlfs_yaml_quoted(&p, &b);
            it->kind = MLFS_Y_QUOTED;
            while (!rc && *p && *p != '\n') p++;
        } else {
            rc = mlfs_yaml_plain(&p, &b);
            const char *v = b.s ? b.s : "";
            int is_null = !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
                          !strcmp(v, "Null") || !strcmp(v, "NULL");
            it->kind = is_null ? MLFS_Y_NULL : MLFS_Y_PLAIN;
        }
        if (!rc && it->kind != MLFS_Y_NULL && !b.s) rc = mlfs_buf_puts(&b, "");
        if (rc || it->kind == MLFS_Y_NULL) {
            mlfs_buf_release(&b);
            if (rc) return err_set("key '%s': %s", it->key, err_msg());
        } else {
            it->value = b.s;
        }
    }
    return 0;
}

static const struct mlfs_yitem *mlfs_yaml_get(const struct mlfs_yaml *y, const char *key)
{
    for (size_t i = y->n; i-- > 0;)
        if (!strcmp(y->items[i].key, key)) return &y->items[i];
    return NULL;
}

/* Reads path as a YAML mapping. */
static int mlfs_yaml_load(const char *path, struct mlfs_yaml *y)
{
    char *text;
    size_t n;
    y->items = NULL;
    y->n = 0;
    if (mlfs_read_file(path, &text, &n)) return -1;
    int rc = 0;
    if (mlfs_utf8_count(text, n) < 0 || strlen(text) != n)
        rc = err_set("cannot read '%s': not UTF-8 text", path);
    else if (mlfs_yaml_parse(text, y))
        rc = err_set("cannot parse '%s': %s", path, err_msg());
    free(text);
    if (rc) mlfs_yaml_release(y);
    return rc;
}

/* String value (quoted or plain); NULL when absent or null. */
static const char *mlfs_ystr(const struct mlfs_yaml *y, const char *key)
{
    const struct mlfs_yitem *it = mlfs_yaml_get(y, key);
    return it && it->kind != MLFS_Y_NULL ? it->value : NULL;
}

/* Integer value: 1 ok, 0 null/absent, -1 not an integer. */
static int mlfs_yint(const struct mlfs_yaml *y, const char *key, int64_t *v)
{
    const struct mlfs_yitem *it = mlfs_yaml_get(y, key);
    if (!it || it->kind == MLFS_Y_NULL) return 0;
    if (it->kind != MLFS_Y_PLAIN) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(it->value, &end, 10);
    if (errno || end == it->value || *end) return -1;
    *v = x;
    return 1;
}

/* ---- experiments -------------------------------------------------------------------------- */

static int mlfs_id_cmp(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na != nb) return na < nb ? -1 : 1;
    return strcmp(a, b);
}

static int mlfs_exp_cmp(const void *a, const void *b)
{
    const struct mlflowstore_experiment_info *x = a, *y = b;
    return mlfs_id_cmp(x->id, y->id);
}

void mlflowstore_experiment_release(struct mlflowstore_experiment_info *e)
{
    if (!e) return;
    free(e->id);
    free(e->name);
    free(e->artifact_location);
    free(e->lifecycle_stage);
    memset(e, 0, sizeof *e);
}

void mlflowstore_experiments_free(struct mlflowstore_experiment_info *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) mlflowstore_experiment_release(&e[i]);
    free(e);
}

static char *mlfs_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* 1 read, 0 malformed (skipped like MLflow does), -1 out of memory. */
static int mlfs_exp_read(const char *dir, const char *id, int in_trash,
                         struct mlflowstore_experiment_info *e)
{
    char *meta = mlfs_join(dir, "meta.yaml");
    struct mlfs_yaml y;
    if (!meta) return -1;
    int ok = mlfs_yaml_load(meta, &y) == 0;
    free(meta);
    if (!ok) return 0;
    const char *eid = mlfs_ystr(&y, "experiment_id"), *name = mlfs_ystr(&y, "name");
    const char *ls = mlfs_ystr(&y, "lifecycle_stage");
    int good = eid && !strcmp(eid, id) && name && name[0] && ls &&
               (!strcmp(ls, "active") || !strcmp(ls, "deleted"));
    int rc = 0;
    if (good) {
        memset(e, 0, sizeof *e);
        e->id = strdup(id);
        e->name = strdup(name);
        e->lifecycle_stage = strdup(ls);
        e->artifact_location = mlfs_dup(mlfs_ystr(&y, "artifact_location"));
        e->in_trash = in_trash;
        if (mlfs_yint(&y, "creation_time", &e->creation_time) != 1) e->creation_time = -1;
        if (mlfs_yint(&y, "last_update_time", &e->last_update_time) != 1) e->last_update_time = -1;
        rc = e->id && e->name && e->lifecycle_stage ? 1 : -1;
        if (rc < 0) mlflowstore_experiment_release(e);
    }
    mlfs_yaml_release(&y);
    return rc < 0 ? err_set("cannot read experiment '%s': out of memory", id) : rc;
}

/* Appends the experiments found in parent (the root or .trash). */
static int mlfs_exp_scan(const char *parent, int in_trash,
                         struct mlflowstore_experiment_info **out, size_t *n, size_t *cap)
{
    DIR *d = opendir(parent);
    if (!d) return in_trash && errno == ENOENT ? 0 : err_set("cannot list '%s': %s", parent, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (nm[0] == '.' && (len == 1 || (len == 2 && nm[1] == '.'))) continue;
        if (!in_trash && ((len >= 6 && !strcmp(nm + len - 6, ".trash")) || !strcmp(nm, "models")))
            continue;
        char *dir = mlfs_join(parent, nm);
        if (!dir) { rc = -1; break; }
        if (mlfs_is_dir(dir)) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 8;
                void *p = realloc(*out, *cap * sizeof **out);
                if (!p) rc = err_set("cannot list experiments: out of memory");
                else *out = p;
            }
            if (!rc) {
                int r = mlfs_exp_read(dir, nm, in_trash, &(*out)[*n]);
                if (r < 0) rc = -1;
                else if (r == 1) (*n)++;
            }
        }
        free(dir);
    }
    closedir(d);
    return rc;
}

int mlflowstore_list_experiments(const char *root, struct mlflowstore_experiment_info **out,
                                 size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    char *trash = mlfs_join(root, ".trash");
    int rc = trash ? 0 : -1;
    if (!rc) rc = mlfs_exp_scan(root, 0, out, n, &cap);
    if (!rc) rc = mlfs_exp_scan(trash, 1, out, n, &cap);
    free(trash);
    if (rc) {
        mlflowstore_experiments_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    if (*n) qsort(*out, *n, sizeof **out, mlfs_exp_cmp);
    return 0;
}

int mlflowstore_find_experiment(const char *root, const char *name,
                                struct mlflowstore_experiment_info *out)
{
    struct mlflowstore_experiment_info *all;
    size_t n;
    memset(out, 0, sizeof *out);
    if (mlflowstore_list_experiments(root, &all, &n)) return -1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (all[i].in_trash || strcmp(all[i].lifecycle_stage, "active") || strcmp(all[i].name, name))
            continue;
        *out = all[i];
        memset(&all[i], 0, sizeof all[i]);
        found = 1;
    }
    mlflowstore_experiments_free(all, n);
    return found;
}

/* ---- key files (params, tags, metrics) ---------------------------------------------------- */

struct mlfs_keyfile {
    char *key, *path;
};

static int mlfs_keyfile_cmp(const void *a, const void *b)
{
    return strcmp(((const struct mlfs_keyfile *)a)->key, ((const struct mlfs_keyfile *)b)->key);
}

/* Every regular file under base/sub (recursively), key = path relative to base. */
static int mlfs_walk(const char *base, const char *sub, struct mlfs_keyfile **out, size_t *n,
                     size_t *cap)
{
    char *dirpath = sub[0] ? mlfs_join(base, sub) : strdup(base);
    if (!dirpath) return err_set("cannot list '%s': out of memory", base);
    DIR *d = opendir(dirpath);
    if (!d) {
        int rc = errno == ENOENT && !sub[0] ? 0 : err_set("cannot list '%s': %s", dirpath, strerror(errno));
        free(dirpath);
        return rc;
    }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *key = sub[0] ? mlfs_join(sub, de->d_name) : strdup(de->d_name);
        char *path = key ? mlfs_join(base, key) : NULL;
        struct stat st;
        if (!path) rc = err_set("cannot list '%s': out of memory", dirpath);
        else if (stat(path, &st)) rc = err_set("cannot stat '%s': %s", path, strerror(errno));
        else if (S_ISDIR(st.st_mode)) rc = mlfs_walk(base, key, out, n, cap);
        else if (S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? 2 * *cap : 16;
                void *p = realloc(*out, *cap * sizeof **out);
                if (!p) rc = err_set("cannot list '%s': out of memory", dirpath);
                else *out = p;
            }
            if (!rc) {
                (*out)[(*n)++] = (struct mlfs_keyfile){key, path};
                key = path = NULL;
            }
        }
        free(key);
        free(path);
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static void mlfs_keyfiles_free(struct mlfs_keyfile *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(k[i].key);
        free(k[i].path);
    }
    free(k);
}

static int mlfs_list_keys(const char *dir, struct mlfs_keyfile **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (mlfs_walk(dir, "", out, n, &cap)) {
        mlfs_keyfiles_free(*out, *n);
        *out = NULL;
        *n = 0;
        return -1;
    }
    if (*n) qsort(*out, *n, sizeof **out, mlfs_keyfile_cmp);
    return 0;
}

/* params/ or tags/ into kv pairs; values must be UTF-8. */
static int mlfs_read_kv(const char *dir, struct mlflowstore_kv **out, size_t *n)
{
    struct mlfs_keyfile *k;
    size_t nk;
    *out = NULL;
    *n = 0;
    if (mlfs_list_keys(dir, &k, &nk)) return -1;
    int rc = 0;
    if (nk && !(*out = calloc(nk, sizeof **out))) rc = err_set("cannot read '%s': out of memory", dir);
    for (size_t i = 0; !rc && i < nk; i++) {
        size_t len;
        char *v;
        if (mlfs_read_file(k[i].path, &v, &len)) { rc = -1; break; }
        if (mlfs_utf8_count(v, len) < 0 || strlen(v) != len) {
            free(v);
            rc = err_set("cannot read '%s': not UTF-8 text", k[i].path);
            break;
        }
        (*out)[i].key = k[i].key;
        (*out)[i].value = v;
        k[i].key = NULL;
        (*n)++;
    }
    mlfs_keyfiles_free(k, nk);
    return rc;
}

static int mlfs_parse_int(const char *s, size_t len, int64_t *v)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end) return -1;
    *v = x;
    return 0;
}

/* "ts value [step [dataset digest]]" as MLflow's _get_metric_from_line reads it. */
static int mlfs_metric_line(const char *line, size_t len, struct mlflowstore_point *pt)
{
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r')) len--;
    while (len && (*line == ' ' || *line == '\t')) { line++; len--; }
    const char *f[6];
    size_t fl[6];
    int nf = 0;
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i == len || line[i] == ' ') {
            if (nf == 6) return -1;
            f[nf] = line + start;
            fl[nf++] = i - start;
            start = i + 1;
        }
    }
    if (nf != 2 && nf != 3 && nf != 5) return -1;
    pt->step = 0;
    if (mlfs_parse_int(f[0], fl[0], &pt->timestamp)) return -1;
    if (nf >= 3 && mlfs_parse_int(f[2], fl[2], &pt->step)) return -1;
    char buf[64];
    if (fl[1] == 0 || fl[1] >= sizeof buf) return -1;
    memcpy(buf, f[1], fl[1]);
    buf[fl[1]] = '\0';
    char *end;
    pt->value = strtod(buf, &end);
    return *end ? -1 : 0;
}

static int mlfs_point_gt(const struct mlflowstore_point *a, const struct mlflowstore_point *b)
{
    if (a->step != b->step) return a->step > b->step;
    if (a->timestamp != b->timestamp) return a->timestamp > b->timestamp;
    return a->value > b->value;
}

static int mlfs_read_metric(const char *key, const char *path, struct mlflowstore_metric *m)
{
    char *text;
    size_t len;
    memset(m, 0, sizeof *m);
    if (mlfs_read_file(path, &text, &len)) return -1;
    int rc = 0;
    size_t cap = 0;
    if (len == 0) rc = err_set("cannot read metric '%s': no data in '%s'", key, path);
    for (size_t i = 0; !rc && i < len;) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        struct mlflowstore_point pt;
        if (mlfs_metric_line(text + i, e - i, &pt)) {
            rc = err_set("cannot read metric '%s': malformed line '%.*s' in '%s'", key,
                         (int)(e - i > 60 ? 60 : e - i), text + i, path);
            break;
        }
        if (m->n == cap) {
            cap = cap ? 2 * cap : 8;
            void *p = realloc(m->points, cap * sizeof *m->points);
            if (!p) { rc = err_set("cannot read metric '%s': out of memory", key); break; }
            m->points = p;
        }
        m->points[m->n++] = pt;
        if (m->n == 1 || mlfs_point_gt(&pt, &m->latest)) m->latest = pt;
        i = e + 1;
    }
    free(text);
    if (!rc && !(m->key = strdup(key))) rc = err_set("cannot read metric '%s': out of memory", key);
    if (rc) {
        free(m->points);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

static int mlfs_read_metrics(const char *dir, struct mlflowstore_metric **out, size_t *n)
{
    struct mlfs_keyfile *k;
    size_t nk;
    *out = NULL;
    *n = 0;
    if (mlfs_list_keys(dir, &k, &nk)) return -1;
    int rc = 0;
    if (nk && !(*out = calloc(nk, sizeof **out))) rc = err_set("cannot read '%s': out of memory", dir);
    for (size_t i = 0; !rc && i < nk; i++) {
        rc = mlfs_read_metric(k[i].key, k[i].path, &(*out)[i]);
        if (!rc) (*n)++;
    }
    mlfs_keyfiles_free(k, nk);
    return rc;
}

/* ---- runs --------------------------------------------------------------------------------- */

void mlflowstore_run_release(struct mlflowstore_run *r)
{
    if (!r) return;
    free(r->experiment_id);
    free(r->run_id);
    free(r->run_name);
    free(r->user_id);
    free(r->lifecycle_stage);
    free(r->artifact_uri);
    free(r->dir);
    free(r->artifact_dir);
    for (size_t i = 0; i < r->nparams; i++) { free(r->params[i].key); free(r->params[i].value); }
    for (size_t i = 0; i < r->ntags; i++) { free(r->tags[i].key); free(r->tags[i].value); }
    for (size_t i = 0; i < r->nmetrics; i++) { free(r->metrics[i].key); free(r->metrics[i].points); }
    free(r->params);
    free(r->tags);
    free(r->metrics);
    memset(r, 0, sizeof *r);
}

static const char *mlfs_kv_get(const struct mlflowstore_kv *kv, size_t n, const char *key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(kv[mid].key, key);
        if (c == 0) return kv[mid].value;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *mlflowstore_run_get_tag(const struct mlflowstore_run *r, const char *key)
{
    return mlfs_kv_get(r->tags, r->ntags, key);
}

const char *mlflowstore_run_get_param(const struct mlflowstore_run *r, const char *key)
{
    return mlfs_kv_get(r->params, r->nparams, key);
}

const struct mlflowstore_metric *mlflowstore_run_get_metric(const struct mlflowstore_run *r,
                                                            const char *key)
{
    for (size_t i = 0; i < r->nmetrics; i++)
        if (!strcmp(r->metrics[i].key, key)) return &r->metrics[i];
    return NULL;
}

/* meta.yaml fields, checked as MLflow's RunInfo construction would. */
static int mlfs_run_meta(const struct mlfs_yaml *y, const char *where, struct mlflowstore_run *r)
{
    const char *id = mlfs_ystr(y, "run_id");
    if (!id) id = mlfs_ystr(y, "run_uuid");
    if (!id) return err_set("cannot read run '%s': meta.yaml has neither run_id nor run_uuid", where);
    if (!mlfs_yaml_get(y, "user_id") || !mlfs_yaml_get(y, "end_time"))
        return err_set("cannot read run '%s': meta.yaml lacks user_id or end_time", where);
    int64_t v;
    r->status = MLFLOWSTORE_RUNNING;
    int s = mlfs_yint(y, "status", &v);
    if (s < 0 || (s == 1 && (v < 1 || v > 5)))
        return err_set("cannot read run '%s': status is not an integer 1..5", where);
    if (s == 1) r->status = (int)v;
    if (mlfs_yint(y, "start_time", &r->start_time) != 1)
        return err_set("cannot read run '%s': start_time is not an integer", where);
    s = mlfs_yint(y, "end_time", &r->end_time);
    if (s < 0) return err_set("cannot read run '%s': end_time is not an integer or null", where);
    if (s == 0) r->end_time = -1;
    const char *ls = mlfs_ystr(y, "lifecycle_stage");
    if (ls && strcmp(ls, "active") && strcmp(ls, "deleted"))
        return err_set("cannot read run '%s': lifecycle_stage '%s' is invalid", where, ls);
    const char *user = mlfs_ystr(y, "user_id");
    r->run_id = strdup(id);
    r->user_id = strdup(user ? user : "");
    r->lifecycle_stage = strdup(ls ? ls : "active");
    r->run_name = mlfs_dup(mlfs_ystr(y, "run_name"));
    r->artifact_uri = mlfs_dup(mlfs_ystr(y, "artifact_uri"));
    if (!r->run_id || !r->user_id || !r->lifecycle_stage)
        return err_set("cannot read run '%s': out of memory", where);
    return 0;
}

/* Reads meta and tags, and with full also params and metrics. 0 ok, 1 skipped (no meta.yaml or
 * another experiment's id, as MLflow skips them), -1 error. */
static int mlfs_read_run_dir(const char *root, const char *exp_id, const char *run_id, int full,
                             struct mlflowstore_run *r)
{
    memset(r, 0, sizeof *r);
    char *expdir = mlfs_join(root, exp_id);
    r->dir = expdir ? mlfs_join(expdir, run_id) : NULL;
    free(expdir);
    if (!r->dir) return -1;
    char *meta = mlfs_join(r->dir, "meta.yaml");
    if (!meta) goto fail;
    if (!mlfs_is_file(meta)) {
        free(meta);
        mlflowstore_run_release(r);
        return 1;
    }
    struct mlfs_yaml y;
    int rc = mlfs_yaml_load(meta, &y);
    free(meta);
    if (rc) goto fail;
    const char *eid = mlfs_ystr(&y, "experiment_id");
    if (!eid || strcmp(eid, exp_id)) {
        mlfs_yaml_release(&y);
        mlflowstore_run_release(r);
        return 1;
    }
    rc = mlfs_run_meta(&y, r->dir, r);
    mlfs_yaml_release(&y);
    if (rc || !(r->experiment_id = strdup(exp_id))) goto fail;
    char *sub = mlfs_join(r->dir, "tags");
    rc = !sub || mlfs_read_kv(sub, &r->tags, &r->ntags);
    free(sub);
    if (rc) goto fail;
    if (!r->run_name || !r->run_name[0]) {
        const char *t = mlflowstore_run_get_tag(r, "mlflow.runName");
        free(r->run_name);
        if (!(r->run_name = strdup(t ? t : ""))) goto fail;
    }
    if (full) {
        sub = mlfs_join(r->dir, "params");
        rc = !sub || mlfs_read_kv(sub, &r->params, &r->nparams);
        free(sub);
        if (rc) goto fail;
        sub = mlfs_join(r->dir, "metrics");
        rc = !sub || mlfs_read_metrics(sub, &r->metrics, &r->nmetrics);
        free(sub);
        if (rc) goto fail;
    }
    char *local = r->artifact_uri ? mlflowstore_uri_path(r->artifact_uri) : NULL;
    if (local && mlfs_is_dir(local)) {
        r->artifact_dir = local;
    } else {
        free(local);
        if (!(r->artifact_dir = mlfs_join(r->dir, "artifacts"))) goto fail;
    }
    err_clear();
    return 0;
fail:
    mlflowstore_run_release(r);
    return -1;
}

int mlflowstore_read_run(const char *root, const char *exp_id, const char *run_id,
                         struct mlflowstore_run *r)
{
    int rc = mlfs_read_run_dir(root, exp_id, run_id, 1, r);
    if (rc == 1)
        return err_set("cannot read run '%s/%s/%s': no meta.yaml of this experiment", root,
                       exp_id, run_id);
    return rc;
}

static int mlfs_run_cmp(const void *a, const void *b)
{
    const struct mlflowstore_run *x = a, *y = b;
    if (x->start_time != y->start_time) return x->start_time > y->start_time ? -1 : 1;
    return strcmp(x->run_id, y->run_id);
}

void mlflowstore_runs_free(struct mlflowstore_run *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++) mlflowstore_run_release(&runs[i]);
    free(runs);
}

/* Runs of an experiment; full = also params and metrics. */
static int mlfs_list_runs(const char *root, const char *exp_id, int full,
                          struct mlflowstore_run **runs, size_t *n)
{
    static const char *const reserved[] = {"tags", "datasets", "traces", "models"};
    *runs = NULL;
    *n = 0;
    char *expdir = mlfs_join(root, exp_id);
    if (!expdir) return -1;
    DIR *d = opendir(expdir);
    if (!d) {
        int rc = err_set("cannot list experiment '%s': %s", expdir, strerror(errno));
        free(expdir);
        return rc;
    }
    struct dirent *de;
    size_t cap = 0;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        const char *nm = de->d_name;
        int skip = nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]));
        for (int i = 0; i < 4; i++) skip |= !strcmp(nm, reserved[i]);
        char *sub = skip ? NULL : mlfs_join(expdir, nm);
        if (skip || !sub || !mlfs_is_dir(sub)) {
            rc = !skip && !sub ? -1 : 0;
            free(sub);
            continue;
        }
        free(sub);
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            void *p = realloc(*runs, cap * sizeof **runs);
            if (!p) { rc = err_set("cannot list runs: out of memory"); break; }
            *runs = p;
        }
        int r = mlfs_read_run_dir(root, exp_id, nm, full, &(*runs)[*n]);
        if (r < 0) rc = -1;
        else if (r == 0) (*n)++;
    }
    closedir(d);
    free(expdir);
    if (rc) {
        mlflowstore_runs_free(*runs, *n);
        *runs = NULL;
        *n = 0;
        return -1;
    }
    if (*n) qsort(*runs, *n, sizeof **runs, mlfs_run_cmp);
    return 0;
}

int mlflowstore_list_runs(const char *root, const char *exp_id, struct mlflowstore_run **runs,
                          size_t *n)
{
    return mlfs_list_runs(root, exp_id, 1, runs, n);
}

int mlflowstore_find_run(const char *root, const char *exp_id, const char *const *kv, size_t n,
                         int top_level, char run_id[MLFLOWSTORE_ID_MAX])
{
    struct mlflowstore_run *runs;
    size_t nr;
    if (mlfs_list_runs(root, exp_id, 0, &runs, &nr)) return -1;
    int found = 0;
    for (size_t i = 0; i < nr && !found; i++) { /* sorted by start_time descending */
        const struct mlflowstore_run *r = &runs[i];
        int ok = !strcmp(r->lifecycle_stage, "active") &&
                 !(top_level && mlflowstore_run_get_tag(r, "mlflow.parentRunId"));
        for (size_t k = 0; ok && k < n; k++) {
            const char *v = mlflowstore_run_get_tag(r, kv[2 * k]);
            ok = kv[2 * k + 1] ? v && !strcmp(v, kv[2 * k + 1]) : !v;
        }
        if (ok && strlen(r->run_id) < MLFLOWSTORE_ID_MAX) {
            strcpy(run_id, r->run_id);
            found = 1;
        }
    }
    mlflowstore_runs_free(runs, nr);
    return found;
}

int mlflowstore_locate_run(const char *root, const char *run_id, char exp_id[MLFLOWSTORE_ID_MAX])
{
    struct mlflowstore_experiment_info *e;
    size_t n;
    if (mlflowstore_list_experiments(root, &e, &n)) return -1;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        const char *parent = e[i].in_trash ? ".trash" : "";
        char *base = parent[0] ? mlfs_join(root, parent) : strdup(root);
        char *expdir = base ? mlfs_join(base, e[i].id) : NULL;
        char *dir = expdir ? mlfs_join(expdir, run_id) : NULL;
        char *meta = dir ? mlfs_join(dir, "meta.yaml") : NULL;
        if (meta && mlfs_is_file(meta) && strlen(e[i].id) < MLFLOWSTORE_ID_MAX && !e[i].in_trash) {
            strcpy(exp_id, e[i].id);
            found = 1;
        }
        free(base);
        free(expdir);
        free(dir);
        free(meta);
    }
    mlflowstore_experiments_free(e, n);
    return found;
}

/* ---- artifacts ---------------------------------------------------------------------------- */

void mlflowstore_artifacts_free(struct mlflowstore_artifact *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) free(a[i].path);
    free(a);
}

int mlflowstore_list_artifacts(const struct mlflowstore_run *r, const char *prefix,
                               struct mlflowstore_artifact **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (prefix && prefix[0] && !mlfs_relpath_ok(prefix))
        return err_set("cannot list artifacts '%s': not a relative path", prefix);
    struct mlfs_keyfile *k = NULL;
    size_t nk = 0, cap = 0;
    int rc = 0;
    if (mlfs_is_dir(r->artifact_dir)) rc = mlfs_walk(r->artifact_dir, "", &k, &nk, &cap);
    if (!rc && nk) qsort(k, nk, sizeof *k, mlfs_keyfile_cmp);
    if (!rc && nk && !(*out = calloc(nk, sizeof **out))) rc = err_set("cannot list artifacts: out of memory");
    size_t plen = prefix ? strlen(prefix) : 0;
    for (size_t i = 0; !rc && i < nk; i++) {
        if (plen && !(strncmp(k[i].key, prefix, plen) == 0 &&
                      (k[i].key[plen] == '/' || k[i].key[plen] == '\0')))
            continue;
        struct stat st;
        if (stat(k[i].path, &st)) { rc = err_set("cannot stat '%s': %s", k[i].path, strerror(errno)); break; }
        (*out)[*n].path = k[i].key;
        (*out)[*n].size = (int64_t)st.st_size;
        k[i].key = NULL;
        (*n)++;
    }
    mlfs_keyfiles_free(k, nk);
    if (rc) {
        mlflowstore_artifacts_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int mlflowstore_read_artifact(const struct mlflowstore_run *r, const char *path, char **data,
                              size_t *n)
{
    *data = NULL;
    *n = 0;
    if (!mlfs_relpath_ok(path)) return err_set("cannot read artifact '%s': not a relative path", path);
    char *full = mlfs_join(r->artifact_dir, path);
    if (!full) return -1;
    int rc = mlfs_is_file(full) ? mlfs_read_file(full, data, n)
                                : err_set("cannot read artifact '%s': no such file in run %s",
                                          path, r->run_id);
    free(full);
    return rc;
}
