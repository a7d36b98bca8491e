"""Load: model files -> our IR (analyzer/ir.py), validated once at the edge. ONNX files (onnx_graph.py, with the
wire-level pass that skips weights, validation, shape inference and folding of shape computations, the guard
that runs them under time and memory limits), PyTorch modules through fvcore (torch_fvcore.py), manifests of
candidates (manifest.py), candidate sources for populations (sources.py) and the synthetic search space
(space.py). The only stage that imports onnx."""
