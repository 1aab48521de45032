"""PyTorch eager peer for `npm run bench -- lora`: the same LoRA SFT step as ours, written in plain torch
as PEFT computes it: frozen bf16 base linears, f32 A/B with result + lora_B(lora_A(dropout(x))) * alpha/r,
AdamW on the adapters only. With checkpoint 1 each decoder layer runs under torch.utils.checkpoint
(non-reentrant, RNG state preserved: the same dropout masks are redrawn), as ours keeps only layer inputs.
Prints one JSON line (median step time, tokens, peak RSS). Usage:
lora-torch-step.py layers seq steps threads [checkpoint 0|1]"""
import json, math, resource, sys, time
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

L, T, steps, threads = map(int, sys.argv[1:5])
ckpt = len(sys.argv) > 5 and sys.argv[5] == "1"
torch.set_num_threads(threads)
torch.manual_seed(0)
d, ff, V, hd = 2304, 5760, 122753, 64
H = d // hd
r, alpha, p_drop = 16, 32, 0.05
s = alpha / r
bf = torch.bfloat16

def base(*shape):
    return (torch.randn(*shape) * 0.02).to(bf)

def lora(out_f, in_f):
    A = torch.empty(r, in_f)
    torch.nn.init.kaiming_uniform_(A, a=math.sqrt(5))
    return [torch.nn.Parameter(A), torch.nn.Parameter(torch.zeros(out_f, r))]

emb = base(V, d)
layers = []
for _ in range(L):
    l = dict(g1=torch.ones(d), g2=torch.ones(d))
    for n, (o, i) in dict(q=(d, d), k=(d, d), v=(d, d), o=(d, d), gate=(ff, d), up=(ff, d), down=(d, ff)).items():
        l[n] = (base(o, i), *lora(o, i))
    layers.append(l)
gf = torch.ones(d)
params = [t for l in layers for k, v in l.items() if isinstance(v, tuple) for t in v[1:]]
opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0)
inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

def lin(x, w):
    W, A, B = w
    y = F.linear(x.to(bf), W).float()
    return y + F.linear(F.linear(F.dropout(x, p_drop, True), A), B) * s

def rms(x, g):
    return g * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)

def rope(x):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin

def layer(x, l):
    h = rms(x, l['g1'])
    q = rope(lin(h, l['q']).view(1, T, H, hd).transpose(1, 2))
    k = rope(lin(h, l['k']).view(1, T, H, hd).transpose(1, 2))
    v = lin(h, l['v']).view(1, T, H, hd).transpose(1, 2)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else \
        torch.softmax((q @ k.transpose(-1, -2)) / 8 + torch.full((T, T), float('-inf')).triu(1), -1) @ v
    x = x + lin(a.transpose(1, 2).reshape(1, T, d), l['o']) * (1.4 / math.sqrt(L))
    h = rms(x, l['g2'])
    return x + lin(F.silu(lin(h, l['gate'])) * lin(h, l['up']), l['down']) * (1.4 / math.sqrt(L))

def step(ids):
    x = F.embedding(ids, emb).float() * 12
    for l in layers:
        x = checkpoint(layer, x, l, use_reentrant=False) if ckpt else layer(x, l)
    logits = F.linear((rms(x, gf) / (d / 256)).to(bf), emb).float()
    loss = F.cross_entropy(logits[0, :-1], ids[0, 1:])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()

ids = torch.randint(0, V, (1, T))
times = []
for i in range(steps + 1):
    t0 = time.perf_counter()
    step(ids)
    if i > 0 or steps == 0:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "tokens": T,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
