/* Seeded parameter initialisers: PyTorch's default initialisation of Conv2d, Linear and
 * BatchNorm2d, and Kaiming (He et al. 2015) normal/uniform for ReLU networks. Every draw comes
 * from the counter-based RNG keyed by (seed, parameter index, RNG_INIT): the same seed gives the
 * same weights for any thread count, and one layer can be re-drawn alone (sanity checks) with
 * exactly the values a fresh initialisation would give it. Not here: loading weights (model). */
#ifndef SALBENCH_INIT_H
#define SALBENCH_INIT_H

#include <stdint.h>

struct net;
struct net_param;

enum init_scheme {
    /* torch.nn defaults: conv/linear weight and bias ~ U(-b, b), b = 1/sqrt(fan_in) (weights:
     * kaiming_uniform_(a=sqrt(5)), which reduces to that bound); batch norm weight 1, bias 0,
     * running mean 0, running var 1. */
    INIT_PYTORCH = 0,
    /* conv/linear weight ~ N(0, 2/fan_out) (torchvision ResNet: mode="fan_out", ReLU gain),
     * bias 0; batch norm as above. */
    INIT_KAIMING_NORMAL,
    /* conv/linear weight ~ U(-b, b), b = sqrt(6/fan_in) (kaiming_uniform_, ReLU gain), bias 0;
     * batch norm as above. */
    INIT_KAIMING_UNIFORM,
};

/* "pytorch", "kaiming_normal", "kaiming_uniform" and back (-1 when unknown, no err_set). */
const char *init_scheme_name(enum init_scheme s);
int init_scheme_from_name(const char *name);

/* Draws parameter i of net (its index in net_param_at order) with stream
 * (seed, i, RNG_INIT). fan_in = C/groups * KH * KW (linear: in features), fan_out = O * KH * KW,
 * as torch.nn.init._calculate_fan_in_and_fan_out; a bias uses its weight's fan_in. */
void init_param(struct net *net, int i, uint64_t seed, enum init_scheme s);

/* All parameters of one layer (re-drawing a layer for a sanity check), or of the whole net. */
void init_layer(struct net *net, int layer, uint64_t seed, enum init_scheme s);
void init_net(struct net *net, uint64_t seed, enum init_scheme s);

#endif
