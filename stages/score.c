/* score: saliency metrics of every method of saliency.h5 against the model and examples that
 * produced it: per-trial tables, deletion/insertion and sanity curves, summaries with bootstrap
 * intervals, paired method comparisons and TorchRay's pointing game, into scores.h5 (written
 * atomically). Options parse here; the work is stages/score_run.c and score_report.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "stages/common.h"
#include "stages/score_data.h"
#include "stages/score_parts.h"
#include "stages/score_run.h"

static const char *const score_usage[] = {
    "score --model FILE --examples FILE --saliency FILE --out FILE [options]",
    "score [the same options] --merge PART.h5...   (the parts of --shard 0/N .. N-1/N)",
    "  --model FILE           model.h5 the maps were computed with (checked by content hash)",
    "  --examples FILE        examples.h5 (images, objects, masks, classes)",
    "  --saliency FILE        saliency.h5 (trials, maps/<method>)",
    "  --predictions FILE     predictions.h5: only checked to come from the same model/examples",
    "  --out FILE             scores.h5 to write (replaced atomically)",
    "  --metrics A,B,...      default: every metric that does not re-run the method",
    "                         (" "pointing_game energy_pointing_game relevance_mass",
    "                         relevance_rank top_k_intersection localisation_auc deletion",
    "                         insertion faithfulness_correlation infidelity sparseness",
    "                         complexity; plus max_sensitivity avg_sensitivity sanity_check",
    "                         random_logit on request)",
    "  --methods A,B,...      score only these maps (default: all, sorted)",
    "  --limit N              score the trials of the first N examples (0: all)",
    "  --rerun-limit N        the metrics that re-run the model or the method (faithfulness,",
    "                         robustness, randomisation) score only the trials of the first N",
    "                         of those examples; NaN after them (0: all)",
    "  --batch B              images per model forward (default 128)",
    "  --seed S               seed of every perturbation and bootstrap (default 0)",
    "  --bootstrap N          bootstrap resamples (default 1000); --level 0.95",
    "  --paired 0|1           paired comparisons of every two methods (default 1)",
    "  --ground-truth masks|boxes  localisation ground truth (default masks; the energy-based",
    "                         pointing game always scores against boxes, as defined)",
    "  --reference-saliency FILE  the benign chain's saliency.h5: adds map_stability (Spearman",
    "                         and top-k overlap of each trial's map with its reference map)",
    "  --<metric>.<param> V   metric parameters, see README (e.g. --pointing_game.tolerance 5)",
    "  --shard K/N            score the trials of shard K of N (example_id ranges, as the",
    "                         other stages shard); summaries cover the shard only",
    "  --merge PART.h5...     the parts of a sharded run, shard 0 to N-1, in that order (after",
    "                         every option): checked to come from these options and inputs,",
    "                         merged and summarised over every trial; the output equals the",
    "                         unsharded run's, byte for byte",
    NULL};

struct opts {
    const char *model, *examples, *saliency, *predictions, *out, *gt, *substrate, *outputs[4];
    const char *sanity_mode, *init, *reference;
    struct cli_list metrics, methods, layers;
    struct cli_shard shard;
    int merge;
    long long limit, rerun_limit, batch, seed, boot, paired, block, tie, mabs, rabs, kabs, aabs, concept, topk;
    long long dsteps, dstep, isteps, istep, radius, fruns, fsub, isamp, inorm, ssamp, sabs;
    double level, tol, sigma, isigma, sradius, sfrac;
};

#define IN(n, p) {.name = (n), .kind = CLI_STRING, .value = (p), .flags = CLI_NOT_PARAM}
#define INT(n, p, lo, hi) CLI_RANGE(n, CLI_INT, p, lo, hi)
#define DBL(n, p, lo, hi) CLI_RANGE(n, CLI_DOUBLE, p, lo, hi)

static int pick(const char *opt, const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v, names[i]) == 0) return i;
    cli_usage_error("cannot use '--%s %s': unknown value", opt, v);
}

static void to_config(struct score_config *c, const struct opts *o, const struct model *m,
                      size_t n_obj)
{
    static const char *const outs[] = {"prob", "logit"}, *const gts[] = {"boxes", "masks"};
    static const char *const subs[] = {"zero", "black", "blur"};
    static const char *const modes[] = {"both", "cascading", "independent"};
    static const char *const inits[] = {"pytorch", "kaiming_normal", "kaiming_uniform"};
    for (int i = 0; i < o->metrics.n; i++) {
        int k = score_metric_from_name(o->metrics.items[i]);
        if (k < 0) cli_usage_error("cannot use metric '%s': unknown", o->metrics.items[i]);
        c->want[k] = 1;
    }
    for (int k = 0; k < SCORE_METRIC_COUNT && o->metrics.n == 0; k++) {
        unsigned nd = score_metric_info(k)->needs;
        c->want[k] = !(nd & (SCORE_NEEDS_METHOD | SCORE_NEEDS_REFERENCE)) &&
                     !(n_obj == 0 && (nd & SCORE_NEEDS_GT));
    }
    if (c->want[SCORE_MAP_STABILITY] && !o->reference)
        cli_usage_error("cannot score 'map_stability': it needs --reference-saliency");
    c->want[SCORE_MAP_STABILITY] = o->reference != NULL; /* the reference enables it */
    c->stability_fraction = o->sfrac, c->stability_abs = (int)o->sabs;
    c->gt_masks = pick("ground-truth", o->gt, gts, 2);
    c->faith.activation = m->activation == MODEL_SIGMOID ? SCORE_ACT_SIGMOID : SCORE_ACT_SOFTMAX;
    c->faith.substrate = pick("deletion.substrate", o->substrate, subs, 3);
    c->faith.deletion_output = pick("deletion.output", o->outputs[0], outs, 2);
    c->faith.insertion_output = pick("insertion.output", o->outputs[1], outs, 2);
    c->faith.fc_output = pick("faithfulness_correlation.output", o->outputs[2], outs, 2);
    c->faith.inf_output = pick("infidelity.output", o->outputs[3], outs, 2);
    int mode = pick("sanity_check.mode", o->sanity_mode, modes, 3);
    c->sanity_cascading = mode != 2, c->sanity_independent = mode != 1;
    c->random.init = pick("sanity_check.init", o->init, inits, 3);
    c->sanity_layers = o->layers.n ? o->layers.items : NULL, c->n_sanity_layers = o->layers.n;
    c->tolerance = o->tol, c->tie_aware = (int)o->tie, c->mass_abs = (int)o->mabs;
    c->rank_abs = (int)o->rabs, c->topk_abs = (int)o->kabs, c->auc_abs = (int)o->aabs;
    c->topk_concept = (int)o->concept, c->top_k = o->topk;
    c->deletion_steps = (int)o->dsteps, c->deletion_step = o->dstep;
    c->insertion_steps = (int)o->isteps, c->insertion_step = o->istep;
    c->faith.blur_radius = (int)o->radius, c->faith.blur_sigma = o->sigma;
    c->faith.fc_runs = (int)o->fruns, c->faith.fc_subset = (uint32_t)o->fsub;
    c->faith.inf_samples = (int)o->isamp, c->faith.inf_sigma = o->isigma;
    c->faith.inf_normalize = (int)o->inorm;
    c->random.sens_samples = (int)o->ssamp, c->random.sens_radius = o->sradius;
    c->seed = (uint64_t)o->seed, c->n_boot = (int)o->boot, c->level = o->level;
    c->paired = (int)o->paired, c->block = (int)o->block;
}

/* The params a part of shard k/n carries: this run's, with that shard. */
static char *part_params(uint32_t k, uint32_t n, void *user)
{
    struct opts *o = user;
    struct cli_shard keep = o->shard;
    o->shard = (struct cli_shard){k, n};
    char *params = cli_params_json();
    o->shard = keep;
    return params;
}

/* score --merge: the parts, checked against this run's options and inputs (by content). The
 * inputs not hashed yet are hashed into hashes[] (one slot per input), for the provenance too. */
static int open_parts(struct score_parts *parts, const char *const *paths, int n,
                      struct opts *o, const struct score_data *d, struct h5table_input *in,
                      int nin, uint64_t *hashes)
{
    for (int i = 0; i < nin; i++) {
        if (in[i].hash) continue;
        if (h5table_content_hash_path(in[i].path, &hashes[i])) return -1;
        in[i].hash = &hashes[i];
    }
    return score_parts_open(parts, paths, n, d, part_params, o, in, nin);
}

int main(int argc, char **argv)
{
    static struct opts o = {.gt = "masks", .substrate = "zero", .outputs = {"prob", "prob", "logit",
                     "logit"}, .sanity_mode = "both", .init = "pytorch", .batch = 128,
                     .boot = 1000, .paired = 1, .block = 64, .dsteps = 224, .isteps = 224,
                     .fruns = 100, .fsub = 224, .isamp = 10, .inorm = 1, .ssamp = 10,
                     .level = 0.95, .isigma = 0.1, .sradius = 0.02,
                     .sfrac = SCORE_STABILITY_TOP_FRACTION};
    const struct cli_option opts[] = {
        IN("model", &o.model), IN("examples", &o.examples), IN("saliency", &o.saliency),
        IN("predictions", &o.predictions), CLI_OUTPUT("out", &o.out),
        CLI_OPT("metrics", CLI_LIST, &o.metrics), CLI_OPT("methods", CLI_LIST, &o.methods),
        INT("limit", &o.limit, 0, 1e12),
        INT("rerun-limit", &o.rerun_limit, 0, 1e12), INT("batch", &o.batch, 1, 65536),
        INT("seed", &o.seed, 0, 9007199254740991.0), INT("bootstrap", &o.boot, 1, 65535),
        DBL("level", &o.level, 0.5, 0.999), INT("paired", &o.paired, 0, 1),
        INT("block", &o.block, 1, 4096), CLI_OPT("ground-truth", CLI_STRING, &o.gt),
        DBL("pointing_game.tolerance", &o.tol, 0, 1e6),
        INT("pointing_game.tie_aware", &o.tie, 0, 1), INT("relevance_mass.abs", &o.mabs, 0, 1),
        INT("relevance_rank.abs", &o.rabs, 0, 1), INT("top_k_intersection.k", &o.topk, 0, 1e9),
        INT("top_k_intersection.abs", &o.kabs, 0, 1),
        INT("top_k_intersection.concept_influence", &o.concept, 0, 1),
        INT("localisation_auc.abs", &o.aabs, 0, 1), INT("deletion.steps", &o.dsteps, 0, 1e6),
        INT("deletion.step", &o.dstep, 0, 1e9),
        CLI_OPT("deletion.substrate", CLI_STRING, &o.substrate),
        CLI_OPT("deletion.output", CLI_STRING, &o.outputs[0]),
        INT("insertion.steps", &o.isteps, 0, 1e6), INT("insertion.step", &o.istep, 0, 1e9),
        INT("insertion.blur_radius", &o.radius, 0, 64),
        DBL("insertion.blur_sigma", &o.sigma, 0, 1e3),
        CLI_OPT("insertion.output", CLI_STRING, &o.outputs[1]),
        INT("faithfulness_correlation.runs", &o.fruns, 2, 1e6),
        INT("faithfulness_correlation.subset", &o.fsub, 1, 1e9),
        CLI_OPT("faithfulness_correlation.output", CLI_STRING, &o.outputs[2]),
        INT("infidelity.samples", &o.isamp, 1, 1e6), DBL("infidelity.sigma", &o.isigma, 0, 1e3),
        INT("infidelity.normalize", &o.inorm, 0, 1),
        CLI_OPT("infidelity.output", CLI_STRING, &o.outputs[3]),
        INT("sensitivity.samples", &o.ssamp, 1, 65535),
        DBL("sensitivity.radius", &o.sradius, 0, 1e3),
        CLI_OPT("sanity_check.mode", CLI_STRING, &o.sanity_mode),
        CLI_OPT("sanity_check.layers", CLI_LIST, &o.layers),
        CLI_OPT("sanity_check.init", CLI_STRING, &o.init),
        IN("reference-saliency", &o.reference),
        DBL("map_stability.top_fraction", &o.sfrac, 1e-9, 1), INT("map_stability.abs", &o.sabs, 0, 1),
        CLI_OPT("shard", CLI_SHARD, &o.shard),
        {.name = "merge", .kind = CLI_FLAG, .value = &o.merge, .flags = CLI_NOT_PARAM},
        CLI_END};
    cli_init("score", score_usage);
    int first_part = cli_parse(opts, argc, argv), n_parts = argc - first_part;
    if (!o.merge && n_parts) cli_usage_error("unexpected argument '%s'", argv[first_part]);
    if (o.merge && n_parts == 0) cli_usage_error("--merge needs the parts, after every option");
    if (o.merge && o.shard.n > 1) cli_usage_error("--merge writes the whole run: no --shard");
    for (int i = first_part; i < argc; i++)
        if (strncmp(argv[i], "--", 2) == 0)
            cli_usage_error("cannot use '%s' after the parts: options go before --merge's parts",
                            argv[i]);
    cli_set_output(o.out);
    if (!o.model || !o.examples || !o.saliency || !o.out)
        cli_usage_error("--model, --examples, --saliency and --out are required");
    struct score_config c;
    score_config_init(&c);
    int attr = 0;
    for (int i = 0; i < o.metrics.n; i++) {
        int k = score_metric_from_name(o.metrics.items[i]);
        attr |= k >= 0 && (score_metric_info(k)->needs & SCORE_NEEDS_METHOD);
    }
    struct model m;
    model_init(&m);
    uint64_t mhash;
    if (model_load(&m, o.model, (int)o.batch, attr ? 0 : NET_NO_GRAD) ||
        h5table_content_hash_path(o.model, &mhash))
        cli_fail();
    struct score_data d;
    score_data_init(&d);
    if (score_data_open(&d, o.examples, o.saliency, o.model, mhash, m.n_classes,
                        (const char(*)[64])m.class_names, m.channels, m.height, m.width,
                        o.predictions) ||
        (o.methods.n && score_data_select(&d, o.methods.items, o.methods.n)))
        cli_fail();
    score_data_limit(&d, (size_t)o.limit, (size_t)o.rerun_limit);
    if (o.reference && score_data_open_reference(&d, o.reference, o.model)) cli_fail();
    if (o.shard.n > 1) score_data_shard(&d, o.shard.k, o.shard.n);
    size_t missing = score_data_ref_missing(&d);
    if (missing)
        fprintf(stderr, "score: %zu of %zu trials have no trial in '%s' (map_stability NaN)\n",
                missing, d.T, o.reference);
    to_config(&c, &o, &m, d.n_obj);
    if (score_config_resolve(&c, d.H, d.W)) cli_fail();
    struct h5table_file *out = h5table_create(o.out);
    if (!out) cli_fail();
    struct score_results r;
    char *params = cli_params_json(), *resolved = score_config_json(&c);
    struct h5table_input in[5] = {{"model", o.model, &mhash},
                                  {"examples", o.examples, &d.examples_hash},
                                  {"saliency", o.saliency, &d.saliency_hash}};
    uint64_t hashes[5];
    int nin = 3;
    if (o.predictions) in[nin++] = (struct h5table_input){"predictions", o.predictions, NULL};
    if (o.reference) in[nin++] = (struct h5table_input){"reference_saliency", o.reference, NULL};
    struct score_parts parts = {0};
    if (o.merge && open_parts(&parts, (const char *const *)argv + first_part, n_parts, &o, &d,
                              in, nin, hashes)) {
        h5table_abort(out);
        cli_fail();
    }
    int rc = score_run(&r, &c, &m, &d, o.merge ? &parts : NULL, out);
    score_parts_close(&parts);
    if (!rc) score_summarise(&r, &c);
    rc = rc || score_write_tables(&r, &c, &d, out) ||
         h5table_write_provenance(out, "score", params, in, nin) ||
         h5table_attr_set_str(out, "/", "metric_params", resolved) ||
         score_data_write_chain(&d, out, o.reference ? (int64_t)missing : -1);
    free(params), free(resolved);
    if (rc) {
        h5table_abort(out);
        cli_fail();
    }
    if (h5table_commit(out)) cli_fail();
    score_print_summary(&r, &c);
    score_results_release(&r);
    score_data_release(&d);
    model_release(&m);
    return cli_exit(0);
}
