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


def kv_cache_decoder(hidden=16, heads=2, vocab=100):
    """A one-layer Llama-style decoder as optimum exports it "with past": ``past_key_values.0.key/value``, the
    attention mask's length named ``past_sequence_length + sequence_length``, ``present.*`` outputs."""
    rng = np.random.default_rng(2)
    head = hidden // heads
    w = lambda name, shape: nh.from_array((rng.standard_normal(shape) * 0.1).astype(np.float32), name)
    inits = [w("embed", (vocab, hidden)), w("wq", (hidden, hidden)), w("wk", (hidden, hidden)),
             w("wv", (hidden, hidden)), w("lm_head", (hidden, vocab)),
             nh.from_array(np.array([0, 0, heads, head], np.int64), "split_heads"),
             nh.from_array(np.array([0, 0, hidden], np.int64), "merge_heads"),
             nh.from_array(np.array([1, 2], np.int64), "mask_axes")]
    nodes = [h.make_node("Gather", ["embed", "input_ids"], ["hidden"], name="embed_tokens")]
    for proj in ("q", "k", "v"):
        nodes += [h.make_node("MatMul", ["hidden", f"w{proj}"], [f"{proj}_flat"], name=f"{proj}_proj"),
                  h.make_node("Reshape", [f"{proj}_flat", "split_heads"], [f"{proj}_heads"], name=f"{proj}_split"),
                  h.make_node("Transpose", [f"{proj}_heads"], [f"{proj}_new"], name=f"{proj}_t", perm=[0, 2, 1, 3])]
    nodes += [h.make_node("Concat", ["past_key_values.0.key", "k_new"], ["present.0.key"], name="cat_k", axis=2),
              h.make_node("Concat", ["past_key_values.0.value", "v_new"], ["present.0.value"], name="cat_v", axis=2),
              h.make_node("Transpose", ["present.0.key"], ["k_t"], name="k_transpose", perm=[0, 1, 3, 2]),
              h.make_node("MatMul", ["q_new", "k_t"], ["scores"], name="qk"),
              h.make_node("Cast", ["attention_mask"], ["mask_f"], name="mask_cast", to=T.FLOAT),
              h.make_node("Unsqueeze", ["mask_f", "mask_axes"], ["mask_4d"], name="mask_unsqueeze"),
              h.make_node("Add", ["scores", "mask_4d"], ["masked"], name="mask_add"),
              h.make_node("Softmax", ["masked"], ["probs"], name="softmax", axis=-1),
              h.make_node("MatMul", ["probs", "present.0.value"], ["context"], name="pv"),
              h.make_node("Transpose", ["context"], ["context_t"], name="context_t", perm=[0, 2, 1, 3]),
              h.make_node("Reshape", ["context_t", "merge_heads"], ["attn"], name="merge"),
              h.make_node("MatMul", ["attn", "lm_head"], ["logits"], name="lm_head_proj")]
    past = ["batch_size", heads, "past_sequence_length", head]
    present = ["batch_size", heads, "past_sequence_length + sequence_length", head]
    g = h.make_graph(nodes, "kv_cache_decoder",
                     [h.make_tensor_value_info("input_ids", T.INT64, ["batch_size", "sequence_length"]),
                      h.make_tensor_value_info("attention_mask", T.INT64,
                                               ["batch_size", "past_sequence_length + sequence_length"]),
                      h.make_tensor_value_info("past_key_values.0.key", T.FLOAT, past),
                      h.make_tensor_value_info("past_key_values.0.value", T.FLOAT, past)],
                     [h.make_tensor_value_info("logits", T.FLOAT, ["batch_size", "sequence_length", vocab]),
                      h.make_tensor_value_info("present.0.key", T.FLOAT, present),
                      h.make_tensor_value_info("present.0.value", T.FLOAT, present)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="optimum")


def pixel_values_vision(channels=3, width=8, classes=10):
    """An optimum-style vision model: ``pixel_values [batch_size, num_channels, height, width]``, every dim named, a
    16x16 patch-embedding Conv (a ViT's first layer), mean pooling and a classifier."""
    rng = np.random.default_rng(3)
    inits = [nh.from_array((rng.standard_normal((width, channels, 16, 16)) * 0.1).astype(np.float32), "patch_w"),
             nh.from_array((rng.standard_normal((width, classes)) * 0.1).astype(np.float32), "head_w"),
             nh.from_array(np.array([2, 3], np.int64), "spatial")]
    nodes = [h.make_node("Conv", ["pixel_values", "patch_w"], ["patches"], name="patch_embed", strides=[16, 16]),
             h.make_node("ReduceMean", ["patches", "spatial"], ["pooled"], name="pool", keepdims=0),
             h.make_node("MatMul", ["pooled", "head_w"], ["logits"], name="classifier")]
    g = h.make_graph(nodes, "pixel_values_vision",
                     [h.make_tensor_value_info("pixel_values", T.FLOAT,
                                               ["batch_size", "num_channels", "height", "width"])],
                     [h.make_tensor_value_info("logits", T.FLOAT, ["batch_size", classes])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 18)], producer_name="optimum")
