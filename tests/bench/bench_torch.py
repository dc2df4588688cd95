#!/usr/bin/python3
"""The PyTorch side of `make bench`: the same models and tasks as bench_engine.c, timed the
same way (median of repeats, each repeat looping for a minimum time), printed as RESULT lines.

Setup (documented in the RESULT line's config): torch.set_num_threads(THREADS, default 2), channels_last
memory format (oneDNN's preferred layout on CPU), float32. Debian's torch does its convolutions
with oneDNN (MKL-DNN) and its matrix products with the system BLAS (OpenBLAS when
libopenblas0-pthread is installed; run with OPENBLAS_NUM_THREADS=1 so OpenBLAS does not spawn
threads of its own on top of torch's).

    bench_torch.py [--model default|compact|vgg11|all] [--batch B] [--repeats R]
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn as nn


def blocks(channels):
    layers, c = [], 3
    for b, o in enumerate(channels):
        layers += [nn.Conv2d(c, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
        if b < 3:
            layers.append(nn.MaxPool2d(2))
        c = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    return nn.Sequential(*layers), (3, 64, 64)


def compact():
    return blocks([32, 64, 128, 128])


def default():
    """The shipped default model's architecture (32-64-128-256), random weights."""
    return blocks([32, 64, 128, 256])


def vgg11():
    layers, c = [], 3
    for o in [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]:
        if o == 0:
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, o, 3, padding=1), nn.ReLU()]
            c = o
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers), (3, 224, 224)


def conv_flops(model, shape):
    """Forward conv FLOPs per image (multiply-add = 2), by a shape pass with hooks."""
    total = [0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total[0] += 2 * out.numel() * k

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(torch.zeros((1,) + shape))
    for h in hs:
        h.remove()
    return total[0]


def make_task(model, task, x):
    out_seed = None

    def forward():
        with torch.no_grad():
            model(x)

    def train_step():
        nonlocal out_seed
        model.zero_grad(set_to_none=True)
        out = model(x)
        if out_seed is None:
            out_seed = 1e-3 * (torch.arange(out.numel()) % 11).float().reshape(out.shape)
        out.backward(out_seed)

    def saliency_step():
        nonlocal out_seed
        xi = x.detach().requires_grad_(True)
        out = model(xi)
        if out_seed is None:
            out_seed = 1e-3 * (torch.arange(out.numel()) % 11).float().reshape(out.shape)
        out.backward(out_seed)

    if task == "forward":
        model.eval()
        return forward
    if task == "train_step":
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)
        return train_step
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return saliency_step


def bench(name, builder, batch, repeats, min_seconds):
    torch.manual_seed(0)
    model, shape = builder()
    model = model.to(memory_format=torch.channels_last)
    flops = conv_flops(model, shape)
    x = torch.randn((batch,) + shape).contiguous(memory_format=torch.channels_last)
    for task in ["forward", "train_step", "saliency_step"]:
        fn = make_task(model, task, x)
        fn()
        times = []
        for _ in range(repeats):
            iters, t0 = 0, time.perf_counter()
            while True:
                fn()
                iters += 1
                el = time.perf_counter() - t0
                if el >= min_seconds:
                    break
            times.append(el / iters)
        med = statistics.median(times)
        mult = {"forward": 1, "train_step": 3, "saliency_step": 2}[task]
        print("RESULT engine=torch model=%s task=%s batch=%d images_per_s=%.2f ms_per_batch=%.3f"
              " conv_gflops=%.1f best_images_per_s=%.2f"
              % (name, task, batch, batch / med, 1e3 * med, mult * flops * batch / med / 1e9,
                 batch / min(times)), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="all")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)  # the same count as the C engine (run.sh sets both)
    print("# torch %s threads %d mkldnn %s" % (torch.__version__, torch.get_num_threads(),
                                             torch.backends.mkldnn.is_available()), flush=True)
    for name, builder, batch, secs in [("default", default, 1, 0.2), ("default", default, 64, 0.5),
                                       ("compact", compact, 1, 0.2), ("compact", compact, 64, 0.5),
                                       ("vgg11", vgg11, 1, 0.5), ("vgg11", vgg11, 8, 0.5)]:
        if a.model in ("all", name) and a.batch in (0, batch):
            bench(name, builder, batch, a.repeats, secs)


if __name__ == "__main__":
    main()
