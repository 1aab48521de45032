/**
 * `response_format: {"type": "json_schema"}` through the official `openai` client, on an untrained
 * model (the constraint alone makes the output valid): a schema whose documents are bounded always
 * ends with finish_reason "stop" and a document that validates; with free strings and numbers, every
 * answer is a prefix of a valid document and every finished one is valid; unsupported keywords are a
 * BadRequestError naming them.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../src/backends/index.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { presetConfig } from '../../src/models/presets.js';
import { buildServer } from '../../src/server/app.js';
import { GenerationService } from '../../src/server/generation-service.js';
import { compileSchema } from '../../src/server/json-schema.js';
import { feedSchemaText, schemaStart } from '../../src/server/json-schema-prefix.js';
import { Rng } from '../../src/tensor/index.js';
import { SentencePieceTokenizer } from '../../src/tokenizer/sentencepiece.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { trainedModelProto } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

useBackend('auto');
const tok = SentencePieceTokenizer.fromProto(
  trainedModelProto(await trainBpe(TRAIN_TEXT, { vocabSize: 400 })),
);
const app = buildServer(
  new GenerationService(MiniCPM.init(presetConfig('tiny', tok.vocabSize), new Rng(5)), tok, 'tiny'),
  { processMetrics: false },
);
let client: OpenAI;

beforeAll(async () => {
  client = new OpenAI({
    baseURL: `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1`,
    apiKey: 'none',
    maxRetries: 0,
  });
});
afterAll(() => app.close());

const messages = [{ role: 'user' as const, content: 'Describe the weather as JSON.' }];

/** Every property required and every value a literal or an object of them: documents are bounded. */
const BOUNDED = {
  type: 'object',
  properties: {
    sunny: { type: 'boolean' },
    level: { enum: ['low', 'high', 3, null] },
    wind: {
      type: 'object',
      properties: { strong: { type: 'boolean' }, from: { enum: ['north', 'south'] } },
      required: ['strong', 'from'],
      additionalProperties: false,
    },
    note: { type: 'null' },
  },
  required: ['sunny', 'level', 'wind', 'note'],
  additionalProperties: false,
};

const OPEN = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    degrees: { type: 'number' },
    days: { type: 'integer' },
    tags: { type: 'array', items: { enum: ['rain', 'sun'] } },
  },
  required: ['city', 'days'],
};

async function ask(schema: object, seed: number, max_tokens: number) {
  const r = await client.chat.completions.create({
    model: 'tiny',
    messages,
    max_tokens,
    temperature: 1,
    seed,
    response_format: {
      type: 'json_schema',
      json_schema: { name: 'weather', schema: schema as never, strict: true },
    },
  });
  return { text: r.choices[0].message.content!, finish: r.choices[0].finish_reason };
}

describe('json_schema through the openai client', () => {
  it('a bounded schema always finishes with a document that validates', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const { text, finish } = await ask(BOUNDED, seed, 400);
      expect(finish, text).toBe('stop');
      const v = JSON.parse(text) as {
        sunny: unknown;
        level: unknown;
        wind: { strong: unknown; from: unknown };
        note: unknown;
      };
      expect(Object.keys(v).sort()).toEqual(['level', 'note', 'sunny', 'wind']);
      expect(typeof v.sunny).toBe('boolean');
      expect(['low', 'high', 3, null]).toContain(v.level);
      expect(Object.keys(v.wind).sort()).toEqual(['from', 'strong']);
      expect(typeof v.wind.strong).toBe('boolean');
      expect(['north', 'south']).toContain(v.wind.from);
      expect(v.note).toBeNull();
    }
  });

  it('free strings and numbers: every answer a valid prefix, every finished one valid', async () => {
    const root = compileSchema(OPEN);
    for (const seed of [1, 2, 3]) {
      const { text, finish } = await ask(OPEN, seed, 200);
      expect(feedSchemaText(schemaStart(root), text), text).not.toBeNull();
      if (finish !== 'stop') continue;
      const v = JSON.parse(text) as Record<string, unknown>;
      expect(typeof v.city).toBe('string');
      expect(Number.isInteger(v.days)).toBe(true);
      if ('degrees' in v) expect(typeof v.degrees).toBe('number');
      if ('tags' in v) expect((v.tags as unknown[]).every((t) => t === 'rain' || t === 'sun')).toBe(true);
      expect(Object.keys(v).every((k) => k in OPEN.properties)).toBe(true);
    }
  });

  it('unsupported keywords and malformed formats are a BadRequestError that names them', async () => {
    const bad = async (response_format: unknown) =>
      client.chat.completions
        .create({ model: 'tiny', messages, max_tokens: 4, response_format: response_format as never })
        .catch((e: unknown) => e);
    const minimum = await bad({
      type: 'json_schema',
      json_schema: {
        name: 'x',
        schema: { type: 'object', properties: { a: { type: 'integer', minimum: 0 } } },
      },
    });
    expect(minimum).toBeInstanceOf(OpenAI.BadRequestError);
    expect((minimum as Error).message).toMatch(/"minimum" is not supported.*\/properties\/a/);
    const noSchema = await bad({ type: 'json_schema', json_schema: { name: 'x' } });
    expect(noSchema).toBeInstanceOf(OpenAI.BadRequestError);
    expect((noSchema as Error).message).toMatch(/json_schema/);
  });
});
