/* report.html: one self-contained HTML page for an evaluation (no network: inline CSS, inline
 * SVG plots, PNG images inlined as base64 data: URIs). Per chain: the model's accuracy, a
 * methods x metrics table of means with 95% CIs and the best value per metric marked (by the
 * metric's direction), deletion and insertion curves as SVG line plots (one line per method,
 * legend), the pointing game per class, and a grid of exported heatmaps. A writer of text from
 * plain structs; it computes nothing but the best-per-metric marks and the plot scales.
 *
 *     struct report r = {.title = "demo", .chains = chains, .nchains = n};
 *     char *html; size_t n;
 *     if (report_html(&r, &html, &n)) ...   // malloc'd, NUL-terminated; free()
 *     if (report_write(&r, "runs/demo/report.html")) ...   // atomically (atomicfile)
 *
 * Everything the structs point to is borrowed. Text is HTML-escaped; non-UTF-8 bytes are
 * replaced by U+FFFD so the page is valid UTF-8. Images that cannot be read or are not PNG are
 * shown as a placeholder naming the file (the page stays whole). Errors: -1 after err_set. */
#ifndef SALBENCH_REPORT_H
#define SALBENCH_REPORT_H

#include <stddef.h>

#include "formats/scores.h"

struct report_curve {
    const char *method;
    const double *deletion, *insertion; /* mean curve points, evenly spaced on [0, 1] */
    size_t ndeletion, ninsertion;
};

struct report_image {
    const char *label; /* column header, e.g. "input" or "gradcam" */
    const char *path;  /* PNG file */
};

struct report_sample {
    const char *title; /* e.g. "00000/03" */
    const char *caption;
    const struct report_image *images;
    size_t nimages;
};

struct report_fact {
    const char *key, *value;
};

struct report_chain {
    const char *name;
    const char *status;   /* "FINISHED" or "FAILED" */
    const char *failure;  /* why it failed, or NULL */
    const struct report_fact *facts; /* accuracy, attack norms ... shown first */
    size_t nfacts;
    const struct scores_summary_row *summary;
    size_t nsummary;
    const struct scores_metric_row *metrics; /* directions (higher_is_better 1 / -1) */
    size_t nmetrics;
    const struct report_curve *curves;
    size_t ncurves;
    const struct scores_pointing_class_row *pclasses;
    size_t npclasses;
    const struct report_sample *samples;
    size_t nsamples;
};

struct report {
    const char *title;
    const char *description; /* plain text, or NULL */
    const struct report_fact *facts; /* global parameters */
    size_t nfacts;
    const struct report_chain *chains;
    size_t nchains;
};

/* The page as one malloc'd NUL-terminated string (*n bytes, without the NUL). */
int report_html(const struct report *r, char **out, size_t *n);
/* report_html written atomically to path. */
int report_write(const struct report *r, const char *path);

/* Base64 (RFC 4648, with padding) of n bytes into out (4 * ceil(n / 3) bytes + NUL). */
void report_base64(char *out, const unsigned char *in, size_t n);

/* The direction of (method, metric) in rows: 1, -1, or 0 when not listed. A row for the
 * metric with another method is used when the method has none (directions are per metric). */
int report_direction(const struct scores_metric_row *rows, size_t n, const char *method,
                     const char *metric);

#endif
