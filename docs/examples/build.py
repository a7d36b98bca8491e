"""Write the two small models the docs' runnable examples use (numpy and onnx only; seeded, the same files on every run):

docs/examples/tiny_encoder.onnx: one self-attention layer, x [batch, seq, 16], 2 heads of 8, no weights but the four
projections, for `profile --symbolic`. MACs 4 batch seq D^2 + 2 H DH batch seq^2 = 1,024 batch seq + 32 batch seq^2.

docs/examples/tiny_decoder.onnx: a one-layer decoder with its KV cache, 16 wide, 2 heads, a 50-token vocabulary,
with Hugging Face's input names and optimum's dim names (batch_size, sequence_length, past_sequence_length), for
`--phase decode`.   python docs/examples/build.py

MACs of one forward over s new tokens after a cache of p, batch b: 4 b s D^2 (q, k, v, o projections) + 2 b H s (p + s) DH
(scores and values) + b s D V (the LM head), D = 16, H = 2, DH = 8, V = 50.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

D, H, DH, VOCAB, CTX = 16, 2, 8, 50, 64
HERE = Path(__file__).resolve().parent


def build_encoder() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    node = helper.make_node
    nodes = []
    for n in ("q", "k", "v"):
        nodes += [node("MatMul", ["x", f"W{n}"], [f"{n}2"]), node("Reshape", [f"{n}2", "heads"], [f"{n}4"]),
                  node("Transpose", [f"{n}4"], [f"{n}h"], perm=[0, 2, 1, 3])]
    nodes += [node("Transpose", ["kh"], ["kt"], perm=[0, 1, 3, 2]), node("MatMul", ["qh", "kt"], ["scores"]),
              node("Softmax", ["scores"], ["probs"], axis=-1), node("MatMul", ["probs", "vh"], ["o"]),
              node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]), node("Reshape", ["ot", "merge"], ["o2"]),
              node("MatMul", ["o2", "Wo"], ["y"])]
    inits = [nh.from_array(rng.standard_normal((D, D)).astype(np.float32), f"W{n}") for n in ("q", "k", "v", "o")]
    inits += [nh.from_array(np.array([0, 0, H, DH], np.int64), "heads"), nh.from_array(np.array([0, 0, D], np.int64), "merge")]
    graph = helper.make_graph(nodes, "tiny_encoder", [helper.make_tensor_value_info("x", T.FLOAT, ["batch", "seq", D])],
                              [helper.make_tensor_value_info("y", T.FLOAT, None)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="docs/examples/build.py")
    m.ir_version = 8
    return m


def build_decoder() -> onnx.ModelProto:
    rng = np.random.default_rng(0)

    def w(n, *shape):
        return nh.from_array(rng.standard_normal(shape).astype(np.float32), n)

    def const(n, v):
        return nh.from_array(np.array(v, dtype=np.int64), n)

    node = helper.make_node
    nodes = [node("Gather", ["wte", "input_ids"], ["tok"]), node("Gather", ["wpe", "position_ids"], ["pos"]),
             node("Add", ["tok", "pos"], ["x"])]
    for n in ("q", "k", "v"):
        nodes += [node("MatMul", ["x", f"W{n}"], [f"{n}2"]), node("Reshape", [f"{n}2", "heads"], [f"{n}4"]),
                  node("Transpose", [f"{n}4"], [f"{n}h"], perm=[0, 2, 1, 3])]
    nodes += [node("Concat", ["past_key_values.0.key", "kh"], ["present.0.key"], axis=2),
              node("Concat", ["past_key_values.0.value", "vh"], ["present.0.value"], axis=2),
              node("Transpose", ["present.0.key"], ["kt"], perm=[0, 1, 3, 2]),
              node("MatMul", ["qh", "kt"], ["scores"]),
              node("Cast", ["attention_mask"], ["maskf"], to=T.FLOAT),
              node("Unsqueeze", ["maskf", "axes12"], ["mask4"]),
              node("Sub", ["one", "mask4"], ["inv"]), node("Mul", ["inv", "neg"], ["bias"]),
              node("Add", ["scores", "bias"], ["masked"]), node("Softmax", ["masked"], ["probs"], axis=-1),
              node("MatMul", ["probs", "present.0.value"], ["o"]),
              node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]), node("Reshape", ["ot", "merge"], ["o2"]),
              node("MatMul", ["o2", "Wo"], ["y"]), node("MatMul", ["y", "Wlm"], ["logits"])]
    inits = [w("wte", VOCAB, D), w("wpe", CTX, D), w("Wq", D, D), w("Wk", D, D), w("Wv", D, D), w("Wo", D, D),
             w("Wlm", D, VOCAB), const("heads", [0, 0, H, DH]), const("merge", [0, 0, D]), const("axes12", [1, 2]),
             nh.from_array(np.array(1.0, np.float32), "one"), nh.from_array(np.array(-1e4, np.float32), "neg")]
    b, s, p = "batch_size", "sequence_length", "past_sequence_length"
    inputs = [helper.make_tensor_value_info("input_ids", T.INT64, [b, s]),
              helper.make_tensor_value_info("attention_mask", T.INT64, [b, f"{p} + {s}"]),
              helper.make_tensor_value_info("position_ids", T.INT64, [b, s]),
              helper.make_tensor_value_info("past_key_values.0.key", T.FLOAT, [b, H, p, DH]),
              helper.make_tensor_value_info("past_key_values.0.value", T.FLOAT, [b, H, p, DH])]
    outputs = [helper.make_tensor_value_info(n, T.FLOAT, None) for n in ("logits", "present.0.key", "present.0.value")]
    m = helper.make_model(helper.make_graph(nodes, "tiny_decoder", inputs, outputs, inits),
                          opset_imports=[helper.make_opsetid("", 17)], producer_name="docs/examples/build.py")
    m.ir_version = 8
    return m


if __name__ == "__main__":
    for name, model in (("tiny_encoder.onnx", build_encoder()), ("tiny_decoder.onnx", build_decoder())):
        onnx.save(model, str(HERE / name))
        print(f"wrote {HERE / name} ({(HERE / name).stat().st_size} bytes)")
