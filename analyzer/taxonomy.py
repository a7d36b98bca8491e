"""The names the stages share, defined once: kernel classes and the host families that issue them, runtimes,
compute dtypes and phases. Profiles validate against these lists, kernel plans produce them and the projection
indexes its parameters by them, so a name added here is a name every stage knows."""

# What a kernel is, for its throughput and energy (analyzer/project/kernels): tensor-core classes run on the
# dtype's matrix peak, the rest on the vector units; "aux" is a tiny helper kernel (a floor and nothing else).
KERNEL_CLASSES = ("conv", "conv1x1", "depthwise", "gemm", "attention", "elementwise", "bn", "norm", "reduce", "layout", "aux")
TENSOR_CLASSES = frozenset({"conv", "conv1x1", "gemm", "attention"})
# classes whose kernels tile their outputs across the chip (a small one leaves SMs idle)
FILL_CLASSES = ("conv", "conv1x1", "depthwise", "gemm", "attention")
VECTOR_CLASSES = tuple(c for c in KERNEL_CLASSES if c not in TENSOR_CLASSES and c != "aux")
# the operator families whose host-side issue cost eager frameworks pay per operator
HOST_FAMILIES = ("conv", "norm", "gemm", "attention", "elementwise", "reduce", "layout")

# eager PyTorch, CUDA-graph replay of eager's kernels, ONNX Runtime
RUNTIMES = ("eager", "graph", "ort")
COMPUTE_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
HALF_DTYPES = frozenset({"fp16", "bf16"})
TRAINING_PRECISIONS = ("fp32", "bf16", "fp16")  # bf16/fp16: autocast with fp32 master weights
# PyTorch's foreach implementations; rmsprop and adagrad with PyTorch's defaults (no momentum, not centred; no
# learning-rate decay), rmsprop-momentum as MnasNet, EfficientNet and NAS-Bench-101 trained (momentum 0.9)
OPTIMIZERS = ("sgd", "sgd-momentum", "adam", "adamw", "rmsprop", "rmsprop-momentum", "adagrad")

# what one evaluation costs: a forward (inference), the prompt's forward or one token's step of a decoder with
# its KV cache, a whole response (prefill then decode steps), one training step, or an output token of a decoder
# served as vLLM-like engines serve it (continuous batching, chunked prefill, paged KV cache)
PHASES = ("inference", "prefill", "decode", "response", "train", "serving")
# a served decoder's KV cache ("auto": the compute dtype) and its request lengths when only means are given
KV_DTYPES = ("auto", "bf16", "fp16", "fp8")
LENGTH_DISTRIBUTIONS = ("pareto-exp", "fixed")

# batch norms an inference export folded into its convolutions (project/canonical.py): unfolded where PyTorch runs
# the network ("auto"), or the graph projected as it is ("as-exported"), or stated by the user: a batch norm after
# every convolution over feature maps that feeds none ("present": an untrained export that erased them)
BATCH_NORM_POLICIES = ("auto", "as-exported", "present")
# PyTorch's tensor layout on a GPU (project/kernels): NCHW (the default), or channels-last
# (`model.to(memory_format=torch.channels_last)`, as NVIDIA's DeepLearningExamples run mixed precision)
MEMORY_FORMATS = ("nchw", "channels-last")

# GPU architecture families, oldest first: kernel efficiency curves and host costs learned on one part of a family
# carry over to its other parts (profiles/transfer.py)
GPU_FAMILIES = ("pascal", "volta", "turing", "ampere", "ada", "hopper", "blackwell")
# every family a hardware profile may name: the GPUs', an integrated GPU module's, SoCs' and CPUs' (profiles/families.toml
# holds each one's defaults for `profiles new`)
DEVICE_FAMILIES = GPU_FAMILIES + ("jetson", "apple", "phone", "x86", "arm")

# accounting boundaries, chosen once and applied to serving and search alike (account/boundary.py): power at the chip
# or at the server (the chip plus its share of the host: CPUs, memory, network, fans); embodied carbon of the chip (die
# and package), the card, or the card plus its share of the server
POWER_BOUNDARIES = ("chip", "server")
EMBODIED_BOUNDARIES = ("chip", "card", "server")
