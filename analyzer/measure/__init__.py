"""Measurement on the machine at hand: latency (ONNX Runtime, or PyTorch) and energy (RAPL, NVML, replay)."""
