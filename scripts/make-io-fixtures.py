#!/usr/bin/env python3
"""Regenerate the small PyTorch fixtures of test/fixtures/io (run with Debian's python3-torch).

    /usr/bin/python3 scripts/make-io-fixtures.py

Writes, next to each .pt file, the values the TypeScript reader must produce (expected-*.json), so the
tests never need Python. Values are chosen to be exact in every dtype they are stored in.
"""
import collections
import io
import json
import os
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'io')
os.makedirs(OUT, exist_ok=True)

DTYPE_NAMES = {
    torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
    torch.bool: 'BOOL',
}


def describe(t):
    """dtype, shape and values (as float or int/bool lists) of a tensor, row-major."""
    flat = t.detach().contiguous().reshape(-1)
    if t.dtype == torch.bool:
        values = [bool(v) for v in flat.tolist()]
    elif t.dtype.is_floating_point:
        values = [float(v) for v in flat.float().tolist()] if t.dtype != torch.float64 else flat.tolist()
    else:
        values = [int(v) for v in flat.tolist()]
    # JSON has no inf/nan: spell them as strings, which the tests map back.
    values = [v if not isinstance(v, float) or v == v and abs(v) != float('inf') else str(v) for v in values]
    return {'dtype': DTYPE_NAMES[t.dtype], 'shape': list(t.shape), 'values': values}


def save(name, obj, expected):
    path = os.path.join(OUT, name)
    torch.save(obj, path)  # default: the zip format (PyTorch >= 1.6)
    with open(os.path.join(OUT, 'expected-' + name.replace('.pt', '.json')), 'w') as f:
        json.dump({k: describe(v) for k, v in expected.items()}, f, indent=1)
        f.write('\n')


g = torch.Generator().manual_seed(0)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1  # exact in f16/bf16 too
shared = torch.arange(10, dtype=torch.float32) * 0.25

tensors = collections.OrderedDict()
tensors['f32'] = base.clone()
tensors['f64'] = base.double() / 3
tensors['f16'] = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
                               float('inf'), float('-inf')], dtype=torch.float16)
tensors['bf16'] = (torch.randn(3, 5, generator=g) * 4).to(torch.bfloat16)
tensors['i64'] = torch.tensor([[-(2 ** 40), -1, 0], [1, 2 ** 40, 7]], dtype=torch.int64)
tensors['i32'] = torch.tensor([-(2 ** 31), -1, 0, 2 ** 31 - 1], dtype=torch.int32)
tensors['i16'] = torch.tensor([-32768, 5, 32767], dtype=torch.int16)
tensors['i8'] = torch.tensor([-128, 0, 127], dtype=torch.int8)
tensors['u8'] = torch.tensor([0, 1, 255], dtype=torch.uint8)
tensors['bool'] = torch.tensor([True, False, True])
tensors['scalar'] = torch.tensor(3.5)
tensors['empty'] = torch.zeros(0, 3)
tensors['transposed'] = base.t()  # non-contiguous view: strides (1, 6)
tensors['shared_a'] = shared[2:8].view(2, 3)  # storage offset 2, shares storage with shared_b
tensors['shared_b'] = shared[1::3]  # offset 1, stride 3
tensors['bf16_t'] = tensors['bf16'].t()[1:]  # non-contiguous bf16 with an offset
save('state-dict.pt', tensors, tensors)

# A module's state_dict: OrderedDict with a `_metadata` attribute (pickled with BUILD) and Parameters.
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    lin.bias.copy_(torch.tensor([0.5, -0.5]))
save('module.pt', lin.state_dict(), lin.state_dict())
# Parameters themselves (torch._utils._rebuild_parameter).
params = {'w': torch.nn.Parameter(torch.tensor([[1.0, -1.0]])), 'nested': {'b': torch.tensor([2, 3])}}
save('parameters.pt', params, {'w': params['w'], 'nested.b': params['nested']['b']})

# The same state dict re-zipped with deflate, which zip readers must inflate.
src = os.path.join(OUT, 'module.pt')
def rezip(src, dst, compression):
    """Copy a zip entry by entry with a fixed timestamp, so that the fixture is reproducible."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:
        for item in zin.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = compression
            zout.writestr(info, zin.read(item.filename))


rezip(src, os.path.join(OUT, 'module-deflated.pt'), zipfile.ZIP_DEFLATED)

# ZIP64 records (what a > 4 GB checkpoint has): lowering zipfile's limits makes it emit the ZIP64 end
# record, locator and per-entry extra fields for this tiny archive.
src = os.path.join(OUT, 'state-dict.pt')
saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 64, 4
try:
    rezip(src, os.path.join(OUT, 'state-dict-zip64.pt'), zipfile.ZIP_STORED)
finally:
    zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved

# The pre-1.6 format, which we refuse with a clear message (its bytes change on every run: storage keys are
# object ids).
torch.save({'x': torch.ones(2)}, os.path.join(OUT, 'legacy.pt'), _use_new_zipfile_serialization=False)


class Evil:
    """Unpickling this would run a shell command: the reader must refuse before calling anything."""

    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/minicpm-pwned',))


torch.save({'weight': torch.zeros(2), 'evil': Evil()}, os.path.join(OUT, 'malicious.pt'))

total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
print(f'wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}')
