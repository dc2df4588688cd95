/* Optimisers and the learning-rate schedule for bin/train (and ROAR retraining): SGD with
 * momentum (optionally Nesterov), Adam and AdamW with PyTorch's exact update rules, weight
 * decay, and a cosine schedule with linear warm-up. Element-wise updates: deterministic at any
 * thread count. Optimiser state lives in the net's parameter arena (net_build flags
 * NET_OPT_STATE1 for SGD momentum, NET_OPT_STATE2 for Adam), so checkpoints save it with the
 * weights. Not here: losses (loss.h), the training loop (trainer.h). */
#ifndef SALBENCH_OPTIM_H
#define SALBENCH_OPTIM_H

#include <stddef.h>
#include <stdint.h>

struct net;

enum optim_kind {
    OPTIM_SGD = 0, /* torch.optim.SGD(momentum, dampening=0, nesterov, weight_decay) */
    OPTIM_ADAM,    /* torch.optim.Adam: weight decay as L2 added to the gradient */
    OPTIM_ADAMW,   /* torch.optim.AdamW: decoupled weight decay p -= lr * wd * p */
};

struct optim_config {
    enum optim_kind kind;
    double momentum;     /* SGD; 0 = plain SGD */
    int nesterov;        /* SGD */
    double beta1, beta2; /* Adam(W): 0.9, 0.999 */
    double eps;          /* Adam(W): 1e-8 */
    double weight_decay; /* 0 = none */
    int decay_all;       /* 0: decay only weights with ndim >= 2 (conv, linear), never biases
                            or batch-norm affine parameters (the usual recipe); 1: every
                            trainable tensor, as PyTorch does when given all parameters */
};

/* PyTorch defaults for a kind: momentum 0.9 for SGD, betas (0.9, 0.999), eps 1e-8, no decay. */
void optim_config_init(struct optim_config *c, enum optim_kind kind);

/* net_build flags the kind needs (NET_OPT_STATE1 or NET_OPT_STATE2). */
unsigned optim_net_flags(enum optim_kind kind);

/* "sgd", "adam", "adamw" and back (-1 for an unknown name, no err_set). */
const char *optim_kind_name(enum optim_kind kind);
int optim_kind_from_name(const char *name);

/* One update of one tensor of n elements, in place. state0/state1: SGD momentum buffer
 * (state0, unused when momentum == 0) or Adam m and v; zero before the first step. step is the
 * 1-based number of this update (Adam's bias correction). decay: apply weight decay to this
 * tensor. Elementwise, OpenMP over elements. */
void optim_update(float *param, float *state0, float *state1, const float *grad, size_t n,
                  const struct optim_config *c, double lr, uint64_t step, int decay);

/* Updates every trainable parameter of net from its gradient (net_param_at(i)->grad) with its
 * optimiser state. Returns -1 (err_set) when the net lacks the state buffers the kind needs. */
int optim_step(struct net *net, const struct optim_config *c, double lr, uint64_t step);

/* Learning rate at 0-based step s of `total` steps: linear warm-up over the first `warmup`
 * steps, lr * (s + 1) / warmup, then cosine annealing from lr to min_lr over the rest,
 *   min_lr + (lr - min_lr) * (1 + cos(pi * (s - warmup) / (total - warmup))) / 2
 * (SGDR, Loshchilov & Hutter 2017; torch CosineAnnealingLR's closed form). Constant lr when
 * cosine is 0 (warm-up still applies). Steps at or past total give min_lr (cosine) or lr. */
double optim_lr_at(double lr, double min_lr, uint64_t s, uint64_t warmup, uint64_t total,
                   int cosine);

#endif
