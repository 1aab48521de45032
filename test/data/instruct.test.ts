import { describe, expect, it } from 'vitest';
import type { Poem } from '../../src/data/corpus/poetry.js';
import type { Synset } from '../../src/data/corpus/wordnet.js';
import {
  arithmeticItems,
  authorItems,
  chatText,
  definitionItems,
  nextLineItems,
  synthesizeInstructions,
} from '../../src/data/instruct/synth.js';
import { Rng } from '../../src/data/random.js';

const synsets: Synset[] = [
  {
    offset: '1',
    pos: 'noun',
    lexFile: 1,
    words: ['aardvark', 'ant bear'],
    definition: 'nocturnal burrowing mammal of Africa',
    examples: [],
  },
  {
    offset: '2',
    pos: 'noun',
    lexFile: 1,
    words: ['bank'],
    definition: 'sloping land beside a body of water',
    examples: [],
  },
  {
    offset: '3',
    pos: 'noun',
    lexFile: 1,
    words: ['bank'],
    definition: 'a financial institution that accepts deposits',
    examples: [],
  },
  {
    offset: '4',
    pos: 'noun',
    lexFile: 1,
    words: ['zebra'],
    definition: 'striped wild horse of African plains',
    examples: [],
  },
  {
    offset: '5',
    pos: 'verb',
    lexFile: 2,
    words: ['amble'],
    definition: 'walk leisurely and without hurry',
    examples: ['we ambled along'],
  },
];

const poems: Poem[] = [
  {
    title: '靜夜思',
    author: '李白',
    lines: ['床前明月光，疑是地上霜。', '舉頭望明月，低頭思故鄉。'],
    file: 't',
  },
  {
    title: '春曉',
    author: '孟浩然',
    lines: ['春眠不覺曉，處處聞啼鳥。', '夜來風雨聲，花落知多少。'],
    file: 't',
  },
  { title: '無題', author: '李商隱', lines: ['相見時難別亦難，東風無力百花殘。'], file: 't' },
  { title: '無題', author: '李白', lines: ['床前明月光，疑是天上霜。'], file: 't' },
  ...Array.from({ length: 15 }, (_, i): Poem => ({
    title: `雜詩${i}`,
    author: ['杜甫', '王維', '白居易'][i % 3],
    lines: [`山${i}水長流去，雲${i}深不知處。`],
    file: 't',
  })),
];

describe('synthetic instructions', () => {
  it('asks for definitions of single-sense words only, with other definitions of the same part of speech as wrong answers', () => {
    const items = [...definitionItems(synsets, new Rng(1), 10)];
    expect(items.map((i) => i.prompt).sort()).toEqual([
      'What does the noun "aardvark" mean?',
      'What does the noun "zebra" mean?',
    ]);
    const aard = items.find((i) => i.prompt.includes('aardvark'))!;
    expect(aard.chosen).toBe('Nocturnal burrowing mammal of Africa.');
    expect(aard.rejected.length).toBeGreaterThan(0);
    expect(aard.rejected).not.toContain(aard.chosen);
    expect(aard.rejected.every((r) => !r.includes('walk'))).toBe(true);
  });

  it('continues couplets only where the first half has one known continuation', () => {
    const items = [...nextLineItems(poems, new Rng(2), 100)];
    expect(items.some((i) => i.prompt.includes('床前明月光'))).toBe(false);
    const spring = items.find((i) => i.prompt === '请写出下一句：春眠不覺曉，')!;
    expect(spring.chosen).toBe('處處聞啼鳥。');
    expect(spring.rejected.every((r) => r.length === spring.chosen.length && r !== spring.chosen)).toBe(true);
  });

  it('asks for authors of unambiguous titles, with other poets as wrong answers', () => {
    const items = [...authorItems(poems, new Rng(3), 100)];
    expect(items.length).toBe(17);
    expect(items.some((i) => i.prompt.includes('無題'))).toBe(false);
    for (const i of items) {
      const poem = poems.find((p) => i.prompt === `《${p.title}》的作者是谁？`)!;
      expect(i.chosen).toBe(poem.author);
      expect(i.rejected).not.toContain(i.chosen);
    }
  });

  it('computes arithmetic correctly with plausible wrong answers', () => {
    for (const item of arithmeticItems(new Rng(4), 300)) {
      const m = /(\d+) ?(\+|-|\*|加|减|乘以) ?(\d+)/.exec(item.prompt)!;
      const [a, b] = [Number(m[1]), Number(m[3])];
      const value = { '+': a + b, 加: a + b, '-': a - b, 减: a - b, '*': a * b, 乘以: a * b }[m[2]]!;
      expect(item.chosen).toBe(String(value));
      expect(item.rejected.length).toBeGreaterThan(0);
      expect(item.rejected).not.toContain(item.chosen);
    }
  });

  it('is deterministic and renders in MiniCPM chat format', () => {
    const a = synthesizeInstructions({ synsets, poems }, { seed: 9, perKind: 5 });
    const b = synthesizeInstructions({ synsets, poems }, { seed: 9, perKind: 5 });
    expect(a).toEqual(b);
    expect(new Set(a.map((i) => i.kind))).toEqual(
      new Set(['definition', 'next-line', 'author', 'arithmetic']),
    );
    expect(chatText(' 1+1? ', '2 ')).toBe('<用户>1+1?<AI>2');
  });
});
