"""`asag export MODEL --onnx DIR`: the scorer as a portable ONNX graph that any language with
ONNX Runtime and a Hugging Face tokenizer can run, without Python, torch or asag.

DIR holds `model.onnx` (fp32; dynamic batch and token axes), optionally `model.int8.onnx`
(dynamic int8 quantisation of the Linear weights: faster on CPUs, slightly different
outputs), the tokenizer files (`tokenizer.json` for the `tokenizers` library) and
`asag_onnx.json`: the inputs and outputs, how the text is put together, and how the output
becomes a score on the scale. The export is checked before it is kept: ONNX Runtime must
give the same logits as PyTorch (within 1e-3) on sample answers.

A scorer with a graded-answer memory is exported as its cross-encoder alone (the memory and
its heads are not in the graph), so its scores differ from `asag score`'s; how far is
measured at export time on the scorer's own test split (else its validation carve) and
written into asag_onnx.json ("whole_scorer"), so whoever uses the graph knows."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

from asag.errors import InputError

SPEC_FILE = "asag_onnx.json"
FP32, INT8 = "model.onnx", "model.int8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TOLERANCE = 1e-3
MAX_COMPARED = 1000  # answers of the test split the export compares with the whole scorer
SAMPLE = [  # different lengths, so the check covers padding inside a batch
    {"question": "Why does ice float on water?", "reference_answer": "Ice is less dense.",
     "student_answer": "Because it is lighter than the water around it."},
    {"question": "What pulls objects down?", "reference_answer": "Gravity.",
     "student_answer": "gravity"},
    {"question": "Why is the sky blue?", "reference_answer": "Rayleigh scattering of light "
     "by the molecules of the air, stronger for short wavelengths.",
     "student_answer": "The air scatters blue light more than red light, so blue comes "
                       "from every direction of the sky."},
]


def require_onnx() -> None:
    """A one-line error naming the extra to install when the ONNX packages are missing."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxscript", "onnxruntime")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"the ONNX export needs {', '.join(missing)}",
                         fix="pip install 'asag[onnx]' (scripts/setup.sh installs it)")


def export_onnx(model_dir: str | Path, out_dir: str | Path, *, int8: bool = False,
                opset: int = 18, cross_encoder_only: bool = False) -> dict:
    """Write the ONNX scorer directory; returns its spec (what asag_onnx.json holds).
    A scorer with a graded-answer memory is exported only as its cross-encoder, and only
    when asked (`cross_encoder_only`): its scores then differ from the whole scorer's."""
    from asag.train.directory import read
    from asag.train.scorer import Scorer

    if read(model_dir).memory and not cross_encoder_only:
        raise InputError("this scorer also consults a memory of graded answers, which an ONNX "
                         "graph of its cross-encoder does not hold (its scores would differ)",
                         file=str(model_dir), fix="serve it with `asag serve`, or pass "
                         "--cross-encoder-only to export the fine-tuned cross-encoder alone")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / SPEC_FILE).is_file():
        raise InputError("exists and is not an asag ONNX export", file=str(out_dir),
                         fix="choose an empty or new directory for --onnx")
    scorer = Scorer.load(model_dir, device="cpu")
    whole = whole_scorer_distance(scorer) if scorer.consultant is not None else None
    scorer.consultant = None  # the graph is the cross-encoder; compare it with that alone
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=out_dir.parent))
    try:
        names = _export_graph(scorer, work / FP32, opset)
        spec = _spec(scorer, Path(model_dir), names, int8)
        if whole is not None:
            spec["whole_scorer"] = whole
        scorer.tokenizer.save_pretrained(str(work))
        (work / SPEC_FILE).write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with _quiet_logging():  # its advice to pre-process is for CNNs, not this graph
                quantize_dynamic(str(work / FP32), str(work / INT8), weight_type=QuantType.QInt8)
        worst = agreement(scorer, work, SAMPLE)["max_abs_difference"]
        if worst > TOLERANCE:  # pragma: no cover - an exporter bug, not user input
            raise RuntimeError(f"ONNX Runtime differs from PyTorch by {worst:.2g} on the "
                               "sample answers; the export is not kept")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.chmod(0o755)
        work.rename(out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return spec


def _export_graph(scorer, path: Path, opset: int) -> list[str]:
    """torch.onnx's dynamo exporter (optimum-onnx would pin an old transformers)."""
    import warnings

    import torch

    from asag.train.data import encode

    enc = encode(scorer.tokenizer, scorer.template, SAMPLE[:2], scorer.max_length)
    names = [k for k in INPUTS if k in enc]
    batch = scorer.tokenizer.pad({k: enc[k] for k in names}, return_tensors="pt")

    class Logits(torch.nn.Module):  # plain tensors in and out, no ModelOutput
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits

    dim = torch.export.Dim.DYNAMIC
    with _quiet_logging(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits(scorer.model.float().cpu().eval()),
                          tuple(batch[k] for k in names), str(path),
                          input_names=names, output_names=["logits"], opset_version=opset,
                          dynamo=True, external_data=False, verbose=False,
                          dynamic_shapes=tuple({0: dim, 1: dim} for _ in names))
    return names


@contextlib.contextmanager
def _quiet_logging():
    """The exporter's and quantiser's log chatter (skipped torchvision ops, advice) hidden."""
    import logging

    root = logging.getLogger()
    before = root.level, logging.getLogger("torch.onnx").level
    root.setLevel(logging.ERROR)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(before[0])
        logging.getLogger("torch.onnx").setLevel(before[1])


def _spec(scorer, model_dir: Path, names: list[str], int8: bool) -> dict:
    from asag.train.args import parse_template
    from asag.train.scorer import model_summary, model_version

    scale = scorer.scale
    first, second = parse_template(scorer.template)
    if scale.is_numeric:
        output = {"logits": "[batch, 1]: the score mapped to 0..1",
                  "score": "clip(low + logits[0] * (high - low), low, high); the nearest step "
                           "is low + round((score - low) / step) * step"}
        scale_info = {"kind": "numeric", "spec": scale.spec, "low": scale.low,
                      "high": scale.high, "step": scale.step}
    else:
        output = {"logits": f"[batch, {len(scale.labels)}]: one per label, worst first",
                  "score": "labels[argmax(logits)]; softmax(logits) gives the probabilities "
                           "and the top one the confidence"}
        scale_info = {"kind": "labels", "spec": scale.spec, "labels": list(scale.labels)}
    return {
        "format_version": 1,
        "model_version": model_version(model_dir, scorer.manifest),
        "files": {"fp32": FP32, **({"int8": INT8} if int8 else {}),
                  "tokenizer": "tokenizer.json"},
        "text": {"template": scorer.template, "first": first, "second": second,
                 "note": "fill the fields, then collapse runs of whitespace to one space"},
        "max_length": scorer.max_length,
        "pad_token_id": scorer.tokenizer.pad_token_id,
        "pad_token": scorer.tokenizer.pad_token,
        "inputs": {k: {"dtype": "int64", "shape": ["batch", "tokens"]} for k in names},
        "outputs": {"logits": {"dtype": "float32",
                               "shape": ["batch", scorer.model.config.num_labels]}},
        "output": output,
        "scale": scale_info,
        "model": model_summary(scorer.manifest),
    }


def whole_scorer_distance(scorer, *, limit: int = MAX_COMPARED) -> dict:
    """How far the cross-encoder alone (the graph) is from the whole scorer (`asag score`:
    cross-encoder, graded-answer memory and heads) on the scorer's own test split, or the
    validation carve training held out when there is none: the share of answers given the
    same score (label or step) and the mean absolute difference (points on numeric scales,
    label steps on label scales). "measured": false, with the reason, when the dataset the
    scorer was trained on is not there."""
    import numpy as np

    rows, split = _held_out_rows(scorer)
    if rows is None:
        return {"measured": False, "reason": split}
    rows = rows[:limit]
    ce = scorer.cross_encoder_outputs(rows)
    full = scorer.consultant.consult(ce, rows)[0]
    alone = [scorer.prediction(o) for o in ce]
    both = [scorer.prediction(o) for o in full]
    if scorer.scale.is_numeric:
        diff = [abs(a.score - b.score) for a, b in zip(alone, both, strict=True)]
        unit = "points"
    else:
        diff = [abs(a.index - b.index) for a, b in zip(alone, both, strict=True)]
        unit = "label steps"
    same = [a.index == b.index for a, b in zip(alone, both, strict=True)]
    return {"measured": True, "split": split, "answers": len(rows),
            "same_score": round(float(np.mean(same)), 4),
            "mean_abs_difference": round(float(np.mean(diff)), 4), "unit": unit}


def _held_out_rows(scorer) -> tuple[list[dict] | None, str]:
    """(rows, which split) of the scorer's dataset (manifest "dataset.path", same
    fingerprint): its test split, else the validation carve; (None, why) when absent."""
    from asag.train import data as D

    dataset = scorer.manifest.get("dataset") or {}
    path = dataset.get("path")
    if not path or not Path(path).is_dir():
        return None, f"the dataset it was trained on ({path or 'unknown'}) is not there"
    try:
        dsd, ds_manifest, _ = D.load_for_training(path)
    except InputError as exc:
        return None, f"the dataset it was trained on ({path}) cannot be read ({exc.problem})"
    if dataset.get("fingerprint") and ds_manifest.get("fingerprint") != dataset["fingerprint"]:
        return None, f"the dataset at {path} has changed since training (another fingerprint)"
    tests = [name for name in dsd if name.startswith("test") and len(dsd[name])]
    if tests:
        name = "test" if "test" in tests else sorted(tests)[0]
        return D.split_rows(dsd[name]), f"{name} ({path})"
    _, held_out, source = D.trained_split(dsd, scorer.manifest.get("training_args"))
    return held_out, f"validation: {source} ({path})"


def whole_scorer_summary(whole: dict | None) -> str:
    """One line for the export's summary."""
    if whole is None:
        return "the graph is the whole scorer"
    if not whole["measured"]:
        return (f"the graph is the cross-encoder alone (scores differ from `asag score`'s; not "
                f"measured: {whole['reason']})")
    return (f"the graph is the cross-encoder alone: on {whole['answers']:,} answers of "
            f"{whole['split']} it gives `asag score`'s score to {whole['same_score']:.1%}, "
            f"mean difference {whole['mean_abs_difference']:.2f} {whole['unit']}")


def onnx_logits(onnx_dir: str | Path, rows: list[dict], *, int8: bool = False,
                batch_size: int = 32, threads: int | None = None):
    """Logits from ONNX Runtime, with only `tokenizers` for the text: what an application
    in another language does (the README's example is the same recipe)."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from asag.train.data import render

    onnx_dir = Path(onnx_dir)
    spec = json.loads((onnx_dir / SPEC_FILE).read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(onnx_dir / spec["files"]["tokenizer"]))
    tok.enable_truncation(spec["max_length"])
    tok.enable_padding(pad_id=spec["pad_token_id"], pad_token=spec["pad_token"])
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_dir / spec["files"]["int8" if int8 else "fp32"]),
                                   options, providers=["CPUExecutionProvider"])
    first, second = render(spec["text"]["template"], rows)
    pairs = list(zip(first, second, strict=True)) if second is not None else first
    lengths = [len(e.ids) for e in tok.encode_batch(pairs)] if pairs else []
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(rows), spec["outputs"]["logits"]["shape"][1]), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        encs = tok.encode_batch([pairs[i] for i in idx])
        feed = {"input_ids": [e.ids for e in encs],
                "attention_mask": [e.attention_mask for e in encs],
                "token_type_ids": [e.type_ids for e in encs]}
        out[idx] = session.run(None, {k: np.asarray(feed[k], dtype=np.int64)
                                      for k in spec["inputs"]})[0]
    return out


def agreement(scorer, onnx_dir: str | Path, rows: list[dict], *, int8: bool = False) -> dict:
    """How often ONNX Runtime gives PyTorch's score (same label or step) and the largest
    difference in the raw outputs, over `rows`."""
    import numpy as np

    torch_out = scorer.cross_encoder_outputs(rows)  # the graph is the cross-encoder
    onnx_out = onnx_logits(onnx_dir, rows, int8=int8)
    same = [scorer.prediction(a).index == scorer.prediction(b).index
            for a, b in zip(torch_out, onnx_out, strict=True)]
    return {"answers": len(rows), "same_score": float(np.mean(same)) if same else 1.0,
            "max_abs_difference": float(np.abs(torch_out - onnx_out).max()) if same else 0.0}
