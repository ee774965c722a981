"""ngem checkpoints as PyTorch modules.

Builds an ``nn.Module`` from an ngem checkpoint (a safetensors file written by
``ngem train`` / ``@ngem/trainer``'s ``save``) and loads its weights, so a
model trained with ngem can be trained further with PyTorch (DDP on many
machines) or served with TorchServe. One file, no dependency but ``torch``
(1.13 or newer); the safetensors file is read directly.

    import ngem_torch
    model = ngem_torch.load_checkpoint("runs/sine/checkpoint.safetensors")
    out = model.predict(x)                 # x [N, inputDim] in original units
    out["pi"], out["mu"], out["sigma"]     # [N, K], [N, K, D], [N, K, D], original y units
    loss = model.nll(model.standardize_x(x), model.standardize_y(y))   # the trainer's loss
    loss = model.nll(xs, ys, objective="ngem")   # same value, nGEM gradients (see below)

The parameter names are the checkpoint's (``trunk.0.weight`` [in, out],
``trunk.0.bias``, ``trunk.0.ln.gamma``, ``trunk.0.ln.beta``, ``head.weight``,
``head.bias``; a GMM: ``gmm.logits``, ``gmm.mu``, ``gmm.logSigma``), so
``model.state_dict()`` and the checkpoint's tensors map one to one and the
weights load with ``strict=True``. The math is core's ``model/mlp.ts`` and
``scale.ts``: Linear -> [LayerNorm, eps 1e-5] -> GELU (exact erf form) | tanh |
relu per hidden layer; head row [logits (K) | mu (K D) | raw scale (S)];
sigma = sigmaMin + f(raw), f = exp | softplus | elu+1; covariance diag (S = KD),
isotropic (S = K) or shared (S = D). The normalisation stored in the
checkpoint is kept as buffers (not parameters, not in the state dict).

``objective="ngem"`` gives the gradients of ngem's default objective (nGEM,
Fisher coordinates "log-sigma"): the loss value is the NLL, and backward
multiplies the mu gradient by sigma^2 and turns the log-sigma gradient into
the natural-gradient step in the raw scale output, A(g_s / 2) / max(s', 1e-3)
(core's ``reduceScaleGrad``). Plain ``objective="nll"`` (the default) is the
ordinary NLL gradient. ``ngem-full`` is not implemented here.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "read_safetensors",
    "load_checkpoint",
    "build_model",
    "save_checkpoint",
    "write_safetensors",
    "NgemMDN",
    "NgemGMM",
    "LAYER_NORM_EPS",
    "SCALE_GRAD_EPS",
]

LAYER_NORM_EPS = 1e-5
SCALE_GRAD_EPS = 1e-3
READABLE_VERSIONS = ("1", "2")
_DTYPES = {"F64": torch.float64, "F32": torch.float32}


def read_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Tensors and ``__metadata__`` of a safetensors file (F64/F32, little-endian)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file size {len(data)}")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors: Dict[str, torch.Tensor] = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: dtype {info['dtype']} is not F64 or F32")
        start, end = info["data_offsets"]
        shape = list(info["shape"])
        count = math.prod(shape) if shape else 1
        if end - start != count * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f"{path}: tensor {name}: {end - start} bytes for shape {shape}")
        if count == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
        else:
            buf = bytearray(data[base + start : base + end])
            tensors[name] = torch.frombuffer(buf, dtype=dtype).reshape(shape)
    return tensors, meta


def _head(spec: dict) -> dict:
    h = spec.get("head") or {}
    return {
        "scale": h.get("scale", "exp"),
        "sigmaMin": float(h.get("sigmaMin", 0.0)),
        "covariance": h.get("covariance", "diag"),
    }


def _scale_width(k: int, d: int, covariance: str) -> int:
    return {"diag": k * d, "isotropic": k, "shared": d}[covariance]


class _NgemScaleGrad(torch.autograd.Function):
    """Identity on log sigma [N,K,D]; backward rescales g_s for nGEM (see the module doc)."""

    @staticmethod
    def forward(ctx, log_sigma, weight):  # type: ignore[override]
        ctx.save_for_backward(weight)
        return log_sigma.view_as(log_sigma)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        return grad * weight, None


class _NgemMuGrad(torch.autograd.Function):
    """Identity on mu; backward multiplies by sigma^2 (the Gaussian Fisher inverse)."""

    @staticmethod
    def forward(ctx, mu, sigma2):  # type: ignore[override]
        ctx.save_for_backward(sigma2)
        return mu.view_as(mu)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (sigma2,) = ctx.saved_tensors
        return grad * sigma2, None


class _MixtureBase(nn.Module):
    """The head math shared by the MDN and the GMM."""

    def __init__(self, spec: dict, normalization: Optional[dict]):
        super().__init__()
        self.spec = dict(spec)
        self.k = int(spec["k"])
        self.d = int(spec["d"])
        h = _head(spec)
        self.scale: str = h["scale"]
        self.sigma_min: float = h["sigmaMin"]
        self.covariance: str = h["covariance"]
        if self.scale not in ("exp", "softplus", "elu+1"):
            raise ValueError(f"spec.head.scale: {self.scale!r} is not exp | softplus | elu+1")
        if self.covariance not in ("diag", "isotropic", "shared"):
            raise ValueError(f"spec.head.covariance: {self.covariance!r} is not diag | isotropic | shared")
        self.s = _scale_width(self.k, self.d, self.covariance)
        norm = normalization or {}
        for side in ("x", "y"):
            n = norm.get(side)
            mean = torch.tensor(n["mean"], dtype=torch.float64) if n else None
            std = torch.tensor(n["std"], dtype=torch.float64) if n else None
            self.register_buffer(f"{side}_mean", mean, persistent=False)
            self.register_buffer(f"{side}_std", std, persistent=False)

    # raw scale r [N, S] -> log sigma [N, K, D] and s' = d log sigma / dr [N, S]
    def _log_sigma(self, r: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        m = self.sigma_min
        if self.scale == "exp":
            if m == 0:
                s, ds = r, torch.ones_like(r)
            else:
                s = torch.logaddexp(r, torch.full_like(r, math.log(m)))
                ds = torch.sigmoid(r - math.log(m))
        else:
            if self.scale == "softplus":
                f, df = F.softplus(r), torch.sigmoid(r)
            else:  # elu+1: r + 1 for r > 0, e^r otherwise (exp of min(r, 0) keeps backward finite)
                e = torch.exp(torch.clamp(r, max=0.0))
                f = torch.where(r > 0, r + 1.0, e)
                df = torch.where(r > 0, torch.ones_like(r), e)
            sigma = f + m
            s, ds = torch.log(sigma), df / sigma
        n = r.shape[0]
        if self.covariance == "diag":
            ls = s.reshape(n, self.k, self.d)
        elif self.covariance == "isotropic":
            ls = s.reshape(n, self.k, 1).expand(n, self.k, self.d)
        else:
            ls = s.reshape(n, 1, self.d).expand(n, self.k, self.d)
        return ls, ds

    def _split(self, out: torch.Tensor, objective: str = "nll"):
        k, d = self.k, self.d
        n = out.shape[0]
        logits = out[:, :k]
        mu = out[:, k : k + k * d].reshape(n, k, d)
        raw = out[:, k + k * d :]
        log_sigma, ds = self._log_sigma(raw)
        if objective == "ngem":
            tied = {"diag": 1, "isotropic": d, "shared": k}[self.covariance]
            ds_full = self._expand_s(ds.detach())
            # backward through log sigma multiplies by s' and sums tied entries; pre-scale so the result is
            # A(g_s / 2) / max(s', eps) (core's reduceScaleGrad for ngem, fisherCoords "log-sigma")
            w = 0.5 / (tied * torch.clamp(ds_full, min=1e-300) * torch.clamp(ds_full, min=SCALE_GRAD_EPS))
            log_sigma = _NgemScaleGrad.apply(log_sigma, w)
            mu = _NgemMuGrad.apply(mu, torch.exp(2 * log_sigma.detach()))
        elif objective != "nll":
            raise ValueError(f"objective: {objective!r} is not nll | ngem")
        return logits, mu, log_sigma

    def _expand_s(self, v: torch.Tensor) -> torch.Tensor:
        n = v.shape[0]
        if self.covariance == "diag":
            return v.reshape(n, self.k, self.d)
        if self.covariance == "isotropic":
            return v.reshape(n, self.k, 1).expand(n, self.k, self.d)
        return v.reshape(n, 1, self.d).expand(n, self.k, self.d)

    # --- mixture utilities (training space) ---
    @staticmethod
    def log_prob_of(logits, mu, log_sigma, y) -> torch.Tensor:
        """Per-row log p(y) of a diagonal mixture; y [N, D]."""
        z = (y.unsqueeze(1) - mu) * torch.exp(-log_sigma)
        comp = -0.5 * (z * z).sum(-1) - log_sigma.sum(-1) - 0.5 * mu.shape[-1] * math.log(2 * math.pi)
        return torch.logsumexp(torch.log_softmax(logits, dim=-1) + comp, dim=-1)

    def standardize_x(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.x_mean is None else (x - self.x_mean.to(x.dtype)) / self.x_std.to(x.dtype)

    def standardize_y(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.y_mean is None else (y - self.y_mean.to(y.dtype)) / self.y_std.to(y.dtype)

    def _to_original(self, logits, mu, log_sigma) -> Dict[str, torch.Tensor]:
        if self.y_mean is not None:
            mu = mu * self.y_std.to(mu.dtype) + self.y_mean.to(mu.dtype)
            log_sigma = log_sigma + torch.log(self.y_std.to(mu.dtype))
        return {"logits": logits, "mu": mu, "sigma": torch.exp(log_sigma), "log_sigma": log_sigma, "pi": torch.softmax(logits, dim=-1)}


class _Dense(nn.Module):
    """x @ weight + bias with weight [in, out] (ngem's layout; nn.Linear stores [out, in])."""

    def __init__(self, fan_in: int, fan_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fan_in, fan_out, dtype=torch.float64))
        self.bias = nn.Parameter(torch.empty(fan_out, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)


class _LayerNorm(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width, dtype=torch.float64))
        self.beta = nn.Parameter(torch.zeros(width, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.gamma, self.beta, eps=LAYER_NORM_EPS)


class _Block(_Dense):
    """Hidden layer i: Linear (trunk.i.weight/bias) -> [LayerNorm (trunk.i.ln.*)] -> activation."""

    def __init__(self, fan_in: int, fan_out: int, layer_norm: bool, activation: str):
        super().__init__(fan_in, fan_out)
        self.ln = _LayerNorm(fan_out) if layer_norm else None
        if activation not in ("gelu", "tanh", "relu"):
            raise ValueError(f"spec.activation: {activation!r} is not gelu | tanh | relu")
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = super().forward(x)
        if self.ln is not None:
            h = self.ln(h)
        if self.activation == "gelu":
            return F.gelu(h)  # exact erf form, as core's mlp.ts
        return torch.tanh(h) if self.activation == "tanh" else torch.relu(h)


class NgemMDN(_MixtureBase):
    """A mixture density network: trunk (hidden layers) + mixture head."""

    def __init__(self, spec: dict, normalization: Optional[dict] = None):
        super().__init__(spec, normalization)
        self.input_dim = int(spec["inputDim"])
        widths = [int(w) for w in spec["hidden"]]
        blocks, prev = [], self.input_dim
        for w in widths:
            blocks.append(_Block(prev, w, bool(spec["layerNorm"]), spec["activation"]))
            prev = w
        self.trunk = nn.ModuleList(blocks)
        self.head = _Dense(prev, self.k + self.k * self.d + self.s)

    def head_output(self, x: torch.Tensor) -> torch.Tensor:
        """Raw head rows [N, K + KD + S] for standardised x [N, inputDim]."""
        h = x
        for block in self.trunk:
            h = block(h)
        return self.head(h)

    def forward(self, x: torch.Tensor, objective: str = "nll"):
        """(logits [N,K], mu [N,K,D], log_sigma [N,K,D]) for standardised x, in training units."""
        return self._split(self.head_output(x), objective)

    def nll(self, x: torch.Tensor, y: torch.Tensor, objective: str = "nll") -> torch.Tensor:
        """Mean NLL of standardised (x, y): the trainer's loss; objective "ngem" changes only its gradients."""
        return -self.log_prob_of(*self.forward(x, objective), y).mean()

    def predict(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """ngem predict(..., space "original"): x in original units -> logits, mu, sigma, log_sigma, pi in original y units."""
        return self._to_original(*self.forward(self.standardize_x(x)))


class _GmmParams(nn.Module):
    def __init__(self, k: int, d: int, scale_shape):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k, dtype=torch.float64))
        self.mu = nn.Parameter(torch.zeros(k, d, dtype=torch.float64))
        self.logSigma = nn.Parameter(torch.zeros(*scale_shape, dtype=torch.float64))


class NgemGMM(_MixtureBase):
    """A free Gaussian mixture (no inputs): gmm.logits [K], gmm.mu [K,D], gmm.logSigma (raw scale)."""

    def __init__(self, spec: dict, normalization: Optional[dict] = None):
        super().__init__(spec, normalization)
        shape = {"diag": (self.k, self.d), "isotropic": (self.k, 1), "shared": (1, self.d)}[self.covariance]
        self.gmm = _GmmParams(self.k, self.d, shape)

    def head_output(self, n: int = 1) -> torch.Tensor:
        row = torch.cat([self.gmm.logits, self.gmm.mu.reshape(-1), self.gmm.logSigma.reshape(-1)])
        return row.unsqueeze(0).expand(n, row.shape[0])

    def forward(self, n: int = 1, objective: str = "nll"):
        return self._split(self.head_output(n), objective)

    def nll(self, y: torch.Tensor, objective: str = "nll") -> torch.Tensor:
        return -self.log_prob_of(*self.forward(y.shape[0], objective), y).mean()

    def predict(self, n: int = 1) -> Dict[str, torch.Tensor]:
        return self._to_original(*self.forward(n))


def build_model(spec: dict, normalization: Optional[dict] = None) -> nn.Module:
    """An untrained module for a core ModelSpec (kind "mdn" or "gmm")."""
    if spec.get("kind") == "mdn":
        return NgemMDN(spec, normalization)
    if spec.get("kind") == "gmm":
        return NgemGMM(spec, normalization)
    raise ValueError(f"spec.kind: {spec.get('kind')!r} is not mdn | gmm")


def load_checkpoint(path: str, dtype: torch.dtype = torch.float64) -> nn.Module:
    """The checkpoint's model with its weights (strict: every name and shape must match) and normalisation."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != "ngem-checkpoint":
        raise ValueError(f"{path}: __metadata__.format is {meta.get('format')!r}, expected 'ngem-checkpoint'")
    if meta.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path}: checkpoint version {meta.get('version')!r}; this module reads {', '.join(READABLE_VERSIONS)}")
    spec = json.loads(meta["spec"])
    normalization = json.loads(meta.get("normalization") or "null")
    model = build_model(spec, normalization)
    weights = {k: v for k, v in tensors.items() if "/" not in k}  # optim/*, trainer/*, best/* are not weights
    model.load_state_dict(weights, strict=True)
    model.checkpoint_metadata = meta
    return model.to(dtype)


def write_safetensors(path: str, tensors: Dict[str, torch.Tensor], metadata: Dict[str, str]) -> None:
    """Writes F64 tensors + string metadata as safetensors (header padded to 8 bytes), via temp file + rename."""
    import os

    header: Dict[str, object] = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float64).contiguous().cpu()
        b = t.numpy().astype("<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(model: nn.Module, path: str) -> None:
    """Writes the module's weights back as an ngem checkpoint (the metadata of the one it was loaded from).

    ngem's predict / eval / sample / export read it like any checkpoint. The
    optimizer state is not carried over (PyTorch's is not ngem's): `ngem train
    --resume` on it would start with fresh optimizer moments; the trainer
    metadata (step, data fingerprint) is the original run's.
    """
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    meta = getattr(module, "checkpoint_metadata", None)
    if meta is None:
        raise ValueError("save_checkpoint: the module was not loaded with load_checkpoint (no ngem metadata to keep)")
    write_safetensors(path, dict(module.state_dict()), meta)
