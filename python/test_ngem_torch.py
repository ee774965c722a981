"""Tests of ngem_torch against ngem's own numbers.

Driven by packages/export/test/torch-handoff.test.ts, which trains models with
@ngem/trainer, saves their checkpoints and writes a cases file with what
ngem computes for them (predict in original units, raw head outputs, NLL and
nGEM gradients from @ngem/core). Run by hand:

    NGEM_TORCH_CASES=cases.json NGEM_TORCH_OUT=out.json /usr/bin/python3 -m unittest -v test_ngem_torch

(from python/; Debian's python3-torch is installed for /usr/bin/python3).
"""

import json
import os
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ngem_torch  # noqa: E402

CASES_PATH = os.environ.get("NGEM_TORCH_CASES")
OUT_PATH = os.environ.get("NGEM_TORCH_OUT")
RESULTS = {}


def _t(v):
    return torch.tensor(v, dtype=torch.float64)


def _rel(a, b):
    a = a.reshape(-1).double()
    b = b.reshape(-1).double()
    return float((a - b).abs().max() / max(float(b.abs().max()), 1e-300))


@unittest.skipUnless(CASES_PATH, "set NGEM_TORCH_CASES (packages/export/test/torch-handoff.test.ts writes it)")
class CheckpointHandOff(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(CASES_PATH) as f:
            cls.cases = json.load(f)

    @classmethod
    def tearDownClass(cls):
        if OUT_PATH:
            with open(OUT_PATH, "w") as f:
                json.dump(RESULTS, f)

    def test_weights_load_strict_under_the_checkpoint_names(self):
        for c in self.cases:
            with self.subTest(c["name"]):
                model = ngem_torch.load_checkpoint(c["checkpoint"])
                tensors, _ = ngem_torch.read_safetensors(c["checkpoint"])
                self.assertEqual(sorted(model.state_dict().keys()), sorted(k for k in tensors if "/" not in k))
                for k, v in model.state_dict().items():
                    self.assertTrue(torch.equal(v, tensors[k]), k)

    def test_predict_equals_ngem_predict_in_original_units(self):
        for c in self.cases:
            with self.subTest(c["name"]):
                model = ngem_torch.load_checkpoint(c["checkpoint"])
                with torch.no_grad():
                    out = model.predict(_t(c["x"]).reshape(c["n"], c["xDim"])) if c["kind"] == "mdn" else model.predict(c["n"])
                RESULTS.setdefault(c["name"], {})["predict"] = {k: out[k].reshape(-1).tolist() for k in ("logits", "mu", "sigma", "pi")}
                for k in ("logits", "mu", "sigma", "pi"):
                    self.assertLess(_rel(out[k], _t(c["expected"][k])), 1e-10, k)

    def test_nll_and_gradients_equal_ngem_core(self):
        for c in self.cases:
            model = ngem_torch.load_checkpoint(c["checkpoint"])
            y = _t(c["y"]).reshape(c["n"], -1)
            for objective in ("nll", "ngem"):
                with self.subTest(c["name"], objective=objective):
                    raw = _t(c["raw"]).reshape(c["n"], -1).requires_grad_(True)
                    loss = -model.log_prob_of(*model._split(raw, objective), y).mean()
                    loss.backward()
                    RESULTS.setdefault(c["name"], {})[f"grad_{objective}"] = raw.grad.reshape(-1).tolist()
                    self.assertLess(abs(float(loss) - c["nll"]), 1e-10 * max(1.0, abs(c["nll"])))
                    self.assertLess(_rel(raw.grad, _t(c["grads"][objective])), 1e-9)

    def test_head_output_and_nll_through_the_whole_module(self):
        for c in self.cases:
            with self.subTest(c["name"]):
                model = ngem_torch.load_checkpoint(c["checkpoint"])
                y = _t(c["y"]).reshape(c["n"], -1)
                with torch.no_grad():
                    if c["kind"] == "mdn":
                        xs = model.standardize_x(_t(c["x"]).reshape(c["n"], c["xDim"]))
                        self.assertLess(_rel(model.head_output(xs), _t(c["raw"])), 1e-10)
                        nll = model.nll(xs, y)
                    else:
                        nll = model.nll(y)
                self.assertLess(abs(float(nll) - c["nll"]), 1e-10 * max(1.0, abs(c["nll"])))

    def test_continue_training_with_ddp(self):
        """One process of torch.distributed (gloo, world size 1): DDP + Adam on the nGEM objective lowers the NLL."""
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP

        c = next(c for c in self.cases if c["kind"] == "mdn")
        model = ngem_torch.load_checkpoint(c["checkpoint"])
        xs = model.standardize_x(_t(c["x"]).reshape(c["n"], c["xDim"]))
        y = _t(c["y"]).reshape(c["n"], -1)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
        store = tempfile.NamedTemporaryFile(delete=False)
        store.close()
        try:
            dist.init_process_group("gloo", init_method=f"file://{store.name}", rank=0, world_size=1)
        except Exception as err:  # noqa: BLE001
            self.skipTest(f"torch.distributed gloo could not start here: {err}")
        try:
            ddp = DDP(model)
            opt = torch.optim.Adam(ddp.parameters(), lr=1e-2)
            with torch.no_grad():
                before = float(model.nll(xs, y))
            for _ in range(30):
                opt.zero_grad()
                loss = -model.log_prob_of(*ddp(xs, objective="ngem"), y).mean()
                loss.backward()
                opt.step()
            with torch.no_grad():
                after = float(model.nll(xs, y))
            RESULTS["ddp"] = {"before": before, "after": after}
            self.assertLess(after, before)
        finally:
            dist.destroy_process_group()
            os.unlink(store.name)


@unittest.skipUnless(CASES_PATH, "set NGEM_TORCH_CASES (packages/export/test/torch-handoff.test.ts writes it)")
class TorchServeHandler(unittest.TestCase):
    """ngem_handler.handle as TorchServe calls it: a context with model_dir and the serialized file, a batch of requests."""

    def test_handle_returns_predict_per_request(self):
        import shutil
        import types

        import ngem_handler

        with open(CASES_PATH) as f:
            cases = json.load(f)
        for c in (next(c for c in cases if c["kind"] == "mdn"), next(c for c in cases if c["kind"] == "gmm")):
            with self.subTest(c["name"]), tempfile.TemporaryDirectory() as model_dir:
                shutil.copy(c["checkpoint"], os.path.join(model_dir, "checkpoint.safetensors"))
                context = types.SimpleNamespace(
                    system_properties={"model_dir": model_dir}, manifest={"model": {"serializedFile": "checkpoint.safetensors"}}
                )
                ngem_handler._model = None
                if c["kind"] == "mdn":
                    x = _t(c["x"]).reshape(c["n"], c["xDim"]).tolist()
                    body = {"x": x}
                else:
                    body = {"n": c["n"]}
                out = ngem_handler.handle([{"body": json.dumps(body).encode()}, {"data": body}], context)
                self.assertEqual(len(out), 2)
                for r in out:
                    for k in ("pi", "mu", "sigma"):
                        self.assertLess(_rel(_t(r[k]), _t(c["expected"][k])), 1e-10, k)
                with self.assertRaisesRegex(ValueError, "request body"):
                    ngem_handler.handle([{"body": b"[1, 2]"}], context)


class Errors(unittest.TestCase):
    def test_not_a_checkpoint(self):
        with tempfile.NamedTemporaryFile(suffix=".safetensors", delete=False) as f:
            f.write(b"abc")
        try:
            with self.assertRaisesRegex(ValueError, "not a safetensors file"):
                ngem_torch.load_checkpoint(f.name)
        finally:
            os.unlink(f.name)

    def test_unknown_spec(self):
        with self.assertRaisesRegex(ValueError, "spec.kind"):
            ngem_torch.build_model({"kind": "flow", "k": 1, "d": 1})
        with self.assertRaisesRegex(ValueError, "spec.head.scale"):
            ngem_torch.build_model({"kind": "gmm", "k": 1, "d": 1, "head": {"scale": "square"}})


if __name__ == "__main__":
    unittest.main()
