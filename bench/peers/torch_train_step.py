"""PyTorch eager peer for `npm run bench -- train`: the same MiniCPM training step (forward, backward,
AdamW) on CPU. Prints one JSON line with the median step time. Usage:
torch_train_step.py d L T B vocab threads steps dtype(fp32|bf16)"""
import json, math, sys, time
import torch
import torch.nn.functional as F

d, L, T, B, V, threads, steps = map(int, sys.argv[1:8])
dtype = sys.argv[8] if len(sys.argv) > 8 else 'fp32'
torch.set_num_threads(threads)
torch.manual_seed(0)
H, hd, ff = d // 64, 64, int(2.5 * d)
m = d / 256

def p(*shape, std):
    return torch.nn.Parameter(torch.randn(*shape) * std)

emb = p(V, d, std=0.1)
layers = [dict(g1=torch.nn.Parameter(torch.ones(d)), q=p(d, d, std=0.1 / math.sqrt(m)), k=p(d, d, std=0.1 / math.sqrt(m)),
               v=p(d, d, std=0.1 / math.sqrt(m)), o=p(d, d, std=0.1 / math.sqrt(m)), g2=torch.nn.Parameter(torch.ones(d)),
               gate=p(ff, d, std=0.1 / math.sqrt(m)), up=p(ff, d, std=0.1 / math.sqrt(m)), down=p(d, ff, std=0.1 / math.sqrt(m)))
          for _ in range(L)]
gf = torch.nn.Parameter(torch.ones(d))
params = [emb, gf] + [t for l in layers for t in l.values()]
opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
ang = torch.outer(torch.arange(T).float(), inv)
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

def rms(x, g):
    return g * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)

def rope(x):
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin

def step(ids, tgt):
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=dtype == 'bf16'):
        x = F.embedding(ids, emb) * 12
        for l in layers:
            h = rms(x, l['g1'])
            q = rope((h @ l['q'].t()).view(B, T, H, hd).transpose(1, 2))
            k = rope((h @ l['k'].t()).view(B, T, H, hd).transpose(1, 2))
            v = (h @ l['v'].t()).view(B, T, H, hd).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True) if hasattr(F, 'scaled_dot_product_attention') else \
                torch.softmax((q @ k.transpose(-1, -2)) / 8 + torch.full((T, T), float('-inf')).triu(1), -1) @ v
            x = x + (a.transpose(1, 2).reshape(B, T, d) @ l['o'].t()) * (1.4 / math.sqrt(L))
            h = rms(x, l['g2'])
            x = x + ((F.silu(h @ l['gate'].t()) * (h @ l['up'].t())) @ l['down'].t()) * (1.4 / math.sqrt(L))
        logits = (rms(x, gf) / m) @ emb.t()
        loss = F.cross_entropy(logits.float().view(-1, V), tgt.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()

ids = torch.randint(0, V, (B, T))
times = []
for s in range(steps + 1):
    t0 = time.perf_counter()
    step(ids, ids)
    if s > 0:
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "tokens": B * T}))
