/* Pointing game and Quantus mask scores for one trial; see metrics_localisation.h for the
 * definitions and their sources. Sums run in double in a fixed order. */
#include "pipeline/metrics_localisation.h"

#include <math.h>

#include "pipeline/err.h"
#include "pipeline/stats.h"

/* ---- ground truth ------------------------------------------------------------------------- */

/* First and one-past-last pixel whose centre k + 0.5 lies in [a, b), clipped to [0, n). An
 * interval that holds no centre gives the pixel holding its midpoint, if inside. */
static void centre_span(double a, double b, int n, int *lo, int *hi)
{
    double l = ceil(a - 0.5), h = ceil(b - 0.5);
    if (l >= h) {
        l = floor(0.5 * (a + b));
        h = l + 1;
    }
    *lo = l < 0 ? 0 : (l > n ? n : (int)l);
    *hi = h < 0 ? 0 : (h > n ? n : (int)h);
}

size_t metrics_mask_from_boxes(uint8_t *mask, const struct metrics_box *boxes, int n_boxes, int H,
                               int W)
{
    for (int i = 0; i < n_boxes; i++) {
        const struct metrics_box *b = &boxes[i];
        if (!(b->x1 > b->x0 && b->y1 > b->y0)) continue; /* empty or NaN box */
        int u0, u1, v0, v1;
        centre_span(b->x0, b->x1, W, &u0, &u1);
        centre_span(b->y0, b->y1, H, &v0, &v1);
        for (int v = v0; v < v1; v++)
            for (int u = u0; u < u1; u++)
                mask[(size_t)v * W + u] = 1;
    }
    return metrics_mask_area(mask, (size_t)H * W);
}

size_t metrics_mask_area(const uint8_t *mask, size_t n)
{
    size_t a = 0;
    for (size_t i = 0; i < n; i++)
        a += mask[i] != 0;
    return a;
}

int metrics_map_finite(const float *map, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(map[i])) return 0;
    return 1;
}

/* ---- pointing game ------------------------------------------------------------------------ */

double metrics_pointing_tolerance(int H, int W)
{
    return 15.0 * (double)(H < W ? H : W) / 224.0;
}

size_t metrics_argmax_first(const float *map, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (map[i] > map[best]) best = i;
    return best;
}

int metrics_pointing_hit(const uint8_t *mask, int H, int W, double u, double v, double tol)
{
    if (!(tol > 0) || !isfinite(u) || !isfinite(v)) return 0;
    double t2 = tol * tol;
    double r0 = ceil(v - tol), r1 = floor(v + tol), c0 = ceil(u - tol), c1 = floor(u + tol);
    int vlo = r0 < 0 ? 0 : (int)r0, vhi = r1 > H - 1 ? H - 1 : (int)r1;
    int ulo = c0 < 0 ? 0 : (int)c0, uhi = c1 > W - 1 ? W - 1 : (int)c1;
    for (int y = vlo; y <= vhi; y++) {
        double dv = (double)y - v;
        for (int x = ulo; x <= uhi; x++) {
            double du = (double)x - u;
            if (mask[(size_t)y * W + x] && du * du + dv * dv < t2) return 1;
        }
    }
    return 0;
}

double metrics_pointing_game(const float *map, const uint8_t *mask, int H, int W, double tol,
                             int tie_aware, int64_t *point_out)
{
    size_t n = (size_t)H * W;
    if (point_out) *point_out = -1;
    if (n == 0 || !metrics_map_finite(map, n) || metrics_mask_area(mask, n) == 0) return NAN;
    size_t p = metrics_argmax_first(map, n);
    if (point_out) *point_out = (int64_t)p;
    if (!tie_aware) return metrics_pointing_hit(mask, H, W, (double)(p % W), (double)(p / W), tol);
    float top = map[p];
    size_t ties = 0, hits = 0;
    for (size_t i = p; i < n; i++) {
        if (map[i] != top) continue;
        ties++;
        hits += metrics_pointing_hit(mask, H, W, (double)(i % W), (double)(i / W), tol);
    }
    return (double)hits / (double)ties;
}

void metrics_pointing_add(struct metrics_pointing_counts *per_class, int n_classes, int class_id,
                          double outcome)
{
    SB_ASSERT(class_id >= 0 && class_id < n_classes);
    struct metrics_pointing_counts *c = &per_class[class_id];
    if (isnan(outcome)) {
        c->undefined++;
        return;
    }
    c->hits += outcome;
    c->misses += 1.0 - outcome;
}

double metrics_pointing_class_accuracy(const struct metrics_pointing_counts *c)
{
    double total = c->hits + c->misses;
    return c->hits / (total < 1 ? 1 : total);
}

double metrics_pointing_mean_accuracy(const struct metrics_pointing_counts *per_class,
                                      int n_classes)
{
    if (n_classes <= 0) return NAN;
    double s = 0;
    for (int c = 0; c < n_classes; c++)
        s += metrics_pointing_class_accuracy(&per_class[c]);
    return s / n_classes;
}

double metrics_pointing_hit_rate(const struct metrics_pointing_counts *per_class, int n_classes)
{
    double hits = 0, total = 0;
    for (int c = 0; c < n_classes; c++) {
        hits += per_class[c].hits;
        total += per_class[c].hits + per_class[c].misses;
    }
    return total > 0 ? hits / total : NAN;
}

int metrics_pointing_difficult(size_t target_area, int H, int W, int n_classes_present)
{
    return 4 * (double)target_area < (double)H * W && n_classes_present >= 2;
}

/* ---- Quantus mask scores ------------------------------------------------------------------ */

double metrics_relevance_mass(const float *map, const uint8_t *mask, size_t n, int abs_first)
{
    if (!metrics_map_finite(map, n) || metrics_mask_area(mask, n) == 0) return NAN;
    double inside = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        double a = abs_first ? fabs((double)map[i]) : (double)map[i];
        total += a;
        if (mask[i]) inside += a;
    }
    return total != 0 ? inside / total : NAN;
}

double metrics_energy_pointing(const float *map, const uint8_t *mask, size_t n)
{
    if (!metrics_map_finite(map, n) || metrics_mask_area(mask, n) == 0) return NAN;
    double inside = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        double e = map[i] > 0 ? (double)map[i] : 0.0;
        total += e;
        if (mask[i]) inside += e;
    }
    return total > 0 ? inside / total : NAN;
}

size_t metrics_rank_scratch_bytes(size_t n)
{
    return 2 * n * sizeof(uint64_t) + n * sizeof(uint32_t) + n * sizeof(float) + 16;
}

/* Fills order[n] (descending, ties by index) of map or |map|; scratch layout: keys (2n u64),
 * order (n u32), values (n float). Returns the order. */
static const uint32_t *rank_pixels(const float *map, size_t n, int abs_first, void *scratch)
{
    uint64_t *keys = scratch;
    uint32_t *order = (uint32_t *)(keys + 2 * n);
    const float *v = map;
    if (abs_first) {
        float *a = (float *)(order + n);
        for (size_t i = 0; i < n; i++)
            a[i] = fabsf(map[i]);
        v = a;
    }
    stats_order_desc_f32(order, v, n, keys);
    return order;
}

static double top_fraction_inside(const uint32_t *order, const uint8_t *mask, size_t k)
{
    size_t hits = 0;
    for (size_t i = 0; i < k; i++)
        hits += mask[order[i]] != 0;
    return (double)hits / (double)k;
}

double metrics_relevance_rank(const float *map, const uint8_t *mask, size_t n, int abs_first,
                              void *scratch)
{
    size_t area = metrics_mask_area(mask, n);
    if (!metrics_map_finite(map, n) || area == 0) return NAN;
    return top_fraction_inside(rank_pixels(map, n, abs_first, scratch), mask, area);
}

double metrics_top_k_intersection(const float *map, const uint8_t *mask, size_t n, size_t k,
                                  int concept_influence, int abs_first, void *scratch)
{
    size_t area = metrics_mask_area(mask, n);
    if (!metrics_map_finite(map, n) || area == 0 || k < 1 || k > n) return NAN;
    double s = top_fraction_inside(rank_pixels(map, n, abs_first, scratch), mask, k);
    return concept_influence ? s * (double)n / (double)area : s;
}

size_t metrics_top_k_default(int H, int W)
{
    double k = floor(1000.0 * (double)H * W / 50176.0 + 0.5);
    return k < 1 ? 1 : (size_t)k;
}

double metrics_localisation_auc(const float *map, const uint8_t *mask, size_t n, int abs_first,
                                void *scratch)
{
    size_t pos = metrics_mask_area(mask, n);
    if (!metrics_map_finite(map, n) || pos == 0 || pos == n) return NAN;
    const uint32_t *order = rank_pixels(map, n, abs_first, scratch);
    const float *v = abs_first ? (const float *)(order + n) : map;
    /* Sum of the ascending average ranks of the positives (Mann-Whitney U). */
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, p = 0;
        while (j + 1 < n && v[order[j + 1]] == v[order[i]])
            j++;
        for (size_t k = i; k <= j; k++)
            p += mask[order[k]] != 0;
        rank_sum += (double)p * ((double)n - 0.5 * (double)(i + j));
        i = j + 1;
    }
    double P = (double)pos, N = (double)(n - pos);
    return (rank_sum - 0.5 * P * (P + 1)) / (P * N);
}
