/* The training core shared by bin/train and ROAR retraining: one epoch of mini-batch training
 * over in-memory uint8 examples (seeded shuffle, augmentation, normalisation, train-mode
 * forward, loss, backward, optimiser step with the scheduled learning rate) and evaluation
 * (eval-mode logits and loss). Deterministic for a seed: the shuffle of epoch e is keyed by
 * (seed, e, RNG_SHUFFLE), augmentation by (seed, example_id, RNG_AUGMENT, e), dropout by
 * (seed, example_id, step); with the engine's thread-count independence, so is the result.
 * Pure computation: the caller owns the data, the net and the scratch buffer; no I/O. */
#ifndef SALBENCH_TRAINER_H
#define SALBENCH_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/optim.h"

struct net;

enum trainer_loss {
    TRAINER_CE = 0, /* softmax cross-entropy on `labels` (single-label) */
    TRAINER_BCE,    /* BCE with logits on the multi-hot rows (multi-label) */
};

/* Examples in memory, borrowed. Rows are addressed by index in [0, n). */
struct trainer_data {
    size_t n;
    int H, W, C, K;
    const uint8_t *images;    /* [n, H, W, C] */
    const int32_t *labels;    /* [n] in [0, K) for TRAINER_CE (may be NULL for BCE) */
    const uint8_t *multi_hot; /* [n, K] for TRAINER_BCE (may be NULL for CE) */
    const uint64_t *ids;      /* [n] example ids: augmentation and dropout keys */
};

struct trainer_config {
    enum trainer_loss loss;
    int batch;                  /* examples per step (<= the net's max_batch) */
    uint64_t seed;
    struct optim_config optim;
    double lr, min_lr;          /* peak and final learning rate */
    uint64_t warmup_steps, total_steps;
    int cosine;                 /* 1: cosine decay after warm-up; 0: constant */
    int flip, max_shift;        /* augmentation; 0, 0 = none */
    const double *mean, *std;   /* [C] input normalisation (the model's) */
    /* Called after each batch with (examples done, examples total); may be NULL. */
    void (*progress)(void *user, size_t done, size_t total);
    void *progress_user;
};

/* Bytes of scratch trainer_epoch and trainer_evaluate need (8-byte aligned buffer). */
size_t trainer_scratch_bytes(const struct trainer_data *d, int batch);

/* order[i] = rows[j] in the shuffled order of epoch `epoch`: Fisher-Yates driven by the stream
 * (seed, epoch, RNG_SHUFFLE). */
void trainer_shuffle(uint32_t *order, const uint32_t *rows, size_t n, uint64_t seed,
                     uint32_t epoch);

struct trainer_stats {
    double loss;       /* mean of the batch losses */
    size_t examples;   /* examples trained on (full batches only) */
    size_t correct;    /* top-1 hits in train mode (CE: argmax == label; BCE: argmax in set) */
    uint64_t steps;    /* optimiser steps taken */
};

/* One epoch over `rows` (n_rows indices into d) in the order of trainer_shuffle(seed, epoch);
 * the last partial batch is dropped (batch statistics of a tiny batch are noise), so every
 * step sees exactly c->batch examples. *step is the global 0-based step number, advanced by
 * one per batch (the schedule and dropout use it). order: scratch of n_rows uint32. Returns 0,
 * or -1 (err_set) on a non-finite loss or engine failure. */
int trainer_epoch(struct net *net, const struct trainer_data *d, const uint32_t *rows,
                  size_t n_rows, uint32_t epoch, const struct trainer_config *c, uint64_t *step,
                  uint32_t *order, void *scratch, struct trainer_stats *st);

/* Eval-mode forward over rows in the given order, batch by batch: logits [n_rows, K] (may be
 * NULL) and the mean loss per example (*loss, may be NULL). */
int trainer_evaluate(struct net *net, const struct trainer_data *d, const uint32_t *rows,
                     size_t n_rows, const struct trainer_config *c, float *logits, double *loss,
                     void *scratch);

/* 1 when example `id` belongs to the validation split: the first word of Philox at
 * (id, RNG_SPLIT, 0) under key split_seed, as a fraction of 2^32, is below `fraction`. Depends
 * on the id only (not on the training seed), so every retraining sees the same split. */
int trainer_is_validation(uint64_t id, double fraction, uint64_t split_seed);

#endif
