"""Writes model.onnx: y = relu(x @ W + b), a 4 -> 3 dense layer with fixed weights.

Run once where onnx is installed; model.onnx is committed, the app needs only onnxruntime.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5, "W")
b = numpy_helper.from_array(np.array([0.1, -0.2, 0.3], dtype=np.float32), "b")
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["z"]),
        helper.make_node("Relu", ["z"], ["y"]),
    ],
    "dense",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    initializer=[W, b],
)
model = helper.make_model(
    graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pybin2img-corpus"
)
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "model.onnx")
