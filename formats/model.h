/* The model file: a CNN classifier in HDF5, and its architecture JSON. One module reads and
 * writes it; the engine (pipeline/net.h) never sees HDF5 or JSON.
 *
 * FILE LAYOUT (MODEL_FORMAT "salbench-model", version 1), all root attributes unless said:
 *   format = "salbench-model", format_version = 1
 *   architecture     the JSON of pipeline/net.h (layers in execution order)
 *   input_channels, input_height, input_width   (int64; must match the "input" layer)
 *   mean, std        float64[channels]: x' = (x / 255 - mean[c]) / std[c] on uint8 pixels
 *   class_names      JSON array of K strings, K = the logits layer's width
 *   output_activation "softmax" (single-label) or "sigmoid" (multi-label); must agree with a
 *                    trailing softmax/sigmoid layer when the architecture has one
 *   stage, salbench_version, params, inputs: provenance (h5table_write_provenance): who made
 *                    the file and with which parameters (training recipe, converter)
 *   one float32 dataset per tensor at the root, named as PyTorch's state_dict ("conv1.weight",
 *   "bn1.running_var"); "*.num_batches_tracked" is tolerated and ignored. Other root objects
 *   whose names have no '.' (e.g. the "history" table, the "checkpoint" group of bin/train)
 *   are not tensors and are ignored here.
 *
 * VALIDATION on load, each a one-line error naming the file and the tensor or layer: missing
 * or malformed architecture JSON, unknown layer kind or key, bad hyper-parameter or shape
 * (net_build), missing tensor, tensor of the wrong dtype (not float32) or shape, NaN/inf
 * weights, unexpected tensor, inconsistent preprocessing attributes.
 *
 * OWNERSHIP: struct model owns its net and specs; model_release frees them. Strings returned
 * by model_arch_format are malloc'd (caller frees). Errors: 0 or -1 after err_set(). */
#ifndef SALBENCH_MODEL_H
#define SALBENCH_MODEL_H

#include <stdint.h>

#include "formats/h5table.h"
#include "pipeline/net.h"

#define MODEL_FORMAT "salbench-model"
#define MODEL_FORMAT_VERSION 1
#define MODEL_MAX_CHANNELS 16
#define MODEL_CLASS_NAME_MAX 64
#define MODEL_MAX_LAYERS 1024

enum model_activation {
    MODEL_SOFTMAX = 0,
    MODEL_SIGMOID = 1,
};

struct model {
    struct net *net;               /* built with weights loaded; NULL before */
    struct net_layer_spec *specs;  /* n_layers specs the net was built from */
    int n_layers;
    int channels, height, width;   /* input shape, from the "input" layer */
    double mean[MODEL_MAX_CHANNELS], std[MODEL_MAX_CHANNELS];
    int n_classes;
    char (*class_names)[MODEL_CLASS_NAME_MAX]; /* n_classes names */
    enum model_activation activation;
};

void model_init(struct model *m);
void model_release(struct model *m); /* frees net, specs and names; m can be re-used */

/* "softmax"/"sigmoid" and back (-1 for anything else, no err_set). */
const char *model_activation_name(enum model_activation a);
int model_activation_from_name(const char *name);

/* ---- architecture JSON --------------------------------------------------------------------- */

/* Parses the architecture JSON (net.h) into *specs (malloc'd, *n entries). `what` names the
 * source in errors (a file path). Checks: JSON syntax (with the position), "format" =
 * "salbench-net" and "version" = 1 when present, known kinds, known keys per kind, integer
 * ranges; net_build checks the rest. */
int model_arch_parse(const char *json, const char *what, struct net_layer_spec **specs, int *n);
/* Reads a JSON file and parses it (model_arch_parse). */
int model_arch_read(const char *path, struct net_layer_spec **specs, int *n);
/* Canonical JSON of specs (every key of each kind written; one layer per line); parses back to
 * the same specs. NULL + err_set on OOM. */
char *model_arch_format(const struct net_layer_spec *specs, int n);

/* ---- building, loading and saving ------------------------------------------------------------ */

/* Builds m->net from specs (copied into m) for up to max_batch examples with net_build flags;
 * sets channels/height/width from the input layer and n_classes from the logits layer; mean 0,
 * std 1, class names "0".."K-1", activation from a trailing head (softmax when none).
 * Weights start at zero. */
int model_build(struct model *m, const struct net_layer_spec *specs, int n, int max_batch,
                unsigned flags);

/* Loads and validates a model file (see above) into m (model_init'ed or released). */
int model_load(struct model *m, const char *path, int max_batch, unsigned flags);
/* The same from an open file (bin/train reads checkpoints this way). */
int model_read(struct model *m, struct h5table_file *f, int max_batch, unsigned flags);

/* Writes format, architecture (canonical JSON), preprocessing attributes and every parameter
 * tensor of m->net into an open, writable file. The caller adds provenance and anything else,
 * then commits. Refuses NaN/inf weights. */
int model_write(struct h5table_file *f, const struct model *m);

/* create + model_write + h5table_write_provenance(stage, params_json, inputs) + commit. */
int model_save(const struct model *m, const char *path, const char *stage,
               const char *params_json, const struct h5table_input *inputs, int ninputs);

#endif
