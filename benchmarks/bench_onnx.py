"""Would another inference runtime make scoring much faster? The trained scorer exported to
ONNX and run by ONNX Runtime (fp32, its transformer graph optimiser, int8 dynamic
quantisation) next to PyTorch eager fp32, on the same length-sorted batches of SciEntsBank
test_ua answers, in one run.

    .venv/bin/python benchmarks/bench_onnx.py [--model /tmp/asag-bench/model]

The export is `asag export --onnx --int8`'s (asag.train.export); the agreement check runs
the exported graph the way another application would (onnxruntime + tokenizers only).

MODEL is a scorer directory (bench_train.py leaves one in /tmp/asag-bench/model); DATASET a
built SciEntsBank dataset (bench_train.py builds it)."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("/tmp/asag-bench/model"))
    parser.add_argument("--dataset", type=Path, default=Path("/tmp/asag-bench/sb-3way"))
    parser.add_argument("--batch-size", type=int, default=32)
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import onnxruntime as ort
    except ImportError:
        raise SystemExit("pip install 'asag[onnx]' first") from None
    import json

    import numpy as np
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from asag.train.data import encode

    manifest = json.loads((opts.model / "asag_scorer.json").read_text())
    tok = AutoTokenizer.from_pretrained(opts.model)
    model = AutoModelForSequenceClassification.from_pretrained(opts.model).eval()
    rows = [dict(r) for r in load_from_disk(str(opts.dataset))["test_ua"]]
    enc = encode(tok, manifest["template"], rows, manifest["max_length"])
    order = np.argsort([len(x) for x in enc["input_ids"]], kind="stable")
    batches = [tok.pad({k: [enc[k][j] for j in order[i:i + opts.batch_size]] for k in INPUTS},
                       return_tensors="np") for i in range(0, len(order), opts.batch_size)]

    from asag.train.export import FP32, INT8, agreement, export_onnx
    from asag.train.scorer import Scorer

    work = Path(tempfile.mkdtemp(prefix="asag-onnx-")) / "onnx"
    export_onnx(opts.model, work, int8=True)  # what `asag export --onnx DIR --int8` writes
    fp32, int8 = work / FP32, work / INT8
    optimised = work / "model.opt.onnx"
    from onnxruntime.transformers import optimizer

    optimizer.optimize_model(str(fp32), model_type="bert",
                             num_heads=model.config.num_attention_heads,
                             hidden_size=model.config.hidden_size).save_model_to_file(
        str(optimised))

    def timed(run) -> tuple[float, np.ndarray]:
        for b in batches[:2]:
            run(b)  # warm-up
        started = time.perf_counter()
        logits = np.concatenate([run(b) for b in batches])
        return len(rows) / (time.perf_counter() - started), logits

    with torch.inference_mode():
        base_rate, reference = timed(
            lambda b: model(**{k: torch.tensor(v) for k, v in b.items()}).logits.numpy())
    table = [("PyTorch eager fp32 (what `asag score` runs)", base_rate, 1.0)]
    for name, path in (("ONNX Runtime fp32", fp32), ("ONNX Runtime fp32, transformer optimiser",
                       optimised), ("ONNX Runtime int8 dynamic quantisation", int8)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        rate, logits = timed(lambda b, s=session: s.run(None, {k: v.astype(np.int64)
                                                                for k, v in b.items()})[0])
        agree = float((logits.argmax(-1) == reference.argmax(-1)).mean())
        table.append((f"{name} (agrees with fp32 on {agree:.1%})", rate, rate / base_rate))
    scorer = Scorer.load(opts.model)
    for name, quantised in (("fp32", False), ("int8", True)):
        check = agreement(scorer, work, rows, int8=quantised)
        print(f"ONNX {name} via onnxruntime + tokenizers vs PyTorch on {check['answers']} "
              f"test_ua answers: same label {check['same_score']:.2%}, largest logit "
              f"difference {check['max_abs_difference']:.2g}")
    print(f"{len(rows)} test_ua answers, batch {opts.batch_size}, {torch.get_num_threads()} "
          f"threads, load average after {os.getloadavg()[0]:.2f}")
    print("| runtime | answers/s | vs PyTorch fp32 |\n|---|---:|---:|")
    for name, rate, ratio in table:
        print(f"| {name} | {rate:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
