#!/usr/bin/env python3
"""PyTorch reference MDN for ngem's benchmark driver (bench/run.mjs).

Reads a JSON job on stdin: {spec, weights{name: {shape, data}}, batch{n, x, y},
variants, steps, threads, lr}. Builds the same architecture as ngem
(Linear -> LayerNorm(eps 1e-5) -> exact GELU / tanh / relu, head
[logits K | mu K*D | logSigma K*D], weights stored [in, out]), and for each
variant:
  - one forward/backward from the given weights: loss and parameter gradients
    (the numeric cross-check);
  - Adam steps on the same batch, timed like ngem's benchmarks (alternating
    windows of 5 NLL / nGEM steps, warm-up 20, >= 50 steps and `seconds`):
    median / p90 step time and the stall figure, and the median CPU time per step
    (time.process_time: every torch thread of the process).
Also reports which BLAS library the process mapped (libblas.so.3 is the slow
reference BLAS unless libopenblas0-pthread is installed).
The head gradient of each variant is a custom autograd Function whose forward
is the mean NLL and whose backward returns the variant's output gradient
(method.md), so the trunk's backward is ordinary autograd - as in ngem.

Run with Debian's torch: /usr/bin/python3 bench/torch_mdn.py < job.json
"""
import json
import math
import os
import sys
import time

import torch

torch.set_default_dtype(torch.float32)


class MixtureHead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, mu, log_sigma, y, variant, fisher_coords, pi_floor):
        # logits [N,K], mu/log_sigma [N,K,D], y [N,D]
        n, k, d = mu.shape
        log_pi = torch.log_softmax(logits, dim=1)
        inv_sigma = torch.exp(-log_sigma)
        diff = y[:, None, :] - mu
        z = diff * inv_sigma
        z2 = z * z
        log_n = -0.5 * z2.sum(2) - log_sigma.sum(2) - d * 0.5 * math.log(2 * math.pi)
        l = log_pi + log_n
        lse = torch.logsumexp(l, dim=1)
        rho = torch.exp(l - lse[:, None])
        pi = torch.exp(log_pi)
        if variant in ("nll", "em"):
            g_a = pi * rho.sum(1, keepdim=True) - rho
            g_mu = -rho[:, :, None] * z * inv_sigma
            g_s = -rho[:, :, None] * (z2 - 1)
        else:
            full = variant == "ngem-full"
            w = rho / torch.clamp(pi, min=pi_floor) if full else rho
            if full:
                g = 1 - w
                g_a = g - g.mean(1, keepdim=True)
            else:
                g_a = pi * rho.sum(1, keepdim=True) - rho
            g_mu = -w[:, :, None] * diff
            if fisher_coords == "sigma":
                g_s = -0.5 * w[:, :, None] * (diff * diff - torch.exp(2 * log_sigma))
            else:
                g_s = -0.5 * w[:, :, None] * (z2 - 1)
        ctx.save_for_backward(g_a / n, g_mu / n, g_s / n)
        return -lse.mean()

    @staticmethod
    def backward(ctx, grad_out):
        g_a, g_mu, g_s = ctx.saved_tensors
        return grad_out * g_a, grad_out * g_mu, grad_out * g_s, None, None, None, None


class Mdn(torch.nn.Module):
    def __init__(self, spec, weights):
        super().__init__()
        self.spec = spec
        self.params = torch.nn.ParameterDict()
        for name, t in weights.items():
            self.params[name.replace(".", "__")] = torch.nn.Parameter(torch.tensor(t["data"], dtype=torch.float32).reshape(t["shape"]))
        act = spec["activation"]
        self.act = {"gelu": torch.nn.functional.gelu, "tanh": torch.tanh, "relu": torch.relu}[act]

    def p(self, name):
        return self.params[name.replace(".", "__")]

    def forward(self, x):
        spec = self.spec
        h = x
        for i, width in enumerate(spec["hidden"]):
            h = h @ self.p(f"trunk.{i}.weight") + self.p(f"trunk.{i}.bias")
            if spec["layerNorm"]:
                h = torch.nn.functional.layer_norm(h, (width,), self.p(f"trunk.{i}.ln.gamma"), self.p(f"trunk.{i}.ln.beta"), 1e-5)
            h = self.act(h)
        out = h @ self.p("head.weight") + self.p("head.bias")
        k, d = spec["k"], spec["d"]
        n = out.shape[0]
        return out[:, :k], out[:, k : k + k * d].reshape(n, k, d), out[:, k + k * d :].reshape(n, k, d)


def blas_in_use():
    """Which BLAS library this process has mapped (libblas.so.3 is an alternative: reference BLAS or OpenBLAS)."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if any(k in path for k in ("blas", "mkl", "lapack")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    names = sorted(os.path.basename(p) for p in libs)
    kind = "OpenBLAS" if any("openblas" in p for p in libs) else "MKL" if any("mkl" in p for p in libs) else "reference BLAS" if libs else "unknown"
    return {"kind": kind, "libraries": names}


def quantile(xs, q):
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(times, warmup):
    after = times[warmup:]
    first = times[:10]
    first_mean = sum(first) / len(first)
    return {
        "steps": len(times),
        "medianMs": quantile(after, 0.5),
        "p90Ms": quantile(after, 0.9),
        "stall": first_mean / quantile(times[19:49], 0.5),
        "stepsPerSec": 1000.0 / quantile(after, 0.5),
    }


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(int(job.get("threads", 1)))
    spec = job["spec"]
    b = job["batch"]
    n = b["n"]
    x = torch.tensor(b["x"], dtype=torch.float32).reshape(n, spec["inputDim"])
    y = torch.tensor(b["y"], dtype=torch.float32).reshape(n, spec["d"])
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "variants": {}}
    steppers = {}
    for variant in job["variants"]:
        model = Mdn(spec, job["weights"])
        logits, mu, log_sigma = model(x)
        loss = MixtureHead.apply(logits, mu, log_sigma, y, variant, "log-sigma", 1e-2)
        loss.backward()
        grads = {name.replace("__", "."): p.grad.reshape(-1).tolist() for name, p in model.params.items()}
        result["variants"][variant] = {"loss": float(loss), "grads": grads}
        opt = torch.optim.Adam(model.parameters(), lr=float(job.get("lr", 1e-3)))

        def one(model=model, opt=opt, variant=variant):
            opt.zero_grad(set_to_none=True)
            lo, m, s = model(x)
            MixtureHead.apply(lo, m, s, y, variant, "log-sigma", 1e-2).backward()
            opt.step()

        steppers[variant] = one
    # the same method as ngem's benchmarks (packages/kernels-wasm/src/steady.ts): fresh models,
    # alternating windows of 5 steps per variant, every step timed, warm-up 20, >= 50 steps each
    seconds = float(job.get("seconds", 0))
    if seconds > 0:
        warmup, window, min_steps = 20, 5, 50
        times = {v: [] for v in steppers}
        cpu = {v: [] for v in steppers}  # process CPU time per step (all of torch's threads), ms
        t0 = time.perf_counter()
        while not (all(len(t) >= min_steps for t in times.values()) and time.perf_counter() - t0 >= seconds):
            for v, one in steppers.items():
                for _ in range(window):
                    c0 = time.process_time()
                    s0 = time.perf_counter()
                    one()
                    times[v].append((time.perf_counter() - s0) * 1000)
                    cpu[v].append((time.process_time() - c0) * 1000)
        for v in steppers:
            result["variants"][v].update(summarize(times[v], warmup))
            result["variants"][v]["cpuMs"] = quantile(cpu[v][warmup:], 0.5)
    result["blas"] = blas_in_use()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
