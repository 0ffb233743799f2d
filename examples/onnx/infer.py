"""Run a small ONNX model (model.onnx, a dense layer with ReLU) with ONNX Runtime on the CPU.

    infer.py              prints the model's outputs for three fixed inputs, as JSON

ONNX Runtime is a 20 MB C++ extension (libstdc++, OpenMP-free CPU provider); the model is a
data file shipped beside the binary with --include-data model.onnx=model.onnx.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnxruntime as ort

MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx")


def main() -> None:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(MODEL, options, providers=["CPUExecutionProvider"])
    x = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [-1, 0.5, 2, -3]], dtype=np.float32)
    (y,) = session.run(None, {"x": x})
    print(
        json.dumps(
            {
                "onnxruntime": ort.__version__,
                "providers": session.get_providers(),
                "inputs": [i.name for i in session.get_inputs()],
                "y": np.round(y, 4).tolist(),
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
