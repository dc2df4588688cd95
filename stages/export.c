/* export: picture and metadata files of selected samples, in Armory's exports layout
 * (MLFLOW.md B.5): OUT/exports/{batch:05d}/{sample:02d}/ with input.png, one heatmap overlay
 * saliency_<method>.png per method and metadata.txt (JSON). A sample is one saliency trial
 * (example, class); its address is its row t in saliency.h5's trials table, batch t / B and
 * sample t % B. The tree is built beside OUT/exports and swapped in whole. Options parse
 * here; stages/export_data.c reads and checks the inputs, export_write.c writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/err.h"
#include "stages/common.h"
#include "stages/export.h"

static const char *const export_usage[] = {
    "export --examples FILE --predictions FILE --saliency FILE --out DIR [selection] [options]",
    "  --examples FILE      examples.h5 (images, labels, objects, classes)",
    "  --predictions FILE   predictions.h5 of the model the maps explain",
    "  --saliency FILE      saliency.h5 (trials, maps/<method>)",
    "  --scores FILE        scores.h5: per-trial metrics into metadata.txt, and --worst/--best",
    "  --out DIR            writes DIR/exports (replaced whole; DIR is created)",
    "selection (one of; default --first 16): examples with trials, in example_id order",
    "  --first N            the first N examples",
    "  --every N            every N-th example (positions N, 2N, ...)",
    "  --ids ID,...         these examples (16-hex example ids)",
    "  --worst K --by METRIC/METHOD   the K worst trials by a scores.h5 metric",
    "  --best K --by METRIC/METHOD    the K best trials",
    "  --all-trials         every trial of a selected example, not only the shown one (the",
    "                       trial of the predicted class, else of the first label)",
    "options",
    "  --methods A,B,...    maps to draw (default: all in saliency.h5, sorted)",
    "  --batch-size B       samples per batch directory, 1..100 (default 16)",
    "  --scale N            upscale factor, 1..16 (default: longer side >= 256 px)",
    "  --alpha A            heat opacity 0..1 (default 0.5)",
    "  --norm absmax|minmax|posmax   map to [0,1] for the colour map (default absmax)",
    "  --blend constant|weighted     weighted: opacity alpha * value (default constant)",
    "  --boxes class|all|none        ground-truth boxes drawn (default class: the trial's)",
    "  --top-k N            top probabilities in metadata.txt (default 5)",
    NULL};

struct opts {
    const char *examples, *predictions, *saliency, *scores, *out, *by, *norm, *blend, *boxes;
    long long first, every, worst, best, batch_size, scale, top_k;
    int all_trials;
    double alpha;
    struct cli_list ids, methods;
};

static int pick(const char *opt, const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    cli_usage_error("cannot use '--%s %s': unknown value", opt, v);
}

static uint64_t parse_id(const char *s)
{
    if (strlen(s) != 16 || strspn(s, "0123456789abcdefABCDEF") != 16)
        cli_usage_error("cannot use example id '%s': expected 16 hex digits", s);
    return (uint64_t)strtoull(s, NULL, 16);
}

/* The one selection mode given (--first 16 when none). ids is filled for --ids. */
static void selection(struct export_selection *sel, const struct opts *o, uint64_t *ids)
{
    int given = (o->first > 0) + (o->every > 0) + (o->ids.n > 0) + (o->worst > 0) + (o->best > 0);
    if (given > 1) cli_usage_error("cannot combine selections: give one of --first, --every, --ids, "
                                   "--worst, --best");
    memset(sel, 0, sizeof *sel);
    sel->mode = EXPORT_FIRST, sel->n = 16;
    if (o->first > 0) sel->n = (size_t)o->first;
    if (o->every > 0) sel->mode = EXPORT_EVERY, sel->n = (size_t)o->every;
    if (o->worst > 0) sel->mode = EXPORT_WORST, sel->n = (size_t)o->worst;
    if (o->best > 0) sel->mode = EXPORT_BEST, sel->n = (size_t)o->best;
    if (o->ids.n > 0) {
        sel->mode = EXPORT_IDS, sel->ids = ids, sel->n_ids = (size_t)o->ids.n;
        for (int i = 0; i < o->ids.n; i++)
            ids[i] = parse_id(o->ids.items[i]);
    }
    int ranked = sel->mode == EXPORT_WORST || sel->mode == EXPORT_BEST;
    if (ranked && !o->by) cli_usage_error("--worst and --best need --by METRIC/METHOD");
    if (!ranked && o->by) cli_usage_error("--by goes with --worst or --best");
    if (ranked && !o->scores) cli_usage_error("--worst and --best need --scores");
    if (ranked && o->all_trials) cli_usage_error("--all-trials does not go with --worst/--best");
    sel->by = o->by, sel->all_trials = o->all_trials;
}

int main(int argc, char **argv)
{
    static struct opts o = {.norm = "absmax", .blend = "constant", .boxes = "class",
                            .batch_size = 16, .top_k = 5, .alpha = 0.5};
    const struct cli_option opts[] = {
        {.name = "examples", .kind = CLI_STRING, .value = &o.examples, .flags = CLI_NOT_PARAM},
        {.name = "predictions", .kind = CLI_STRING, .value = &o.predictions,
         .flags = CLI_NOT_PARAM},
        {.name = "saliency", .kind = CLI_STRING, .value = &o.saliency, .flags = CLI_NOT_PARAM},
        {.name = "scores", .kind = CLI_STRING, .value = &o.scores, .flags = CLI_NOT_PARAM},
        CLI_OUTPUT("out", &o.out),
        CLI_RANGE("first", CLI_INT, &o.first, 1, 1e12),
        CLI_RANGE("every", CLI_INT, &o.every, 1, 1e12),
        CLI_OPT("ids", CLI_LIST, &o.ids),
        CLI_RANGE("worst", CLI_INT, &o.worst, 1, 1e12),
        CLI_RANGE("best", CLI_INT, &o.best, 1, 1e12),
        CLI_OPT("by", CLI_STRING, &o.by),
        CLI_OPT("all-trials", CLI_FLAG, &o.all_trials),
        CLI_OPT("methods", CLI_LIST, &o.methods),
        CLI_RANGE("batch-size", CLI_INT, &o.batch_size, 1, 100),
        CLI_RANGE("scale", CLI_INT, &o.scale, 1, OVERLAY_MAX_SCALE),
        CLI_RANGE("alpha", CLI_DOUBLE, &o.alpha, 0, 1),
        CLI_OPT("norm", CLI_STRING, &o.norm),
        CLI_OPT("blend", CLI_STRING, &o.blend),
        CLI_OPT("boxes", CLI_STRING, &o.boxes),
        CLI_RANGE("top-k", CLI_INT, &o.top_k, 0, 4096),
        CLI_END};
    static const char *const norms[] = {"minmax", "absmax", "posmax"};
    static const char *const blends[] = {"constant", "weighted"};
    static const char *const boxes[] = {"none", "class", "all"};
    cli_init("export", export_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    if (!o.examples || !o.predictions || !o.saliency || !o.out)
        cli_usage_error("--examples, --predictions, --saliency and --out are required");
    char *tree = xmalloc(strlen(o.out) + sizeof "/exports");
    sprintf(tree, "%s/exports", o.out);
    cli_set_output(tree); /* timing record DIR/exports.time.json */
    free(tree);
    uint64_t *ids = xcalloc((size_t)o.ids.n + 1, sizeof *ids);
    struct export_selection sel;
    selection(&sel, &o, ids);
    struct export_options eo = {.out_dir = o.out, .batch_size = (int)o.batch_size,
                                .boxes = pick("boxes", o.boxes, boxes, 3), .top_k = (int)o.top_k,
                                .sel = &sel, .norm_name = o.norm, .blend_name = o.blend,
                                .boxes_name = o.boxes};
    int norm = pick("norm", o.norm, norms, 3) + COLORMAP_NORM_MINMAX;
    int weighted = pick("blend", o.blend, blends, 2);

    struct export_data d;
    export_data_init(&d);
    if (export_data_open(&d, o.examples, o.predictions, o.saliency, o.scores,
                         (const char *const *)o.methods.items, o.methods.n))
        cli_fail();
    uint8_t table[COLORMAP_SIZE * 3];
    colormap_viridis(table);
    overlay_style_init(&eo.style, table,
                       o.scale ? (int)o.scale : overlay_default_scale(d.ex.H, d.ex.W, 256));
    eo.style.alpha = (float)o.alpha, eo.style.norm = (enum colormap_norm)norm;
    eo.style.weighted = weighted;
    struct export_pick *picks = NULL;
    size_t n = 0;
    if (export_select(&d, &sel, &picks, &n)) cli_fail();
    for (size_t i = 0; i < n; i++) /* every sample needs its prediction row */
        if (d.pred_row[d.trow[picks[i].trial]] == SIZE_MAX)
            cli_die("cannot export example %016llx: it is not in '%s'",
                    (unsigned long long)d.tid[picks[i].trial], o.predictions);
    if (export_write(&d, &eo, picks, n)) cli_fail();
    printf("export: %zu samples x %zu methods (%dx%d px) into '%s/exports'\n", n, d.n_methods,
           d.ex.W * eo.style.scale, d.ex.H * eo.style.scale, o.out);
    free(picks);
    free(ids);
    export_data_release(&d);
    return cli_exit(0);
}
