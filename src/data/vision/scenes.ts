/**
 * Synthetic image–text scenes for the micro MiniCPM-V run (SPEC §10, training): one to three coloured
 * shapes in the cells of a 2×2 grid, rasterised by our own code into 8-bit RGB, with a caption (stage 1)
 * and questions with one-word or two-word answers about counts, colours, shapes and positions (stage 2).
 * Everything follows from the seed: the same seed gives the same pixels and texts on every machine.
 */
import { rgbImage, type RgbImage } from '../../image/index.js';
import { Rng } from '../random.js';

export const SHAPES = ['circle', 'square', 'triangle'] as const;
export const COLOURS = ['red', 'green', 'blue', 'yellow'] as const;
export const CELLS = ['top left', 'top right', 'bottom left', 'bottom right'] as const;
export const COUNT_WORDS = ['zero', 'one', 'two', 'three'] as const;

export type Shape = (typeof SHAPES)[number];
export type Colour = (typeof COLOURS)[number];

const RGB: Record<Colour, [number, number, number]> = {
  red: [214, 39, 40],
  green: [44, 160, 44],
  blue: [31, 90, 220],
  yellow: [235, 200, 30],
};

export interface SceneObject {
  shape: Shape;
  colour: Colour;
  /** Index into CELLS. */
  cell: number;
  /** Half-size of the shape in pixels and its centre offset inside the cell (jitter). */
  radius: number;
  dx: number;
  dy: number;
}

export interface Scene {
  objects: SceneObject[];
  /** Background grey level. */
  background: number;
}

/** The kinds of questions, each with its closed answer set (what "chance" is measured against). */
export const QUESTION_KINDS = {
  count: { answers: ['one', 'two', 'three'] },
  colour: { answers: [...COLOURS] },
  shape: { answers: [...SHAPES] },
  position: { answers: [...CELLS] },
} as const;
export type QuestionKind = keyof typeof QUESTION_KINDS;

export interface QuestionAnswer {
  kind: QuestionKind;
  question: string;
  answer: string;
}

/** A random scene: 1–3 objects in distinct cells, sizes and offsets jittered so pixels never repeat exactly. */
export function randomScene(rng: Rng, size: number): Scene {
  const n = 1 + rng.int(3);
  const cells = rng.shuffle([0, 1, 2, 3]).slice(0, n);
  const cellSize = size / 2;
  const objects = cells.map((cell) => {
    const radius = Math.max(2, Math.round(cellSize * (0.28 + 0.12 * rng.float())));
    const slack = Math.max(0, Math.floor(cellSize / 2 - radius - 1));
    return {
      shape: rng.pick(SHAPES),
      colour: rng.pick(COLOURS),
      cell,
      radius,
      dx: slack ? rng.int(2 * slack + 1) - slack : 0,
      dy: slack ? rng.int(2 * slack + 1) - slack : 0,
    };
  });
  objects.sort((a, b) => a.cell - b.cell);
  return { objects, background: 200 + rng.int(40) };
}

/** Whether pixel (x + ½, y + ½) lies inside the object (centre cx, cy). */
function inside(o: SceneObject, px: number, py: number, cx: number, cy: number): boolean {
  const u = px - cx;
  const v = py - cy;
  const r = o.radius;
  if (o.shape === 'circle') return u * u + v * v <= r * r;
  if (o.shape === 'square') return Math.abs(u) <= r * 0.85 && Math.abs(v) <= r * 0.85;
  // an upward triangle: apex at (0, −r), base from (−r, r) to (r, r)
  return v >= -r && v <= r && Math.abs(u) <= (v + r) / 2;
}

/** Rasterises a scene into a size × size RGB image (pixel centres sampled, no antialiasing). */
export function renderScene(scene: Scene, size: number): RgbImage {
  const img = rgbImage(size, size);
  img.data.fill(scene.background);
  const cellSize = size / 2;
  for (const o of scene.objects) {
    const cx = (o.cell % 2) * cellSize + cellSize / 2 + o.dx;
    const cy = Math.floor(o.cell / 2) * cellSize + cellSize / 2 + o.dy;
    const [r, g, b] = RGB[o.colour];
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        if (!inside(o, x + 0.5, y + 0.5, cx, cy)) continue;
        const i = (y * size + x) * 3;
        img.data[i] = r;
        img.data[i + 1] = g;
        img.data[i + 2] = b;
      }
  }
  return img;
}

const describe = (o: SceneObject) => `a ${o.colour} ${o.shape} at the ${CELLS[o.cell]}`;

/** The stage-1 caption: every object, in cell order. */
export function caption(scene: Scene): string {
  const parts = scene.objects.map(describe);
  const list =
    parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
  return `${list}.`;
}

/**
 * Every question the scene answers unambiguously: its count, the shape and colour in each occupied
 * cell, and where a shape or colour is when only one object has it.
 */
export function questions(scene: Scene): QuestionAnswer[] {
  const out: QuestionAnswer[] = [
    { kind: 'count', question: 'How many shapes are there?', answer: COUNT_WORDS[scene.objects.length] },
  ];
  for (const o of scene.objects) {
    const where = CELLS[o.cell];
    out.push({ kind: 'shape', question: `What shape is at the ${where}?`, answer: o.shape });
    out.push({ kind: 'colour', question: `What colour is the shape at the ${where}?`, answer: o.colour });
    if (scene.objects.filter((p) => p.shape === o.shape).length === 1)
      out.push({ kind: 'position', question: `Where is the ${o.shape}?`, answer: where });
    if (scene.objects.filter((p) => p.colour === o.colour).length === 1)
      out.push({ kind: 'position', question: `Where is the ${o.colour} shape?`, answer: where });
  }
  return out;
}
