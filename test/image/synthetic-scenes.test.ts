/** Synthetic scenes: deterministic, objects where the facts say, shapes told apart by their pixels. */
import { describe, expect, it } from 'vitest';
import {
  cellCenter,
  COLORS,
  randomScene,
  renderScene,
  seededRandom,
  type Scene,
} from '../../src/image/index.js';

function pixel(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return Array.from(img.data.subarray(i, i + 3));
}

describe('synthetic scenes', () => {
  it('are deterministic from the seed and keep objects in distinct cells', () => {
    const a = randomScene(seededRandom(7));
    const b = randomScene(seededRandom(7));
    expect(a).toEqual(b);
    expect(renderScene(a).data).toEqual(renderScene(b).data);
    for (let s = 0; s < 50; s++) {
      const sc = randomScene(seededRandom(s));
      expect(new Set(sc.objects.map((o) => o.cell)).size).toBe(sc.objects.length);
      expect(sc.objects.length).toBeGreaterThanOrEqual(1);
      expect(sc.objects.length).toBeLessThanOrEqual(4);
    }
  });

  it('paints each object in its colour at its cell centre and leaves empty cells as background', () => {
    for (let s = 0; s < 20; s++) {
      const sc = randomScene(seededRandom(100 + s));
      const img = renderScene(sc);
      for (let cell = 0; cell < 9; cell++) {
        const o = sc.objects.find((x) => x.cell === cell);
        const [x, y] = cellCenter(sc.size, cell);
        expect(pixel(img, x, y)).toEqual(o ? [...COLORS[o.color]] : [...sc.background]);
      }
    }
  });

  it('draws shapes with their closed-form areas (triangle r², circle πr², square (1.7r)²)', () => {
    const area = (shape: 'circle' | 'square' | 'triangle') => {
      const sc: Scene = { size: 90, background: [0, 0, 0], objects: [{ shape, color: 'red', cell: 4 }] };
      const d = renderScene(sc).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 3) if (d[i] === COLORS.red[0]) n++;
      return n;
    };
    const [t, c, q] = [area('triangle'), area('circle'), area('square')];
    // r = 12 (0.4 of a 30-pixel cell): triangle 2r·2r/2 = 288, circle πr² ≈ 452, square (1.7r)² ≈ 416
    expect(Math.abs(t - 288)).toBeLessThan(40);
    expect(Math.abs(c - Math.PI * 144)).toBeLessThan(40);
    expect(Math.abs(q - (2 * 0.85 * 12) ** 2)).toBeLessThan(60);
  });
});
