/* Minimal test harness: each CHECK prints "PASS name" or "FAIL name: why" on stdout, which
 * tests/run.sh counts. A test binary's main ends with `return check_summary();`, non-zero when
 * any check failed. Header-only so each test stays one file. */
#ifndef SALBENCH_TESTS_CHECK_H
#define SALBENCH_TESTS_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static int check_passes;

static inline int check_report(int ok, const char *name, const char *fmt, ...)
{
    if (ok) {
        printf("PASS %s\n", name);
        check_passes++;
    } else {
        va_list ap;
        printf("FAIL %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        check_failures++;
    }
    fflush(stdout);
    return ok;
}

/* CHECK(cond, name, why-format, ...): the why is printed only on failure. */
#define CHECK(cond, name, ...) check_report((cond) ? 1 : 0, (name), __VA_ARGS__)

/* Compares n floats with |a-b| <= atol + rtol*|b|; on failure names the first bad index, the
 * worst index and a few pairs (llm.c check_tensor). */
static inline int check_close(const char *name, const float *a, const float *b, size_t n,
                              double atol, double rtol)
{
    size_t bad = 0, first = (size_t)-1, worst = 0;
    double maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            if (first == (size_t)-1) first = i;
            bad++;
        }
        if (d > maxdiff || d != d) {
            maxdiff = d;
            worst = i;
        }
    }
    if (bad == 0) return check_report(1, name, "");
    return check_report(0, name,
                        "%zu of %zu differ; first [%zu] %.9g vs %.9g; max diff %.3g at [%zu] "
                        "%.9g vs %.9g",
                        bad, n, first, (double)a[first], (double)b[first], maxdiff, worst,
                        (double)a[worst], (double)b[worst]);
}

/* The same for doubles, reporting the worst pair (a NaN on either side never matches). */
static inline int check_close_f64(const char *name, const double *a, const double *b, size_t n,
                                  double atol, double rtol)
{
    size_t bad = 0, worst = 0;
    double maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= atol + rtol * fabs(b[i]))) bad++;
        if (!(d <= maxdiff)) {
            maxdiff = d;
            worst = i;
        }
    }
    return check_report(bad == 0, name, "%zu of %zu differ; max diff %.3g at [%zu] %.17g vs %.17g",
                        bad, n, maxdiff, worst, n ? a[worst] : 0.0, n ? b[worst] : 0.0);
}

static inline int check_summary(void)
{
    fprintf(stderr, "%d passed, %d failed\n", check_passes, check_failures);
    return check_failures ? 1 : 0;
}

#endif
