/**
 * Synthetic scenes for vision-language experiments that need no downloaded data: a few coloured
 * shapes (circle, square, triangle) at grid positions on a plain background, rendered exactly (a pixel
 * is inside a shape or not; no anti-aliasing), with the scene kept as structured facts from which
 * captions and question–answer pairs can be written. Deterministic from a seed.
 */
import { rgbImage, type RgbImage } from './rgb-image.js';

export const SHAPES = ['circle', 'square', 'triangle'] as const;
export type ShapeKind = (typeof SHAPES)[number];

/** Named colours far apart in RGB, so a model can tell them apart after resizing. */
export const COLORS = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [235, 210, 40],
  purple: [150, 60, 190],
  orange: [245, 140, 30],
} as const satisfies Record<string, readonly [number, number, number]>;
export type ColorName = keyof typeof COLORS;

/** Positions of a 3×3 grid, row-major: what "where is the …?" questions can answer. */
export const POSITIONS = [
  'top left',
  'top',
  'top right',
  'left',
  'center',
  'right',
  'bottom left',
  'bottom',
  'bottom right',
] as const;
export type PositionName = (typeof POSITIONS)[number];

export interface SceneObject {
  shape: ShapeKind;
  color: ColorName;
  /** Grid cell 0..8 (row-major 3×3), see POSITIONS. */
  cell: number;
}

export interface Scene {
  size: number;
  background: readonly [number, number, number];
  objects: SceneObject[];
}

/** mulberry32: a tiny seeded generator (the image layer imports nothing of ours). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1..maxObjects objects in distinct cells with random shapes and colours. */
export function randomScene(rand: () => number, size = 96, maxObjects = 4): Scene {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const n = 1 + Math.floor(rand() * maxObjects);
  const cells = [...Array(9).keys()];
  for (let i = cells.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [cells[i], cells[j]] = [cells[j], cells[i]];
  }
  const colors = Object.keys(COLORS) as ColorName[];
  const objects = cells.slice(0, n).map((cell) => ({ shape: pick(SHAPES), color: pick(colors), cell }));
  return { size, background: [245, 245, 245], objects };
}

/** Whether pixel centre (x, y) lies inside `shape` centred at (cx, cy) with half-size r. */
function inside(shape: ShapeKind, x: number, y: number, cx: number, cy: number, r: number): boolean {
  const dx = x - cx;
  const dy = y - cy;
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square':
      return Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
    case 'triangle':
      // apex up: inside when below the apex and within the widening sides
      return dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2;
  }
}

/** The scene's pixels: each object fills most of its grid cell. */
export function renderScene(scene: Scene): RgbImage {
  const { size } = scene;
  const img = rgbImage(size, size);
  const d = img.data;
  for (let i = 0; i < size * size; i++) d.set(scene.background, i * 3);
  const cellSize = size / 3;
  const r = cellSize * 0.4;
  for (const o of scene.objects) {
    const cx = (o.cell % 3) * cellSize + cellSize / 2;
    const cy = Math.floor(o.cell / 3) * cellSize + cellSize / 2;
    const rgb = COLORS[o.color];
    for (let y = Math.max(0, Math.floor(cy - r - 1)); y < Math.min(size, Math.ceil(cy + r + 1)); y++)
      for (let x = Math.max(0, Math.floor(cx - r - 1)); x < Math.min(size, Math.ceil(cx + r + 1)); x++)
        if (inside(o.shape, x + 0.5, y + 0.5, cx, cy, r)) d.set(rgb, (y * size + x) * 3);
  }
  return img;
}

/** The centre pixel of a cell: where a renderer test (or a human) can read an object's colour. */
export function cellCenter(size: number, cell: number): [number, number] {
  const c = size / 3;
  return [Math.floor((cell % 3) * c + c / 2), Math.floor(Math.floor(cell / 3) * c + c / 2)];
}
