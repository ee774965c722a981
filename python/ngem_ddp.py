"""Continue training an ngem checkpoint with PyTorch DistributedDataParallel.

    torchrun --nproc_per_node=4 python/ngem_ddp.py runs/sine/checkpoint.safetensors data.csv \\
        --x-cols x --y-cols y --epochs 10 --lr 1e-3 --out runs/sine/checkpoint-ddp.safetensors

Each process reads the CSV (header row, numeric columns, original units),
standardises it with the checkpoint's normalisation, takes its shard through
DistributedSampler and steps Adam on the nGEM objective (ngem's default;
--objective nll for the plain NLL). Backend gloo (CPU) by default, nccl with
--backend nccl on GPUs. Rank 0 writes the weights back as an ngem checkpoint
(ngem predict / eval / export read it) and prints the NLL before and after.
The machines talk through torchrun's rendezvous (--nnodes, --rdzv-endpoint);
nothing here is ngem-specific beyond the module.
"""

import argparse
import csv
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngem_torch  # noqa: E402


def read_csv(path, x_cols, y_cols):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    try:
        xi = [head.index(c) for c in x_cols]
        yi = [head.index(c) for c in y_cols]
    except ValueError as err:
        raise SystemExit(f"{path}: {err} (columns: {', '.join(head)})")
    x = torch.tensor([[float(r[i]) for i in xi] for r in body], dtype=torch.float64)
    y = torch.tensor([[float(r[i]) for i in yi] for r in body], dtype=torch.float64)
    return x, y


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("data")
    p.add_argument("--x-cols", required=True)
    p.add_argument("--y-cols", required=True)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--objective", choices=["ngem", "nll"], default="ngem")
    p.add_argument("--backend", default="gloo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    dist.init_process_group(a.backend)
    rank = dist.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if a.backend == "nccl" else torch.device("cpu")
    torch.manual_seed(a.seed)
    model = ngem_torch.load_checkpoint(a.checkpoint)
    if not isinstance(model, ngem_torch.NgemMDN):
        raise SystemExit("ngem_ddp.py trains MDNs (a GMM has no inputs to shard; fit it in one process)")
    model.to(device)
    x, y = read_csv(a.data, a.x_cols.split(","), a.y_cols.split(","))
    xs, ys = model.standardize_x(x.to(device)), model.standardize_y(y.to(device))
    ds = TensorDataset(xs, ys)
    sampler = DistributedSampler(ds, shuffle=True, seed=a.seed)
    loader = DataLoader(ds, batch_size=a.batch_size, sampler=sampler)
    ddp = DDP(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=a.lr)
    with torch.no_grad():
        before = float(model.nll(xs, ys))
    for epoch in range(a.epochs):
        sampler.set_epoch(epoch)
        for bx, by in loader:
            opt.zero_grad()
            loss = -model.log_prob_of(*ddp(bx, objective=a.objective), by).mean()
            loss.backward()
            opt.step()
    with torch.no_grad():
        after = float(model.nll(xs, ys))
    if rank == 0:
        ngem_torch.save_checkpoint(model, a.out)
        print(f"world size {dist.get_world_size()}: NLL (standardised units, all rows) {before:.4f} -> {after:.4f}; wrote {a.out}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
