#!/usr/bin/python3
"""Writes tests/ref/convert_fixture.h5: a small PyTorch model converted by
data/models/convert_torch.py (residual add, grouped conv, concat, ceil-mode max pool, average
pool, a ReLU module called twice, functional relu/flatten/adaptive pooling, dropout, softmax
head), plus the datasets `test_input` [2, 3, 12, 10] and `test_output` [2, 5] (PyTorch's
eval-mode softmax output), which the model loader ignores (no '.' in their names).
tests/test_model.c loads the file and checks the C engine reproduces test_output.

    /usr/bin/python3 tests/ref/make_convert_fixture.py
Only needed when the converter or the format changes; the output is committed.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "data", "models"))
import convert_torch  # noqa: E402


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(8, 8, (3, 1), padding=(1, 0), groups=4)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(16, 5)
        self.head = nn.Softmax(dim=1)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(x))
        x = self.relu(x + y)
        x = self.pool(x)
        x = torch.cat([x, self.avg(x)], dim=1)
        x = F.adaptive_avg_pool2d(F.relu(x), 1)
        x = torch.flatten(self.drop(x), 1)
        return self.head(self.fc(x))


torch.manual_seed(5)
m = Small()
with torch.no_grad():  # non-trivial batch-norm statistics
    for bn in (m.bn1, m.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
m.eval()
x = torch.randn(2, 3, 12, 10)
with torch.no_grad():
    y = m(x)
out = os.path.join(here, "convert_fixture.h5")
convert_torch.convert(m, out, (3, 12, 10), [0.5, 0.4, 0.3], [0.2, 0.25, 0.3],
                      ["a", "b", "c", "d", "e"])
with h5py.File(out, "a") as f:
    f.create_dataset("test_input", data=x.numpy().astype(np.float32), track_times=False)
    f.create_dataset("test_output", data=y.numpy().astype(np.float32), track_times=False)
print("wrote", out)
