/** Every sandbox study by its command name. */
import type { StudyDefinition } from '../study.js';
import { batchSizeStudy } from './batch-size.js';
import { decayDataStudy } from './decay-data.js';
import { hpSearchStudy } from './hp-search.js';
import { lrStudy } from './lr.js';
import { scalingStudy } from './scaling.js';
import { wsdStudy } from './wsd.js';

export type AnyStudy = StudyDefinition<Record<string, unknown>>;

// Each study has its own options type; the CLI checks options against the study's defaults.
const erase = <O extends Record<string, unknown>>(s: StudyDefinition<O>): AnyStudy => s;

export const STUDIES: AnyStudy[] = [
  erase(lrStudy),
  erase(batchSizeStudy),
  erase(wsdStudy),
  erase(scalingStudy),
  erase(hpSearchStudy),
  erase(decayDataStudy),
];
