/** The shared whole-model reference fixtures (../shared/fixtures/minicpm), loaded one way for every test. */
import fs from 'node:fs';
import path from 'node:path';
import { openSafetensorsSync } from '../../src/io/safetensors.js';
import { configFromHF, type MiniCPMConfig } from '../../src/models/config.js';
import type { MiniCPM } from '../../src/models/minicpm.js';
import { loadParameters, type LoadOptions } from '../../src/models/weights.js';

export const FIXTURES = path.resolve(import.meta.dirname, '../../../shared/fixtures/minicpm');
export const haveFixtures = fs.existsSync(FIXTURES);

export interface LoadedFixture<E> {
  dir: string;
  config: MiniCPMConfig;
  model: MiniCPM;
  expected: E;
}

/** Config, weights (`weights` file of the fixture folder) and expected.json of one fixture. */
export function loadFixture<E>(
  name: string,
  weights = 'model.safetensors',
  opts: LoadOptions = {},
): LoadedFixture<E> {
  const dir = path.join(FIXTURES, name);
  const config = configFromHF(
    JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
  );
  const model = loadParameters(config, openSafetensorsSync(path.join(dir, weights)), opts);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as E;
  return { dir, config, model, expected };
}
