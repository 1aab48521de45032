"""Reference K-quant blocks from llama.cpp's own ggml (the libggml-base.so node-llama-cpp ships), for
test/io/gguf-q6k.test.ts. Run once; the output is committed and the tests need neither Python nor this
library:  python3 scripts/make-ggml-kquant-fixture.py

Output test/fixtures/io/ggml-q6k-ref.bin and ggml-q4k-ref.bin: u32 magic 'Q6KR' / 'Q4KR', u32 row count
R, then per row u32 n, n float32 inputs, then the n/256 blocks of quantize_row_q6_K_ref (210 bytes each) /
quantize_row_q4_K_ref (144 bytes each) for them.
"""
import ctypes, glob, os, struct
import numpy as np

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lib_path = glob.glob(os.path.join(root, 'node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so'))[0]
ggml = ctypes.CDLL(lib_path)
for fn in (ggml.quantize_row_q6_K_ref, ggml.quantize_row_q4_K_ref):
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None

rng = np.random.default_rng(20261206)
rows = []
def add(x):
    rows.append(np.ascontiguousarray(x, dtype=np.float32))

add(rng.standard_normal(256 * 8) * 0.02)                      # weight-like
add(rng.standard_normal(256 * 4) * 3.0)                        # large
x = rng.standard_normal(256 * 4) * 0.05; x[::97] *= 40; add(x)  # outliers
x = rng.standard_normal(256 * 2); x[:256] = 0; add(x)          # an all-zero super-block
x = rng.standard_normal(256 * 2); x[16:32] = 0; x[300:316] = 1e-30; add(x)  # zero / denormal-ish sub-blocks
x = rng.standard_normal(256); x[0:16] *= 1e-4; add(x)          # a sub-block whose scale rounds to 0
add(rng.uniform(-1, 1, 256 * 4))                               # uniform
add(np.round(rng.standard_normal(256 * 2) * 8) / 8)            # many exact ties
add(-np.abs(rng.standard_normal(256)))                         # one sign
add(rng.standard_normal(256) * 1e-6)                           # tiny
add(rng.standard_normal(256) * 60000)                          # near fp16 range

for magic, fn, block, name in ((b'Q6KR', ggml.quantize_row_q6_K_ref, 210, 'ggml-q6k-ref.bin'),
                                (b'Q4KR', ggml.quantize_row_q4_K_ref, 144, 'ggml-q4k-ref.bin')):
    out = bytearray(struct.pack('<4sI', magic, len(rows)))
    for x in rows:
        y = (ctypes.c_uint8 * (len(x) // 256 * block))()
        fn(x.ctypes.data, ctypes.addressof(y), len(x))
        out += struct.pack('<I', len(x)) + x.tobytes() + bytes(y)
    dst = os.path.join(root, 'test/fixtures/io', name)
    open(dst, 'wb').write(out)
    print(f'wrote {dst}: {len(rows)} rows, {len(out)} bytes')
