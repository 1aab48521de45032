"""Peer for `npm run bench -- vision`: a plain-PyTorch eager forward of the MiniCPM-V 1.0 vision tower
(SigLIP blocks as timm runs them) and the perceiver resampler, random weights, fp32, no autograd.
Written for the benchmark from SPEC.md §10 (not imported from timm), so both sides do the same work.

usage: torch_vision.py width heads mlp blocks patch image pos_grid query_num embed threads reps
prints one JSON line {"median_s": ..., "blas": ...} (seconds per image, the BLAS library torch's linears ran on)

Fairness: Debian's python3-torch is built with BLAS_INFO=generic, so F.linear runs on whatever
libblas.so.3 the alternatives system points at. With only libblas3 installed that is the Fortran
reference BLAS (unblocked, single-threaded: a 6-block forward took 101 s); the bench installs
libopenblas0-pthread, which takes over libblas.so.3, and this script refuses to time the reference
BLAS. Threads: torch.set_num_threads plus OMP_NUM_THREADS/OPENBLAS_NUM_THREADS from the bench.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

(width, heads, mlp, blocks, patch, image, pos_grid, query_num, embed, threads, reps) = map(int, sys.argv[1:12])
torch.set_num_threads(threads)
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)


def w(*shape, std=0.02):
    return torch.randn(*shape, generator=g) * std


P = {
    'pos': w(1, pos_grid * pos_grid, width),
    'patch_w': w(width, 3, patch, patch),
    'patch_b': torch.zeros(width),
    'norm_w': torch.ones(width),
    'norm_b': torch.zeros(width),
}
B = [
    dict(
        n1w=torch.ones(width), n1b=torch.zeros(width), n2w=torch.ones(width), n2b=torch.zeros(width),
        qkv_w=w(3 * width, width), qkv_b=torch.zeros(3 * width), proj_w=w(width, width), proj_b=torch.zeros(width),
        fc1_w=w(mlp, width), fc1_b=torch.zeros(mlp), fc2_w=w(width, mlp), fc2_b=torch.zeros(width),
    )
    for _ in range(blocks)
]
R = dict(
    query=w(query_num, embed), pos=w(query_num, embed), proj=w(embed, embed), kv_w=w(embed, width),
    in_w=w(3 * embed, embed), in_b=torch.zeros(3 * embed), out_w=w(embed, embed), out_b=torch.zeros(embed),
    lnq_w=torch.ones(embed), lnq_b=torch.zeros(embed), lnkv_w=torch.ones(embed), lnkv_b=torch.zeros(embed),
    lnp_w=torch.ones(embed), lnp_b=torch.zeros(embed),
)


def attend(q, k, v, h):
    # q [T, C], k/v [S, C] -> [T, C], heads split from C
    T, C = q.shape
    S = k.shape[0]
    d = C // h
    q = q.view(T, h, d).transpose(0, 1)
    k = k.view(S, h, d).transpose(0, 1)
    v = v.view(S, h, d).transpose(0, 1)
    a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)
    return (a @ v).transpose(0, 1).reshape(T, C)


def forward(px):
    gh = px.shape[2] // patch
    # the patch conv as one GEMM over unfolded patches (what ours does; Debian's conv2d is far slower)
    patches = px.reshape(3, gh, patch, gh, patch).permute(1, 3, 0, 2, 4).reshape(gh * gh, 3 * patch * patch)
    x = F.linear(patches, P['patch_w'].reshape(width, -1), P['patch_b'])  # [N, width]
    pos = P['pos'].reshape(1, pos_grid, pos_grid, width).permute(0, 3, 1, 2)
    pos = F.interpolate(pos, size=(gh, gh), mode='bicubic', antialias=True, align_corners=False)
    x = x + pos.permute(0, 2, 3, 1).reshape(-1, width)
    for b in B:
        h = F.layer_norm(x, (width,), b['n1w'], b['n1b'], 1e-6)
        q, k, v = F.linear(h, b['qkv_w'], b['qkv_b']).chunk(3, dim=-1)
        x = x + F.linear(attend(q, k, v, heads), b['proj_w'], b['proj_b'])
        h = F.layer_norm(x, (width,), b['n2w'], b['n2b'], 1e-6)
        x = x + F.linear(F.gelu(F.linear(h, b['fc1_w'], b['fc1_b'])), b['fc2_w'], b['fc2_b'])
    x = F.layer_norm(x, (width,), P['norm_w'], P['norm_b'], 1e-6)
    side = int(math.sqrt(query_num))
    pk = R['pos'].reshape(1, side, side, embed).permute(0, 3, 1, 2)
    pk = F.interpolate(pk, size=(gh, gh), mode='bicubic', align_corners=False).permute(0, 2, 3, 1).reshape(-1, embed)
    kv = F.layer_norm(F.linear(x, R['kv_w']), (embed,), R['lnkv_w'], R['lnkv_b'], 1e-6)
    q = F.layer_norm(R['query'], (embed,), R['lnq_w'], R['lnq_b'], 1e-6)
    wq, wk, wv = R['in_w'].chunk(3)
    bq, bk, bv = R['in_b'].chunk(3)
    o = attend(F.linear(q + R['pos'], wq, bq), F.linear(kv + pk, wk, bk), F.linear(kv, wv, bv), embed // 128)
    o = F.layer_norm(F.linear(o, R['out_w'], R['out_b']), (embed,), R['lnp_w'], R['lnp_b'], 1e-6)
    return o @ R['proj']


def blas_library():
    """The BLAS shared object mapped into this process (after a matmul has loaded it)."""
    torch.nn.functional.linear(torch.ones(64, 64), torch.ones(64, 64))
    with open('/proc/self/maps') as f:
        libs = {line.split()[-1] for line in f if 'blas' in line.split()[-1].lower()}
    return sorted(libs)


blas = blas_library()
if not any('openblas' in lib or 'mkl' in lib or 'blis' in lib for lib in blas):
    sys.exit(
        f'torch runs its linears on the reference BLAS ({blas}): install libopenblas0-pthread '
        '(apt-get install -y libopenblas0-pthread) so that libblas.so.3 is OpenBLAS'
    )

px = torch.randn(1, 3, image, image, generator=g)
times = []
with torch.no_grad():
    forward(px)
    for _ in range(reps):
        t0 = time.perf_counter()
        forward(px)
        times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({
    'median_s': times[len(times) // 2], 'torch': torch.__version__, 'threads': torch.get_num_threads(),
    'blas': blas[0] if blas else None,
}))
