"""TorchServe handler for an ngem checkpoint (module-level entry point).

    torch-model-archiver --model-name ngem --version 1.0 \\
        --serialized-file runs/sine/checkpoint.safetensors \\
        --handler python/ngem_handler.py --extra-files python/ngem_torch.py \\
        --export-path model_store
    torchserve --start --model-store model_store --models ngem=ngem.mar
    curl -X POST localhost:8080/predictions/ngem -H 'Content-Type: application/json' -d '{"x": [[0.5], [0.7]]}'

Request body: JSON {"x": [[...], ...]} (rows of inputs in original units; a
GMM: {"n": rows}). Response: {"pi": [N][K], "mu": [N][K][D], "sigma":
[N][K][D]} in original y units, from ngem_torch's predict. The handler
contract (handle(data, context) -> one response per request) is tested in
test_ngem_torch.py; TorchServe itself was not run.
"""

import json
import os

import torch

import ngem_torch

_model = None


def initialize(context):
    global _model
    props = context.system_properties
    serialized = context.manifest["model"]["serializedFile"]
    _model = ngem_torch.load_checkpoint(os.path.join(props.get("model_dir"), serialized))
    _model.eval()


def _body(request):
    body = request.get("body") if request.get("body") is not None else request.get("data")
    if isinstance(body, (bytes, bytearray)):
        body = json.loads(body.decode("utf-8"))
    elif isinstance(body, str):
        body = json.loads(body)
    if not isinstance(body, dict):
        raise ValueError('request body: expected JSON {"x": [[...], ...]} (or {"n": rows} for a GMM)')
    return body


def _predict(body):
    with torch.no_grad():
        if isinstance(_model, ngem_torch.NgemGMM):
            out = _model.predict(int(body.get("n", 1)))
        else:
            x = torch.tensor(body["x"], dtype=torch.float64)
            if x.dim() != 2 or x.shape[1] != _model.input_dim:
                raise ValueError(f"x: expected rows of {_model.input_dim} inputs, got shape {list(x.shape)}")
            out = _model.predict(x)
    return {k: out[k].tolist() for k in ("pi", "mu", "sigma")}


def handle(data, context):
    if _model is None:
        initialize(context)
    if data is None:
        return None
    return [_predict(_body(request)) for request in data]
