"""The `train_loop` graph: a model's `train` graph as the body of an ONNX `Loop`, so that one call runs k steps.

Why: in a tab every graph call crosses Python → JS → wasm and back, and onnxruntime-web copies every input
into wasm memory and every output out again; for a small model those crossings cost more than the step.
With k batches stacked on a leading axis, θ, m and v go in once and come out once per k steps.

The body is the train graph's own nodes, unchanged: the loop carries θ, m, v and the step count, reads
batch i from the stacked inputs (Gather on axis 0) and collects each step's loss. Every kernel sees the same
inputs as k separate `train` calls would give it, so k steps in one call equal k calls bit for bit
(tests/test_train_graphs.py checks it on every model). The trip count is the stacked batches' leading
dimension, so one graph serves every k.

    inputs:  theta, m, v, step (the first step's number, as `train` takes it), lr, beta1, beta2, eps,
             weight_decay, xs [k, *x], ys [k, *y]
    outputs: losses [k], theta_out, m_out, v_out
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

CARRIED = ("theta", "m", "v", "step")  # the train graph's inputs the loop carries from step to step
BATCH = ("x", "y")  # the train graph's inputs read per step from the stacked batches
HYPER = ("lr", "beta1", "beta2", "eps", "weight_decay")  # read from the outer graph every step
OUTER_INPUTS = (*CARRIED, *HYPER, "xs", "ys")
OUTER_OUTPUTS = ("losses", "theta_out", "m_out", "v_out")


def loop_graph(train: bytes) -> bytes:
    """The train_loop graph (bytes) built from a model's train graph (bytes)."""
    model = onnx.load_from_string(train)
    g = model.graph
    inputs = {i.name: i for i in g.input}
    if [i.name for i in g.input] != [*CARRIED, *HYPER, *BATCH]:
        raise ValueError(f"unexpected train graph inputs {[i.name for i in g.input]}")
    if [o.name for o in g.output] != ["loss", "theta_out", "m_out", "v_out"]:
        raise ValueError(f"unexpected train graph outputs {[o.name for o in g.output]}")

    # Inside the body the carried values and the per-step batch get names of their own (`b_` prefix): a
    # subgraph may not reuse a name of the graph around it.
    renames = {name: f"b_{name}" for name in (*CARRIED, *BATCH)}
    renames.update(loss="b_loss", theta_out="b_theta_out", m_out="b_m_out", v_out="b_v_out")
    nodes = []
    for n in g.node:
        node = onnx.NodeProto()
        node.CopyFrom(n)
        node.input[:] = [renames.get(x, x) for x in n.input]
        node.output[:] = [renames.get(x, x) for x in n.output]
        nodes.append(node)

    def tensor_type(name: str, new_name: str) -> onnx.ValueInfoProto:
        t = inputs[name].type.tensor_type
        return helper.make_tensor_value_info(new_name, t.elem_type, [d.dim_value for d in t.shape.dim])

    one = helper.make_tensor("b_one", TensorProto.FLOAT, [], [1.0])
    pre = [
        helper.make_node("Gather", ["xs", "b_i"], ["b_x"], axis=0),
        helper.make_node("Gather", ["ys", "b_i"], ["b_y"], axis=0),
        helper.make_node("Identity", ["b_cond"], ["b_cond_out"]),
    ]
    post = [helper.make_node("Add", ["b_step", "b_one"], ["b_step_next"])]
    body = helper.make_graph(
        pre + nodes + post,
        "train_step",
        [
            helper.make_tensor_value_info("b_i", TensorProto.INT64, []),
            helper.make_tensor_value_info("b_cond", TensorProto.BOOL, []),
            *(tensor_type(name, f"b_{name}") for name in CARRIED),
        ],
        [
            helper.make_tensor_value_info("b_cond_out", TensorProto.BOOL, []),
            tensor_type("theta", "b_theta_out"),
            tensor_type("m", "b_m_out"),
            tensor_type("v", "b_v_out"),
            tensor_type("step", "b_step_next"),
            helper.make_tensor_value_info("b_loss", TensorProto.FLOAT, []),
        ],
        initializer=[*g.initializer, one],
    )

    def stacked(name: str, new_name: str) -> onnx.ValueInfoProto:
        t = inputs[name].type.tensor_type
        return helper.make_tensor_value_info(
            new_name, t.elem_type, ["k", *(d.dim_value for d in t.shape.dim)]
        )

    outer_nodes = [
        helper.make_node("Shape", ["xs"], ["k_shape"], start=0, end=1),
        helper.make_node("Squeeze", ["k_shape"], ["k"]),
        helper.make_node(
            "Constant", [], ["cond"], value=helper.make_tensor("c", TensorProto.BOOL, [], [True])
        ),
        helper.make_node(
            "Loop",
            ["k", "cond", "theta", "m", "v", "step"],
            ["theta_out", "m_out", "v_out", "step_last", "losses"],
            body=body,
        ),
    ]
    outer = helper.make_graph(
        outer_nodes,
        "train_loop",
        [*(inputs[name] for name in (*CARRIED, *HYPER)), stacked("x", "xs"), stacked("y", "ys")],
        [
            helper.make_tensor_value_info("losses", TensorProto.FLOAT, ["k"]),
            tensor_type("theta", "theta_out"),
            tensor_type("m", "m_out"),
            tensor_type("v", "v_out"),
        ],
    )
    out = helper.make_model(outer, opset_imports=model.opset_import, ir_version=model.ir_version)
    onnx.checker.check_model(out)
    return out.SerializeToString()
