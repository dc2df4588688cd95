/* report.html writer: HTML text from the structs of report.h, built in an open_memstream
 * buffer, with inline CSS, SVG line plots and base64 PNGs. No JavaScript, no external
 * resources: the page renders the same offline, in a mail attachment or as an MLflow artifact. */
#include "formats/report.h"

#include "formats/atomicfile.h"
#include "pipeline/err.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SALBENCH_VERSION
#define SALBENCH_VERSION "0.1.0"
#endif
#define REPORT_MAX_IMAGE (64u << 20) /* a PNG larger than this is shown as a placeholder */

static const char report_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;"
    "margin-top:36px}h3{font-size:15px;margin-top:20px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
    "text-align:right;vertical-align:top}th{background:#f4f4f4}td.l,th.l{text-align:left}"
    "td.best{background:#e3f5e1;font-weight:bold}small{color:#666}"
    ".status{font-size:12px;padding:2px 6px;border-radius:3px;margin-left:8px;color:#fff}"
    ".FINISHED{background:#2e7d32}.FAILED{background:#c62828}"
    ".plots{display:flex;flex-wrap:wrap;gap:16px}.desc{white-space:pre-wrap}"
    "img.hm{width:96px;height:96px;image-rendering:pixelated;display:block}"
    ".missing{width:96px;height:96px;background:#eee;font-size:10px;overflow:hidden}"
    "svg text{font:11px sans-serif}";

static const char *const report_colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                            "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                            "#bcbd22", "#17becf"};
#define REPORT_NCOLORS (sizeof report_colors / sizeof report_colors[0])

/* ---- text ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t report_utf8_len(const unsigned char *p)
{
    if (p[0] < 0x80) return 1;
    size_t n = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
    if (!n || (p[0] >= 0xF0 && n != 4)) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && p[0] == 0xE0 && p[1] < 0xA0) return 0; /* overlong */
    if (n == 3 && p[0] == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
    if (n == 4 && p[0] == 0xF0 && p[1] < 0x90) return 0;
    if (n == 4 && p[0] == 0xF4 && p[1] >= 0x90) return 0;
    return n;
}

/* HTML-escaped text (also safe inside double-quoted attributes). */
static void report_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        size_t n = report_utf8_len(p);
        if (!n) {
            fputs("\xEF\xBF\xBD", f); /* U+FFFD */
            p++;
            continue;
        }
        if (*p == '<') fputs("&lt;", f);
        else if (*p == '>') fputs("&gt;", f);
        else if (*p == '&') fputs("&amp;", f);
        else if (*p == '"') fputs("&quot;", f);
        else if (*p == '\'') fputs("&#39;", f);
        else if (*p < 0x20 && *p != '\n' && *p != '\t') fputs("\xEF\xBF\xBD", f);
        else fwrite(p, 1, n, f);
        p += n;
    }
}

static void report_num(FILE *f, double v)
{
    if (isnan(v)) fputs("&ndash;", f);
    else if (isinf(v)) fputs(v > 0 ? "&infin;" : "&minus;&infin;", f);
    else fprintf(f, "%.4g", v);
}

void report_base64(char *out, const unsigned char *in, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18], out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63], out[o++] = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tab[v >> 18], out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* ---- tables ----------------------------------------------------------------------------- */

int report_direction(const struct scores_metric_row *rows, size_t n, const char *method,
                     const char *metric)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].metric, metric) != 0) continue;
        if (method && strcmp(rows[i].method, method) == 0) return rows[i].higher_is_better;
        if (!any) any = rows[i].higher_is_better;
    }
    return any > 0 ? 1 : any < 0 ? -1 : 0;
}

/* Distinct values of a string field of n rows, in first-appearance order (pointers into the
 * rows). *out malloc'd. */
static int report_distinct(const char ***out, size_t *nout, const void *rows, size_t n,
                           size_t row_size, size_t offset)
{
    const char **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return err_set("cannot build the report: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = (const char *)rows + i * row_size + offset;
        size_t j = 0;
        while (j < k && strcmp(v[j], s) != 0)
            j++;
        if (j == k) v[k++] = s;
    }
    *out = v;
    *nout = k;
    return 0;
}

static const struct scores_summary_row *report_cell(const struct report_chain *c,
                                                    const char *method, const char *metric)
{
    for (size_t i = 0; i < c->nsummary; i++)
        if (!strcmp(c->summary[i].method, method) && !strcmp(c->summary[i].metric, metric))
            return &c->summary[i];
    return NULL;
}

/* The best mean of a metric over methods by its direction (NaN when none is comparable). */
static double report_best(const struct report_chain *c, const char *const *methods,
                          size_t nm, const char *metric, int *dir)
{
    double best = NAN;
    *dir = report_direction(c->metrics, c->nmetrics, NULL, metric);
    for (size_t i = 0; i < nm && *dir; i++) {
        const struct scores_summary_row *r = report_cell(c, methods[i], metric);
        if (!r || !isfinite(r->mean)) continue;
        if (isnan(best) || (*dir > 0 ? r->mean > best : r->mean < best)) best = r->mean;
    }
    return best;
}

static int report_summary_table(FILE *f, const struct report_chain *c)
{
    const char **methods = NULL, **metrics = NULL;
    size_t nm = 0, nk = 0;
    if (report_distinct(&methods, &nm, c->summary, c->nsummary, sizeof *c->summary,
                        offsetof(struct scores_summary_row, method)) ||
        report_distinct(&metrics, &nk, c->summary, c->nsummary, sizeof *c->summary,
                        offsetof(struct scores_summary_row, metric))) {
        free(methods);
        return -1;
    }
    fputs("<h3>Methods &times; metrics</h3>\n<p><small>mean over trials, [95% CI], n; best "
          "per metric in bold (&uarr; higher is better, &darr; lower is better)</small></p>\n"
          "<table class=\"summary\"><tr><th class=\"l\">method</th>", f);
    double *best = malloc((nk ? nk : 1) * sizeof *best);
    int *dir = malloc((nk ? nk : 1) * sizeof *dir);
    if (!best || !dir) {
        free(best), free(dir), free(methods), free(metrics);
        return err_set("cannot build the report: out of memory");
    }
    for (size_t k = 0; k < nk; k++) {
        best[k] = report_best(c, methods, nm, metrics[k], &dir[k]);
        fputs("<th>", f);
        report_text(f, metrics[k]);
        fputs(dir[k] > 0 ? " &uarr;" : dir[k] < 0 ? " &darr;" : "", f);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < nm; i++) {
        fputs("<tr><td class=\"l\">", f);
        report_text(f, methods[i]);
        fputs("</td>", f);
        for (size_t k = 0; k < nk; k++) {
            const struct scores_summary_row *r = report_cell(c, methods[i], metrics[k]);
            int is_best = r && isfinite(r->mean) && r->mean == best[k];
            fputs(is_best ? "<td class=\"best\">" : "<td>", f);
            if (r) {
                report_num(f, r->mean);
                fputs("<br><small>[", f);
                report_num(f, r->ci_lo);
                fputs(", ", f);
                report_num(f, r->ci_hi);
                fprintf(f, "] n=%lld</small>", (long long)r->n);
            }
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    free(best), free(dir), free(methods), free(metrics);
    return 0;
}

static void report_pointing_table(FILE *f, const struct report_chain *c)
{
    const char **methods = NULL;
    size_t nm = 0;
    if (!c->npclasses ||
        report_distinct(&methods, &nm, c->pclasses, c->npclasses, sizeof *c->pclasses,
                        offsetof(struct scores_pointing_class_row, method)))
        return;
    fputs("<h3>Pointing game per class</h3>\n<p><small>accuracy = hits / (hits + misses) over "
          "the class's trials (subset all)</small></p>\n<table class=\"pointing\"><tr>"
          "<th class=\"l\">class</th>", f);
    for (size_t i = 0; i < nm; i++) {
        fputs("<th>", f);
        report_text(f, methods[i]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
    /* Classes in the order of the first method's rows. */
    for (size_t r = 0; r < c->npclasses; r++) {
        const struct scores_pointing_class_row *a = &c->pclasses[r];
        if (strcmp(a->method, methods[0]) != 0 || strcmp(a->subset, "all") != 0) continue;
        fprintf(f, "<tr><td class=\"l\">%d ", a->class_id);
        report_text(f, a->class_name);
        fputs("</td>", f);
        for (size_t i = 0; i < nm; i++) {
            const struct scores_pointing_class_row *b = NULL;
            for (size_t s = 0; s < c->npclasses && !b; s++)
                if (!strcmp(c->pclasses[s].method, methods[i]) &&
                    !strcmp(c->pclasses[s].subset, "all") && c->pclasses[s].class_id == a->class_id)
                    b = &c->pclasses[s];
            fputs("<td>", f);
            if (b) {
                report_num(f, b->accuracy);
                fprintf(f, " <small>%.0f/%.0f</small>", b->hits, b->hits + b->misses);
            }
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    free(methods);
}

/* ---- plots ------------------------------------------------------------------------------ */

/* One SVG line plot of curve `which` (0 deletion, 1 insertion) of every method. */
static void report_plot(FILE *f, const struct report_chain *c, int which)
{
    const double W = 460, H = 280, L = 44, R = 130, T = 24, B = 34;
    double lo = 0, hi = 1;
    size_t drawn = 0;
    for (size_t i = 0; i < c->ncurves; i++) {
        const double *v = which ? c->curves[i].insertion : c->curves[i].deletion;
        size_t n = which ? c->curves[i].ninsertion : c->curves[i].ndeletion;
        for (size_t j = 0; v && j < n; j++)
            if (isfinite(v[j])) lo = fmin(lo, v[j]), hi = fmax(hi, v[j]);
        drawn += v && n >= 2;
    }
    if (!drawn) return;
    const char *name = which ? "insertion" : "deletion";
    fprintf(f, "<svg class=\"plot %s\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s curves\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n"
            "<text x=\"%.0f\" y=\"16\" font-weight=\"bold\">%s curve (mean over trials)</text>\n",
            name, W, H, W, H, name, W, H, L, which ? "Insertion" : "Deletion");
    const double pw = W - L - R, ph = H - T - B;
    for (int k = 0; k <= 4; k++) { /* grid and tick labels */
        double y = T + ph - ph * k / 4.0, x = L + pw * k / 4.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2g</text>\n",
                L, y, L + pw, y, L - 4, y + 4, lo + (hi - lo) * k / 4.0, x, T + ph + 14,
                k / 4.0);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
            "stroke=\"#888\"/>\n<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">fraction of "
            "pixels %s</text>\n", L, T, pw, ph, L + pw / 2, H - 4,
            which ? "inserted" : "deleted");
    size_t line = 0;
    for (size_t i = 0; i < c->ncurves; i++) {
        const double *v = which ? c->curves[i].insertion : c->curves[i].deletion;
        size_t n = which ? c->curves[i].ninsertion : c->curves[i].ndeletion;
        if (!v || n < 2) continue;
        const char *col = report_colors[line % REPORT_NCOLORS];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"", col);
        for (size_t j = 0; j < n; j++) {
            double y = isfinite(v[j]) ? v[j] : lo;
            fprintf(f, "%s%.1f,%.1f", j ? " " : "", L + pw * (double)j / (double)(n - 1),
                    T + ph - ph * (y - lo) / (hi - lo));
        }
        double ly = T + 10 + 16.0 * (double)line;
        fprintf(f, "\"/>\n<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"3\"/><text x=\"%.0f\" y=\"%.1f\">", L + pw + 10, ly,
                L + pw + 28, ly, col, L + pw + 32, ly + 4);
        report_text(f, c->curves[i].method);
        fputs("</text>\n", f);
        line++;
    }
    fputs("</svg>\n", f);
}

/* ---- images ----------------------------------------------------------------------------- */

static void report_image(FILE *f, const struct report_image *im)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    unsigned char *data = NULL;
    size_t n = 0;
    FILE *in = fopen(im->path, "rb");
    if (in && fseek(in, 0, SEEK_END) == 0) {
        long sz = ftell(in);
        if (sz >= 8 && (unsigned long)sz <= REPORT_MAX_IMAGE && fseek(in, 0, SEEK_SET) == 0 &&
            (data = malloc((size_t)sz)) && fread(data, 1, (size_t)sz, in) == (size_t)sz &&
            memcmp(data, sig, 8) == 0)
            n = (size_t)sz;
    }
    if (in) fclose(in);
    char *b64 = n ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    if (b64) {
        report_base64(b64, data, n);
        fputs("<img class=\"hm\" alt=\"", f);
        report_text(f, im->label);
        fprintf(f, "\" src=\"data:image/png;base64,%s\">", b64);
    } else {
        fputs("<div class=\"missing\">cannot read ", f);
        report_text(f, im->path);
        fputs("</div>", f);
    }
    free(b64);
    free(data);
}

/* 1 when two samples have the same column labels (no new header row needed). */
static int report_same_columns(const struct report_sample *a, const struct report_sample *b)
{
    if (a->nimages != b->nimages) return 0;
    for (size_t i = 0; i < a->nimages; i++)
        if (strcmp(a->images[i].label, b->images[i].label) != 0) return 0;
    return 1;
}

static void report_samples(FILE *f, const struct report_chain *c)
{
    if (!c->nsamples) return;
    fputs("<h3>Exported heatmaps</h3>\n<table class=\"heatmaps\">\n", f);
    for (size_t s = 0; s < c->nsamples; s++) {
        const struct report_sample *sm = &c->samples[s];
        if (s == 0 || !report_same_columns(sm, &c->samples[s - 1])) {
            fputs("<tr><th class=\"l\">sample</th>", f);
            for (size_t i = 0; i < sm->nimages; i++) {
                fputs("<th>", f);
                report_text(f, sm->images[i].label);
                fputs("</th>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("<tr><td class=\"l\">", f);
        report_text(f, sm->title);
        if (sm->caption) {
            fputs("<br><small>", f);
            report_text(f, sm->caption);
            fputs("</small>", f);
        }
        fputs("</td>", f);
        for (size_t i = 0; i < sm->nimages; i++) {
            fputs("<td>", f);
            report_image(f, &sm->images[i]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* ---- page ------------------------------------------------------------------------------- */

static void report_facts(FILE *f, const struct report_fact *facts, size_t n, const char *cls)
{
    if (!n) return;
    fprintf(f, "<table class=\"%s\">\n", cls);
    for (size_t i = 0; i < n; i++) {
        fputs("<tr><th class=\"l\">", f);
        report_text(f, facts[i].key);
        fputs("</th><td class=\"l\">", f);
        report_text(f, facts[i].value);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static int report_chain_section(FILE *f, const struct report_chain *c, size_t index)
{
    const char *st = c->status && !strcmp(c->status, "FAILED") ? "FAILED" : "FINISHED";
    fprintf(f, "<section class=\"chain\" id=\"chain-%zu\">\n<h2>Chain ", index);
    report_text(f, c->name);
    fprintf(f, "<span class=\"status %s\">%s</span></h2>\n", st, st);
    if (c->failure) {
        fputs("<p class=\"failure\">", f);
        report_text(f, c->failure);
        fputs("</p>\n", f);
    }
    report_facts(f, c->facts, c->nfacts, "facts");
    if (c->nsummary && report_summary_table(f, c)) return -1;
    fputs("<div class=\"plots\">\n", f);
    report_plot(f, c, 0);
    report_plot(f, c, 1);
    fputs("</div>\n", f);
    report_pointing_table(f, c);
    report_samples(f, c);
    fputs("</section>\n", f);
    return 0;
}

int report_html(const struct report *r, char **out, size_t *n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return err_set("cannot build the report: %s", strerror(errno));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    report_text(f, r->title);
    fprintf(f, " &ndash; salbench report</title>\n<style>%s</style>\n</head>\n<body>\n<h1>",
            report_css);
    report_text(f, r->title);
    fputs("</h1>\n", f);
    if (r->description && *r->description) {
        fputs("<p class=\"desc\">", f);
        report_text(f, r->description);
        fputs("</p>\n", f);
    }
    report_facts(f, r->facts, r->nfacts, "params");
    if (r->nchains > 1) {
        fputs("<p>Chains:", f);
        for (size_t i = 0; i < r->nchains; i++) {
            fprintf(f, " <a href=\"#chain-%zu\">", i);
            report_text(f, r->chains[i].name);
            fputs("</a>", f);
        }
        fputs("</p>\n", f);
    }
    int rc = 0;
    for (size_t i = 0; i < r->nchains && !rc; i++)
        rc = report_chain_section(f, &r->chains[i], i);
    fputs("<p><small>written by salbench " SALBENCH_VERSION "</small></p>\n</body>\n</html>\n",
          f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rc) {
        free(buf);
        return rc ? -1 : err_set("cannot build the report: out of memory");
    }
    *out = buf;
    *n = len;
    return 0;
}

int report_write(const struct report *r, const char *path)
{
    char *html;
    size_t n;
    if (report_html(r, &html, &n)) return -1;
    int rc = atomicfile_write_all(path, html, n);
    free(html);
    return rc;
}
