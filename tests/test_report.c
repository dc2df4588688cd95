/* formats/report: base64 against RFC 4648's test vectors, HTML escaping (markup, quotes,
 * invalid UTF-8, control bytes), the best value per metric by direction (higher or lower is
 * better, NaN never best), report_direction's per-metric fallback, images inlined as data: URIs
 * or shown as a placeholder, and report_write's atomic file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/report.h"
#include "tests/check.h"

static void test_base64(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
    int ok = 1;
    char out[16];
    for (int i = 0; i < 7; i++) {
        report_base64(out, (const unsigned char *)in[i], strlen(in[i]));
        if (strcmp(out, want[i]) != 0) ok = 0, printf("# '%s' -> '%s'\n", in[i], out);
    }
    const unsigned char bin[3] = {0xFF, 0xFE, 0x00};
    report_base64(out, bin, 3);
    CHECK(ok && strcmp(out, "//4A") == 0, "report_base64_rfc4648", "got '%s'", out);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Three methods, two metrics: deletion (lower is better) and pointing_game (higher). */
static struct scores_summary_row rows[6];
static struct scores_metric_row dirs[2];

static void fill(void)
{
    const char *m[3] = {"a<b", "gradcam", "rise"};
    const double del[3] = {0.30, 0.10, 0.20}, pg[3] = {0.5, NAN, 0.9};
    for (int i = 0; i < 3; i++) {
        snprintf(rows[i].method, sizeof rows[i].method, "%s", m[i]);
        snprintf(rows[i].metric, sizeof rows[i].metric, "deletion");
        rows[i].mean = del[i], rows[i].ci_lo = del[i] - 0.01, rows[i].ci_hi = del[i] + 0.01;
        rows[i].n = 10;
        rows[3 + i] = rows[i];
        snprintf(rows[3 + i].metric, sizeof rows[3 + i].metric, "pointing_game");
        rows[3 + i].mean = pg[i];
    }
    snprintf(dirs[0].method, sizeof dirs[0].method, "rise");
    snprintf(dirs[0].metric, sizeof dirs[0].metric, "deletion");
    dirs[0].higher_is_better = -1;
    snprintf(dirs[1].method, sizeof dirs[1].method, "gradcam");
    snprintf(dirs[1].metric, sizeof dirs[1].metric, "pointing_game");
    dirs[1].higher_is_better = 1;
}

static void test_page(const char *dir)
{
    fill();
    CHECK(report_direction(dirs, 2, "a<b", "deletion") == -1 &&
              report_direction(dirs, 2, NULL, "pointing_game") == 1 &&
              report_direction(dirs, 2, "rise", "other") == 0,
          "report_direction_per_metric", "directions wrong");
    /* a 1x1 PNG (bytes of a real file) and a file that is not a PNG */
    static const unsigned char png[] = {
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48,
        0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00,
        0x00, 0x3A, 0x7E, 0x9B, 0x55, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78,
        0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x48, 0xAF, 0xA4, 0x71, 0x00,
        0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82};
    char p1[512], p2[512], out[512];
    snprintf(p1, sizeof p1, "%s/a.png", dir);
    snprintf(p2, sizeof p2, "%s/b.png", dir);
    snprintf(out, sizeof out, "%s/report.html", dir);
    FILE *f = fopen(p1, "wb");
    fwrite(png, 1, sizeof png, f);
    fclose(f);
    f = fopen(p2, "wb");
    fputs("not a png", f);
    fclose(f);
    struct report_image im[2] = {{"input", p1}, {"gradcam", p2}};
    struct report_sample sm = {"00000/00", "label 3", im, 2};
    const double del[3] = {1, 0.5, 0.25};
    struct report_curve cv = {"gradcam", del, del, 3, 3};
    struct report_fact fact = {"accuracy", "0.5"};
    struct report_chain c = {.name = "pgd \"x\" <i>", .status = "FAILED",
                             .failure = "stage score exited\x01 \xff", .facts = &fact,
                             .nfacts = 1, .summary = rows, .nsummary = 6, .metrics = dirs,
                             .nmetrics = 2, .curves = &cv, .ncurves = 1, .samples = &sm,
                             .nsamples = 1};
    struct report r = {.title = "t & <t>", .description = "d'\n<b>", .chains = &c, .nchains = 1};
    char *html = NULL;
    size_t n = 0;
    if (!CHECK(report_html(&r, &html, &n) == 0 && html && strlen(html) == n, "report_html_builds",
               "report_html failed"))
        return;
    CHECK(strstr(html, "<title>t &amp; &lt;t&gt;") && strstr(html, "pgd &quot;x&quot; &lt;i&gt;") &&
              strstr(html, "d&#39;\n&lt;b&gt;") && !strstr(html, "<i>") && !strstr(html, "<b>"),
          "report_html_escapes", "markup leaked");
    CHECK(strstr(html, "exited\xEF\xBF\xBD \xEF\xBF\xBD") != NULL, "report_invalid_utf8_replaced",
          "no U+FFFD for a control byte / invalid byte");
    /* best: deletion -> gradcam (0.10, lower is better); pointing_game -> rise (0.9; NaN skipped) */
    const char *best_del = strstr(html, "<td class=\"best\">0.1<");
    const char *best_pg = strstr(html, "<td class=\"best\">0.9<");
    CHECK(count(html, "class=\"best\"") == 2 && best_del && best_pg, "report_best_by_direction",
          "%d best cells", count(html, "class=\"best\""));
    CHECK(strstr(html, "deletion &darr;") && strstr(html, "pointing_game &uarr;"),
          "report_direction_arrows", "no arrows");
    CHECK(count(html, "src=\"data:image/png;base64,iVBORw0KGgo") == 1 &&
              strstr(html, "cannot read ") != NULL,
          "report_images_inline_or_placeholder", "images wrong");
    CHECK(count(html, "<polyline") == 2 && strstr(html, "status FAILED"), "report_plots_status",
          "polylines %d", count(html, "<polyline"));
    CHECK(strstr(html, "http") == strstr(html, "http://www.w3.org/2000/svg") &&
              count(html, "http") == 2 && !strstr(html, "<script"),
          "report_self_contained", "external reference or script");
    CHECK(report_write(&r, out) == 0 && access(out, R_OK) == 0, "report_write_file",
          "not written");
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
    CHECK(access(tmp, F_OK) != 0, "report_write_no_temp", "temp left");
    free(html);
}

int main(void)
{
    char dir[] = "/tmp/test_report.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_base64();
    test_page(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return 1;
    return check_summary();
}
