/*
 * Repacking AutoGPTQ and GGUF Q4_0/Q8_0 matrices into W2/W4/W8 tiles (qrepack.h). Loops run tile by tile
 * (16 output rows), so the writes of one tile stay within its blocks·BB bytes (cache-resident) while the
 * reads are whole 64-byte lines of 16 consecutive words; the TypeScript twin walks the source in file order.
 */
#include "qrepack.h"

#include <string.h>

#define TILE 16

void mc_qrepack_gptq_codes(const int32_t *qweight, long out, long K, int bits, const int32_t *colByte,
                           const uint8_t *colShift, long rowStride, uint8_t *codes) {
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  const long rows = K / per;
  for (long o0 = 0; o0 < out; o0 += TILE) {
    const long n = out - o0 < TILE ? out - o0 : TILE;
    uint8_t *tile = codes + (o0 / TILE) * rowStride;
    for (long rho = 0; rho < rows; rho++) {
      const uint32_t *w = (const uint32_t *)qweight + rho * out + o0;
      const int32_t *cb = colByte + rho * per;
      const uint8_t *cs = colShift + rho * per;
      for (long r = 0; r < n; r++) {
        uint32_t word = w[r];
        uint8_t *row = tile + r * 4;
        for (int i = 0; i < per; i++, word >>= bits) row[cb[i]] |= (uint8_t)((word & mask) << cs[i]);
      }
    }
  }
}

long mc_qrepack_gptq_params(const uint16_t *scales, const int32_t *qzeros, const int32_t *blockGroup,
                            long out, long blocks, int bits, int zeroOffset, int zmax, uint16_t *wscales,
                            uint8_t *wzeros) {
  const int per = 32 / bits;
  const uint32_t mask = (1u << bits) - 1;
  const long zrow = out / per;
  for (long o0 = 0; o0 < out; o0 += TILE) {
    const long n = out - o0 < TILE ? out - o0 : TILE;
    for (long b = 0; b < blocks; b++) {
      const long g = blockGroup[b];
      const long p = ((o0 / TILE) * blocks + b) * TILE;
      for (long r = 0; r < n; r++) {
        const long o = o0 + r;
        wscales[p + r] = scales[g * out + o];
        const uint32_t word = (uint32_t)qzeros[g * zrow + o / per];
        const int z = (int)((word >> (bits * (o % per))) & mask) + zeroOffset;
        if (z > zmax) return g * out + o;
        wzeros[p + r] = (uint8_t)z;
      }
    }
  }
  return -1;
}

void mc_qrepack_q4_0(const uint8_t *data, long out, long blocks, uint8_t *codes, uint16_t *scales,
                     uint8_t *zeros) {
  for (long o = 0; o < out; o++) {
    const long t = o / TILE, r = o % TILE;
    for (long b = 0; b < blocks; b++) {
      const uint8_t *src = data + (o * blocks + b) * 18;
      const long p = (t * blocks + b) * TILE + r;
      scales[p] = (uint16_t)(src[0] | (src[1] << 8));
      zeros[p] = 8;
      uint8_t *dst = codes + (t * blocks + b) * 256 + r * 4;
      for (int s = 0; s < 4; s++) memcpy(dst + s * 64, src + 2 + 4 * s, 4);
    }
  }
}

void mc_qrepack_q8_0(const uint8_t *data, long out, long blocks, uint8_t *codes, uint16_t *scales,
                     uint8_t *zeros) {
  for (long o = 0; o < out; o++) {
    const long t = o / TILE, r = o % TILE;
    for (long b = 0; b < blocks; b++) {
      const uint8_t *src = data + (o * blocks + b) * 34;
      const long p = (t * blocks + b) * TILE + r;
      scales[p] = (uint16_t)(src[0] | (src[1] << 8));
      zeros[p] = 128;
      uint8_t *dst = codes + (t * blocks + b) * 512 + r * 4;
      for (int s = 0; s < 8; s++)
        for (int i = 0; i < 4; i++) dst[s * 64 + i] = src[2 + 4 * s + i] ^ 0x80;
    }
  }
}
