"""The hand-written counterpart of a 2-epoch ``aiforge run`` on digits: the start-up yardstick.

    python benchmarks/startup_hand_loop.py [--epochs 2]

What a PyTorch user writes for the bundled default experiment (benchmarks/startup.py times it in
a fresh process): scikit-learn's digits, a seeded 80/20 split, standardisation fitted on the
training rows, the same MLP (64 -> 128 -> 10, ReLU, dropout 0.2), Adam (lr 0.002), batches of 64,
and a validation pass with accuracy after each epoch. No files, no tracking, no report: the
fixed cost every run pays (Python, torch, scikit-learn, torch.optim's first step) plus training.
"""

from __future__ import annotations

import argparse
import time

import torch
from sklearn.datasets import load_digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    torch.manual_seed(42)
    features, labels = load_digits(return_X_y=True)
    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(42))
    cut = int(len(x) * 0.8)
    train, val = order[:cut], order[cut:]
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
    x = (x - mean) / std
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(128, 10)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    loss_fn = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        for batch in train[torch.randperm(len(train))].split(64):
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x[val]).argmax(1) == y[val]).float().mean().item()
        print(f"epoch {epoch + 1}: val accuracy {accuracy:.3f}")
    print(f"training {time.perf_counter() - started:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
