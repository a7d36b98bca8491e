"""Canonical architectures defined in plain PyTorch (torchvision does not import beside the local torch
build), layer for layer as torchvision / timm / HF define them, so parameter counts equal the published
ones. Used by models/build.py, benchmarks/ and the tests; weights are random."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's _make_divisible: round channels to a multiple of 8, never down by more than 10%."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: Callable[[], nn.Module] | None = None,
            eps: float = 1e-5) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout, eps=eps)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---- ResNet (He et al. 2016; torchvision resnet18 / resnet50, V1.5 stride on the 3x3) ----------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(cin, width, 3, stride, act=lambda: nn.ReLU(inplace=True)), conv_bn(width, width, 3))
        self.down = conv_bn(cin, width, 1, stride) if stride != 1 or cin != width else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + (x if self.down is None else self.down(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        out = width * 4
        self.body = nn.Sequential(conv_bn(cin, width, 1, act=relu), conv_bn(width, width, 3, stride, act=relu), conv_bn(width, out, 1))
        self.down = conv_bn(cin, out, 1, stride) if stride != 1 or cin != out else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2, act=lambda: nn.ReLU(inplace=True)), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, n in enumerate(layers):
            width = 64 * 2**i
            for j in range(n):
                stages.append(block(cin, width, 2 if j == 0 and i > 0 else 1))
                cin = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def resnet18() -> nn.Module:
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50() -> nn.Module:
    return ResNet(Bottleneck, [3, 4, 6, 3])


# ---- MobileNetV2 (Sandler et al. 2018) ------------------------------------------------------------------


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk -> [squeeze-excite] -> project 1x1, residual when shapes allow."""

    def __init__(self, cin: int, mid: int, cout: int, k: int, stride: int, act: Callable[[], nn.Module],
                 se: nn.Module | None = None, eps: float = 1e-5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if mid != cin:
            layers.append(conv_bn(cin, mid, 1, act=act, eps=eps))
        layers.append(conv_bn(mid, mid, k, stride, groups=mid, act=act, eps=eps))
        if se is not None:
            layers.append(se)
        layers.append(conv_bn(mid, cout, 1, eps=eps))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        relu6 = lambda: nn.ReLU6(inplace=True)  # noqa: E731
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=relu6)]
        cin = 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(InvertedResidual(cin, cin * t, c, 3, s if i == 0 else 1, relu6))
                cin = c
        layers.append(conv_bn(cin, 1280, 1, act=relu6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- Squeeze-and-excitation, MobileNetV3-Large (Howard et al. 2019), EfficientNet-B0 (Tan & Le 2019) ------


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int, act: Callable[[], nn.Module], gate: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class MobileNetV3Large(nn.Module):
    # (in, kernel, expanded, out, squeeze-excite, hard-swish, stride), torchvision's table
    CONFIG = [
        (16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
        (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
        (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
        (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
        (112, 5, 672, 160, True, True, 2), (160, 5, 960, 160, True, True, 1), (160, 5, 960, 160, True, True, 1),
    ]

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        hs, relu = nn.Hardswish, lambda: nn.ReLU(inplace=True)
        layers: list[nn.Module] = [conv_bn(3, 16, 3, 2, act=hs, eps=1e-3)]
        for cin, k, mid, cout, use_se, use_hs, s in self.CONFIG:
            act = hs if use_hs else relu
            se = SqueezeExcite(mid, make_divisible(mid // 4), relu, nn.Hardsigmoid) if use_se else None
            layers.append(InvertedResidual(cin, mid, cout, k, s, act, se, eps=1e-3))
        layers.append(conv_bn(160, 960, 1, act=hs, eps=1e-3))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(960, 1280), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


class EfficientNetB0(nn.Module):
    # (expand ratio, kernel, stride, in, out, layers), torchvision's b0 table
    CONFIG = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
              (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        silu = lambda: nn.SiLU(inplace=True)  # noqa: E731
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=silu, eps=1e-3)]
        for e, k, s, cin, cout, n in self.CONFIG:
            for i in range(n):
                c_in = cin if i == 0 else cout
                mid = make_divisible(c_in * e)
                se = SqueezeExcite(mid, max(1, c_in // 4), silu, nn.Sigmoid)
                layers.append(InvertedResidual(c_in, mid, cout, k, s if i == 0 else 1, silu, se, eps=1e-3))
        layers.append(conv_bn(320, 1280, 1, act=silu, eps=1e-3))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- MnasNet-A1 1.0 as torchvision builds it (Tan et al. 2019) ---------------------------------------------


class MnasNet(nn.Module):
    # (in, out, kernel, stride, expansion, repeats), torchvision mnasnet1_0
    STACKS = [(16, 24, 3, 2, 3, 3), (24, 40, 5, 2, 3, 3), (40, 80, 5, 2, 6, 3), (80, 96, 3, 1, 6, 2),
              (96, 192, 5, 2, 6, 4), (192, 320, 3, 1, 6, 1)]

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        layers: list[nn.Module] = [conv_bn(3, 32, 3, 2, act=relu), conv_bn(32, 32, 3, 1, groups=32, act=relu), conv_bn(32, 16, 1)]
        for cin, cout, k, s, e, n in self.STACKS:
            for i in range(n):
                c_in = cin if i == 0 else cout
                layers.append(InvertedResidual(c_in, c_in * e, cout, k, s if i == 0 else 1, relu))
        layers.append(conv_bn(320, 1280, 1, act=relu))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(x).mean([2, 3]))


# ---- Transformers: ViT / DeiT (Dosovitskiy et al. 2021; Touvron et al. 2021), BERT, GPT-2 ------------------


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Scaled dot-product attention as timm, HF and torch.nn.MultiheadAttention call it: eager PyTorch runs
        # one fused (flash / memory-efficient) kernel; the exporters decompose it to MatMul-Softmax-MatMul.
        out = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm (ViT, GPT-2) or post-norm (BERT) transformer layer."""

    def __init__(self, dim: int, heads: int, mlp: int, pre_norm: bool = True, causal: bool = False, eps: float = 1e-6) -> None:
        super().__init__()
        self.pre_norm = pre_norm
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=eps), nn.LayerNorm(dim, eps=eps)
        self.attn = SelfAttention(dim, heads, causal)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(approximate="tanh" if causal else "none"), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class ViT(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, mlp: int, patch: int = 16, image: int = 224, num_classes: int = 1000) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (image // patch) ** 2 + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def deit_tiny() -> nn.Module:
    return ViT(192, 12, 3, 768)


def vit_b_16() -> nn.Module:
    return ViT(768, 12, 12, 3072)


class BertEncoder(nn.Module):
    """BERT-base (Devlin et al. 2019) as HF BertModel: embeddings, 12 post-norm layers, pooler."""

    def __init__(self, vocab: int = 30522, dim: int = 768, depth: int = 12, heads: int = 12, mlp: int = 3072, max_len: int = 512) -> None:
        super().__init__()
        self.word, self.pos, self.token_type = nn.Embedding(vocab, dim), nn.Embedding(max_len, dim), nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.Sequential(*[Block(dim, heads, mlp, pre_norm=False, eps=1e-12) for _ in range(depth)])
        self.pooler = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.norm(self.word(ids) + self.pos(pos) + self.token_type(torch.zeros_like(ids)))
        return torch.tanh(self.pooler(self.layers(x)[:, 0]))


class GPT2(nn.Module):
    """GPT-2 small (Radford et al. 2019): tied LM head, pre-norm causal blocks, tanh GELU."""

    def __init__(self, vocab: int = 50257, dim: int = 768, depth: int = 12, heads: int = 12, ctx: int = 1024) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(ctx, dim)
        self.blocks = nn.Sequential(*[Block(dim, heads, 4 * dim, causal=True, eps=1e-5) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = self.ln_f(self.blocks(self.wte(ids) + self.wpe(pos)))
        return x @ self.wte.weight.t()


class CachedSelfAttention(SelfAttention):
    """Causal self-attention over a KV cache, as generation runs it: the new tokens' queries attend to the
    cached keys and values and their own; returns the output and the grown cache."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor):  # type: ignore[override]
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d)), k, v


class CachedBlock(Block):
    def __init__(self, dim: int, heads: int, mlp: int, eps: float) -> None:
        super().__init__(dim, heads, mlp, causal=True, eps=eps)
        self.attn = CachedSelfAttention(dim, heads, causal=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, past_k: torch.Tensor, past_v: torch.Tensor):  # type: ignore[override]
        a, k, v = self.attn(self.norm1(x), mask, past_k, past_v)
        x = x + a
        return x + self.mlp(self.norm2(x)), k, v


class GPT2WithPast(nn.Module):
    """GPT-2 as Hugging Face exports it for generation (optimum's decoder_with_past): input_ids, attention_mask
    [batch, past + seq], position_ids and past_key_values.N.key/value [batch, heads, past, head_dim] in; logits
    and present.N.key/value out. The same parameters as GPT2 (same layer names)."""

    def __init__(self, vocab: int = 50257, dim: int = 768, depth: int = 12, heads: int = 12, ctx: int = 1024) -> None:
        super().__init__()
        self.heads, self.depth = heads, depth
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Embedding(ctx, dim)
        self.blocks = nn.ModuleList([CachedBlock(dim, heads, 4 * dim, eps=1e-5) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(dim, eps=1e-5)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, *past: torch.Tensor):
        n, past_len = input_ids.shape[1], past[0].shape[2]
        total = attention_mask.shape[1]
        causal = torch.ones(n, total, dtype=torch.bool, device=input_ids.device).tril(diagonal=past_len)
        mask = causal[None, None] & attention_mask[:, None, None, :].bool()
        x = self.wte(input_ids) + self.wpe(position_ids)
        present = []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, mask, past[2 * i], past[2 * i + 1])
            present += [k, v]
        return (self.ln_f(x) @ self.wte.weight.t(), *present)

    def example_inputs(self, batch: int = 1, seq: int = 4, past: int = 6) -> tuple[torch.Tensor, ...]:
        head_dim = self.wte.weight.shape[1] // self.heads
        cache = [torch.randn(batch, self.heads, past, head_dim) for _ in range(2 * self.depth)]
        return (torch.randint(0, 1000, (batch, seq)), torch.ones(batch, past + seq, dtype=torch.int64),
                torch.arange(past, past + seq).unsqueeze(0).expand(batch, -1), *cache)

    def io_names(self) -> tuple[list[str], list[str]]:
        cache = [f"past_key_values.{i}.{kv}" for i in range(self.depth) for kv in ("key", "value")]
        present = [f"present.{i}.{kv}" for i in range(self.depth) for kv in ("key", "value")]
        return ["input_ids", "attention_mask", "position_ids", *cache], ["logits", *present]


FACTORIES: dict[str, Callable[[], nn.Module]] = {
    "resnet18": resnet18, "resnet50": resnet50, "mobilenet_v2": MobileNetV2, "mobilenet_v3_large": MobileNetV3Large,
    "mnasnet1_0": MnasNet, "efficientnet_b0": EfficientNetB0, "deit_tiny": deit_tiny, "vit_b_16": vit_b_16,
    "bert_base": BertEncoder, "gpt2_small": GPT2,
}


def randomise_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic random weights, with BatchNorm statistics that are distinct and valid (positive
    variance), so exporters do not merge identical constant tensors."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                for t in (m.weight, m.bias, m.running_mean):
                    t.copy_(torch.rand(t.shape, generator=g) * 0.2 + 0.9 if t is m.weight else torch.randn(t.shape, generator=g) * 0.05)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, 1 / math.sqrt(fan_in), generator=g)
                if getattr(m, "bias", None) is not None:
                    m.bias.normal_(0, 0.01, generator=g)
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + 0.05 * torch.randn(m.weight.shape, generator=g))
                m.bias.normal_(0, 0.01, generator=g)
        for name, p in model.named_parameters(recurse=True):
            if name.endswith(("cls_token", "pos_embed")):
                p.normal_(0, 0.02, generator=g)
    return model.eval()


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
