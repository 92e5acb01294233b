"""Tiny hand-written ONNX models for tests (each exercises one loading or estimating case)."""

import numpy as np
from onnx import TensorProto as T, helper as h, numpy_helper as nh


def conv_bn_relu(name="conv_bn_relu", batch="N"):
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
             nh.from_array(np.ones(8, np.float32), "s"), nh.from_array(np.zeros(8, np.float32), "b"),
             nh.from_array(np.zeros(8, np.float32), "m"), nh.from_array(np.ones(8, np.float32), "v")]
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
             h.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], name="bn1"),
             h.make_node("Relu", ["bn"], ["y"], name="relu1")]
    g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", T.FLOAT, [batch, 3, 16, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, [batch, 8, 16, 16])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def old_exporter():
    """IR 3 / opset 7 style: initializers repeated as graph inputs, Sum, LRN and Dropout."""
    w = nh.from_array(np.full((4, 3, 1, 1), 0.5, np.float32), "w")
    nodes = [h.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             h.make_node("LRN", ["c"], ["l"], name="lrn", size=3),
             h.make_node("Dropout", ["l"], ["d"], name="dropout", ratio=0.5),
             h.make_node("Sum", ["d", "c", "l"], ["y"], name="sum")]
    g = h.make_graph(nodes, "old", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8]),
                                    h.make_tensor_value_info("w", T.FLOAT, [4, 3, 1, 1])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 8, 8])], [w])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 7)], producer_name="old-exporter")
    m.ir_version = 3
    return m


def constant_weights():
    """Weights produced by Constant and ConstantOfShape nodes instead of initializers."""
    nodes = [h.make_node("Constant", [], ["w"], name="const_w",
                         value=nh.from_array(np.ones((4, 6), np.float32), "w_value")),
             h.make_node("Constant", [], ["bshape"], name="const_shape", value=nh.from_array(np.array([6], np.int64))),
             h.make_node("ConstantOfShape", ["bshape"], ["b"], name="bias_fill",
                         value=nh.from_array(np.array([0.5], np.float32))),
             h.make_node("MatMul", ["x", "w"], ["mm"], name="matmul"),
             h.make_node("Transpose", ["mm"], ["t"], name="t1", perm=[1, 0]),
             h.make_node("Transpose", ["t"], ["t2"], name="t2", perm=[1, 0]),
             h.make_node("Add", ["t2", "b"], ["y"], name="add")]
    g = h.make_graph(nodes, "constants", [h.make_tensor_value_info("x", T.FLOAT, ["B", 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["B", 6])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def heavy_ops():
    """One of each heavy op with hand-checkable MACs."""
    inits = [nh.from_array(np.zeros((16, 4, 3, 3), np.float32), "wc"),      # Conv 4->16, 3x3
             nh.from_array(np.zeros((16, 8, 2, 2), np.float32), "wt"),      # ConvTranspose 16->8, 2x2 stride 2
             nh.from_array(np.zeros((10, 8 * 16 * 16), np.float32), "wg"),  # Gemm transB
             nh.from_array(np.zeros((10, 5), np.float32), "wm")]            # MatMul
    nodes = [h.make_node("Conv", ["x", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("ConvTranspose", ["c", "wt"], ["ct"], name="convT", strides=[2, 2]),
             h.make_node("Flatten", ["ct"], ["f"], name="flatten"),
             h.make_node("Gemm", ["f", "wg"], ["g"], name="gemm", transB=1),
             h.make_node("MatMul", ["g", "wm"], ["y"], name="matmul")]
    g = h.make_graph(nodes, "heavy", [h.make_tensor_value_info("x", T.FLOAT, ["N", 4, 8, 8])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", 5])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def qdq_conv():
    """Explicitly quantized Conv as TensorRT wants it: int8 zero points of 0, per-channel weights, float bias."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    w_scale = (np.abs(w).reshape(16, -1).max(axis=1) / 127).astype(np.float32)
    w_q = np.clip(np.round(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
    inits = [nh.from_array(w_q, "w_q"), nh.from_array(w_scale, "w_scale"),
             nh.from_array(np.zeros(16, np.int8), "w_zero"),
             nh.from_array(np.array(0.05, np.float32), "x_scale"), nh.from_array(np.array(0, np.int8), "x_zero"),
             nh.from_array(rng.standard_normal(16).astype(np.float32), "bias")]
    nodes = [h.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["xq"], name="x_quant"),
             h.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xdq"], name="x_dequant"),
             h.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="w_dequant", axis=0),
             h.make_node("Conv", ["xdq", "w", "bias"], ["c"], name="qconv", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c"], ["y"], name="qrelu")]
    g = h.make_graph(nodes, "qdq_conv", [h.make_tensor_value_info("x", T.FLOAT, ["N", 8, 16, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["N", 16, 16, 16])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def custom_op():
    """A node TensorRT cannot parse (an op from an unknown domain, no plugin)."""
    nodes = [h.make_node("Relu", ["x"], ["r"], name="relu"),
             h.make_node("MysteryOp", ["r"], ["y"], name="mystery_node", domain="example.custom")]
    g = h.make_graph(nodes, "custom", [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 4])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17), h.make_opsetid("example.custom", 1)])


def unsorted_fp16():
    """An FP16 model written as some float16 converters write it: a float32 input cast to float16, the nodes out of
    topological order (the Cast that feeds everything comes last), an If whose branch reads an outer tensor."""
    rng = np.random.default_rng(1)
    w = nh.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float16), "w")
    then_branch = h.make_graph([h.make_node("Relu", ["conv_out"], ["then_out"], name="then_relu")], "then", [],
                               [h.make_tensor_value_info("then_out", T.FLOAT16, None)])
    else_branch = h.make_graph([h.make_node("Identity", ["conv_out"], ["else_out"], name="else_id")], "else", [],
                               [h.make_tensor_value_info("else_out", T.FLOAT16, None)])
    nodes = [h.make_node("If", ["flag"], ["branch_out"], name="if", then_branch=then_branch, else_branch=else_branch),
             h.make_node("Cast", ["branch_out"], ["y"], name="graph_output_cast_0", to=T.FLOAT),
             h.make_node("Conv", ["graph_input_cast_0", "w"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
             h.make_node("ReduceMax", ["conv_out"], ["top"], name="reduce_max", keepdims=0),
             h.make_node("Greater", ["top", "zero"], ["flag"], name="greater"),
             h.make_node("Cast", ["x"], ["graph_input_cast_0"], name="graph_input_cast_0", to=T.FLOAT16)]
    g = h.make_graph(nodes, "unsorted_fp16", [h.make_tensor_value_info("x", T.FLOAT, ["batch", 3, 16, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, ["batch", 8, 16, 16])],
                     [w, nh.from_array(np.array(0, np.float16), "zero")])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="onnxconverter-common")
