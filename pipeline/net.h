/* The graph executor: a CNN built from an ordered list of layer specs, run forward and backward
 * in batches on two arenas (parameters, activations) sized once at build. Pure computation: no
 * I/O, no JSON. formats/model fills the specs from the architecture JSON below and copies the
 * weights into the tensors net_param_find() returns; stages and saliency methods then call
 * net_forward / net_backward and read any layer's activation or gradient by name.
 *
 * ARCHITECTURE JSON (the model file's "architecture" attribute; formats/model parses it):
 *   {"format": "salbench-net", "version": 1, "layers": [
 *     {"kind": "input", "name": "input", "channels": 3, "height": 64, "width": 64},
 *     {"kind": "conv2d", "name": "conv1", "out_channels": 32, "kernel_size": 3, "stride": 1,
 *      "padding": 1, "groups": 1, "bias": false},
 *     {"kind": "batchnorm2d", "name": "bn1", "eps": 1e-5, "momentum": 0.1},
 *     {"kind": "relu", "name": "relu1"},
 *     {"kind": "maxpool2d", "name": "pool1", "kernel_size": 2, "stride": 2, "padding": 0,
 *      "ceil_mode": true},
 *     {"kind": "add", "name": "res1", "inputs": ["pool1", "bn2"]},
 *     {"kind": "global_avgpool", "name": "gap"}, {"kind": "flatten", "name": "flat"},
 *     {"kind": "linear", "name": "fc", "out_features": 10, "bias": true},
 *     {"kind": "sigmoid", "name": "probs"} ]}
 * - Layers are in execution order; the first is the single "input" layer. "inputs" lists
 *   earlier layer names; omitted means the previous layer (add takes exactly 2, concat 2..4
 *   along channels). Names are unique, [A-Za-z0-9_.-], < NET_NAME_MAX bytes.
 * - kernel_size, stride, padding are an integer or [h, w]. Keys and defaults follow PyTorch:
 *   conv2d: out_channels (required), kernel_size (required), stride 1, padding 0, groups 1,
 *     bias true, in_channels (optional, checked); dilation must be absent or 1.
 *   batchnorm2d: eps 1e-5, momentum 0.1, num_features (optional, checked).
 *   maxpool2d / avgpool2d: kernel_size (required), stride = kernel_size, padding 0, ceil_mode
 *     false; avgpool2d also count_include_pad true.
 *   linear: out_features (required), bias true, in_features (optional, checked); the input
 *     may be [C,H,W] (treated as flattened, as after "flatten").
 *   dropout: p 0.5.  softmax: over channels (PyTorch dim=1); "dim" absent or 1.
 *   global_avgpool (AdaptiveAvgPool2d(1)), flatten, relu, sigmoid, add, concat: no keys.
 * - Weights are datasets named as PyTorch's state_dict: "<layer>.weight", "<layer>.bias",
 *   "<layer>.running_mean", "<layer>.running_var" (num_batches_tracked is not used).
 *   Conv weight [O, C/groups, KH, KW]; linear [O, C]; batch norm vectors [C].
 * - The "logits" are the output of the last layer that is not softmax/sigmoid; a trailing
 *   softmax/sigmoid layer is the output head (probabilities).
 *
 * MEMORY: net_build allocates everything (parameters, their gradients and optional optimiser
 * state in one arena; every layer's output, its gradient and kernel scratch for max_batch
 * examples in another). forward/backward never allocate. Tensors returned by accessors point
 * into the arenas: valid until net_free, shapes as NCHW (see pipeline/tensor.h).
 *
 * THREADS: kernels use OpenMP with up to omp_get_max_threads() threads as of net_build (scratch
 * is sized for them); results are bitwise identical for any thread count. Not reentrant: one
 * net is used by one caller at a time (build one net per concurrent user).
 *
 * ERRORS: functions returning int give 0 or -1 after err_set() ("cannot build net: layer
 * 'conv2' input 'x': no such layer"). Programmer errors (bad layer index, n > max_batch)
 * abort via SB_ASSERT. */
#ifndef SALBENCH_NET_H
#define SALBENCH_NET_H

#include <stdint.h>

#include "pipeline/tensor.h"

#define NET_NAME_MAX 64
#define NET_PARAM_NAME_MAX (NET_NAME_MAX + 16)
#define NET_MAX_INPUTS 4

enum net_kind {
    NET_INPUT = 0,
    NET_CONV2D,
    NET_BATCHNORM,
    NET_RELU,
    NET_MAXPOOL,
    NET_AVGPOOL,
    NET_GLOBAL_AVGPOOL,
    NET_LINEAR,
    NET_FLATTEN,
    NET_DROPOUT,
    NET_ADD,
    NET_CONCAT,
    NET_SOFTMAX,
    NET_SIGMOID,
    NET_KIND_COUNT
};

/* JSON kind name ("conv2d", "batchnorm2d", "maxpool2d", "avgpool2d", "global_avgpool", ...)
 * and back; net_kind_from_name returns -1 (no err_set) for an unknown name. */
const char *net_kind_name(enum net_kind kind);
int net_kind_from_name(const char *name);

/* One layer's description. Fill with net_layer_spec_init (PyTorch defaults), then set fields.
 * Fields a kind does not use are ignored. */
struct net_layer_spec {
    enum net_kind kind;
    char name[NET_NAME_MAX];
    int n_inputs;                             /* 0: the previous layer */
    char inputs[NET_MAX_INPUTS][NET_NAME_MAX];
    int channels, height, width;              /* input: the example shape */
    int in_channels;                          /* conv2d/batchnorm2d/linear: 0 = not checked */
    int out_channels;                         /* conv2d out_channels, linear out_features */
    int kernel[2], stride[2], padding[2];     /* [h, w]: conv2d, pools */
    int groups;                               /* conv2d */
    int bias;                                 /* conv2d, linear: 1 = has a bias */
    int ceil_mode, count_include_pad;         /* pools */
    float eps, momentum;                      /* batchnorm2d */
    float p;                                  /* dropout probability of zeroing */
};

/* Zeroes *spec, copies kind and name (truncated to NET_NAME_MAX-1), sets PyTorch defaults:
 * stride 1 (pools: 0 = same as kernel, resolved at build), groups 1, bias 1,
 * count_include_pad 1, eps 1e-5, momentum 0.1, p 0.5. */
void net_layer_spec_init(struct net_layer_spec *spec, enum net_kind kind, const char *name);

/* net_build flags. */
enum {
    NET_NO_GRAD = 1 << 0,     /* inference only: no gradient buffers; net_backward fails */
    NET_OPT_STATE1 = 1 << 1,  /* one optimiser state buffer per trainable tensor (momentum) */
    NET_OPT_STATE2 = 1 << 2,  /* two (Adam m and v); implies NET_OPT_STATE1 */
    /* activation gradients only (saliency, attacks): no parameter-gradient buffers; saves
     * about twice the weights' size; net_backward with NET_GRAD_PARAMS fails */
    NET_NO_PARAM_GRAD = 1 << 3,
};

struct net;

/* Validates the spec (names, inputs, shapes, hyper-parameters), infers every shape, allocates
 * both arenas for up to max_batch examples. Parameters start at zero (fill them with
 * net_param_find). *out is NULL on failure. */
int net_build(struct net **out, const struct net_layer_spec *spec, int n_layers, int max_batch,
              unsigned flags);
void net_free(struct net *net); /* accepts NULL */

enum net_mode {
    NET_EVAL = 0,  /* batch norm uses running stats, dropout is the identity */
    NET_TRAIN = 1, /* batch norm uses batch stats and updates running stats; dropout masks */
};

/* Training-mode randomness. Dropout keeps element i of example b in layer L at step s iff a
 * Philox draw keyed by (seed, keys[b], RNG_DROPOUT, L, s, i) says so: masks do not depend on the
 * batch composition or order. keys NULL: the example's index in the batch. */
struct net_train_ctx {
    uint64_t seed;
    uint32_t step;
    const uint64_t *keys; /* n example keys (e.g. example_id), borrowed for the call */
};

/* Runs all layers on n <= max_batch examples. input: n*C*H*W floats, NCHW, copied into the
 * input layer's buffer; NULL means the caller already wrote net_act(net, 0).data. ctx may be
 * NULL (seed 0, step 0, keys = batch index). Returns -1 only on a non-finite batch-norm state. */
int net_forward(struct net *net, const float *input, int n, enum net_mode mode,
                const struct net_train_ctx *ctx);

/* Runs layers first..last (inclusive) only, reading earlier layers' outputs as they are in the
 * arena: forward up to a layer, or edit an intermediate activation and forward from there.
 * Layer 0 (input) is a no-op. n must equal the n used to fill the earlier layers. */
int net_forward_range(struct net *net, int first, int last, int n, enum net_mode mode,
                      const struct net_train_ctx *ctx);

/* After an eval-mode forward of the distinct rows, makes row r (0 <= r < n) of every layer's
 * output a copy of row src[r], as if the n rows had been forwarded: several trials of one image
 * share its forward and then backward with their own seeds. src is nondecreasing with
 * src[r] <= r (rows are expanded in place, last first). Bitwise what a forward of the n rows
 * gives, since no eval-mode layer couples the rows of a batch. */
void net_expand_rows(struct net *net, const int *src, int n);

/* Backward rules, chosen per layer kind for one net_backward call (the saliency seam). */
enum net_rule {
    NET_RULE_PLAIN = 0, /* the true gradient */
    /* ReLU only: TorchRay guided backprop, g_in = max(g_out, 0) * [x >= 0] (x == 0 passes) */
    NET_RULE_GUIDED,
    /* ReLU only: TorchRay deconvnet, g_in = max(g_out, 0), ignoring the forward sign */
    NET_RULE_DECONVNET,
    /* any kind: the layer's backward is rules->custom (e.g. excitation backprop) */
    NET_RULE_CUSTOM,
};

struct net;
/* A custom backward for one layer: read net_grad(net, layer) (the signal at its output) and the
 * activations of it and its inputs (net_layer_inputs, net_act), and ADD (+=) the signal for
 * each input into net_grad(net, input) (cleared before the first contribution). n is the
 * batch; the callback runs once per call for the whole batch, on the calling thread (it may
 * use OpenMP itself). Return 0, or -1 after err_set (net_backward then fails). */
typedef int (*net_backward_fn)(void *user, struct net *net, int layer, int n);

struct net_rules {
    enum net_rule rule[NET_KIND_COUNT]; /* zero-initialised = plain gradient everywhere */
    net_backward_fn custom;             /* used where rule[kind] == NET_RULE_CUSTOM */
    void *user;
};

/* net_backward flags. */
enum {
    NET_GRAD_PARAMS = 1 << 0, /* accumulate (+=) parameter gradients (training) */
    NET_GRAD_INPUT = 1 << 1,  /* also compute the gradient at the input layer (saliency) */
};

/* Backpropagates from the output of layer `seed_layer` (NULL: the logits layer) down to the
 * output of `stop_layer` (NULL: the input). seed: n * (C*H*W of seed_layer) floats copied into
 * net_grad(seed_layer); NULL means the caller already wrote that buffer. The gradients of the
 * layers from stop_layer up to the seed are cleared, then accumulated, and are complete on
 * return (stop_layer's included; its own backward does not run). Layers after the seed and
 * before stop_layer are not touched (their buffers keep whatever they held). Uses the
 * activations of the last forward (same n; batch norm in train mode: that forward's batch
 * statistics; dropout: its masks). rules NULL = plain. Parameter gradients are accumulated
 * only with NET_GRAD_PARAMS; the input gradient (net_grad(net, 0)) is computed only with
 * NET_GRAD_INPUT (or when the input is stop_layer). */
int net_backward(struct net *net, int n, const char *seed_layer, const float *seed,
                 const char *stop_layer, const struct net_rules *rules, unsigned flags);

/* Layers. Indices run 0 (input) .. net_layer_count-1 in execution order. */
int net_layer_count(const struct net *net);
/* Index of a layer by name; -1 with err_set when there is none. */
int net_layer_index(const struct net *net, const char *name);
const struct net_layer_spec *net_layer_spec_at(const struct net *net, int layer);
/* Fills idx with the layer's input layer indices; returns how many (0 for the input layer). */
int net_layer_inputs(const struct net *net, int layer, int idx[NET_MAX_INPUTS]);
/* Output shape of one example: C, H, W (vectors: H = W = 1). */
void net_layer_shape(const struct net *net, int layer, int *c, int *h, int *w);
/* Output and output gradient, [n, C, H, W] with n of the last forward (before any forward:
 * max_batch). grad.data is NULL with NET_NO_GRAD. */
struct tensor net_act(const struct net *net, int layer);
struct tensor net_grad(const struct net *net, int layer);
/* Forward FLOPs per example (a multiply-add counts 2), for GFLOP/s reports. */
double net_layer_flops(const struct net *net, int layer);
/* The logits layer (last non softmax/sigmoid layer) and the last layer. */
int net_logits_layer(const struct net *net);
int net_output_layer(const struct net *net);
int net_max_batch(const struct net *net);
/* Bytes in the parameter and activation arenas. */
void net_arena_bytes(const struct net *net, size_t *params, size_t *acts);

/* net_build refuses (before allocating) a net whose parameter or activation arena would exceed
 * this many bytes: a corrupt or absurd architecture fails with a message ("cannot build net:
 * activations need 48 GiB for max batch 2, above the 8 GiB limit") instead of taking the
 * machine's memory. net_arena_need gives both arena sizes in bytes without allocating them
 * (saturated at SIZE_MAX; 0 or -1 as net_build, for callers with a smaller budget). */
#define NET_MAX_ARENA_BYTES ((size_t)8 << 30)
int net_arena_need(const struct net_layer_spec *spec, int n_layers, int max_batch,
                   unsigned flags, size_t *params, size_t *acts);

/* Promise (frozen 1) that the weights stay unchanged until the next call with 0: the net then
 * keeps the packed and flipped forms of conv weights it derives, instead of rebuilding them on
 * every forward/backward call (about 10% at batch 1). Writing weights while frozen leaves
 * results computed from the old ones. Both calls drop what was kept. Default: not frozen. */
void net_freeze_weights(struct net *net, int frozen);

/* Parameters, in layer order then weight, bias, running_mean, running_var. */
struct net_param {
    char name[NET_PARAM_NAME_MAX]; /* "<layer>.weight" ... as in PyTorch's state_dict */
    int layer;
    int trainable;        /* 0 for batch-norm running statistics */
    struct tensor value;  /* in the parameter arena; the caller writes the weights here */
    struct tensor grad;   /* same shape; NULL if not trainable, NET_NO_GRAD or
                             NET_NO_PARAM_GRAD */
    float *state[2];      /* optimiser state per NET_OPT_STATE*, zeroed at build, else NULL */
};
int net_param_count(const struct net *net);
struct net_param *net_param_at(struct net *net, int i);
/* NULL with err_set when the net has no parameter of that name. */
struct net_param *net_param_find(struct net *net, const char *name);
/* Clears all parameter gradients. */
void net_zero_grad(struct net *net);

#endif
