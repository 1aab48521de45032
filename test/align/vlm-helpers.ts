/**
 * The tiny MiniCPM-V that the image-SFT tests train: a BPE tokenizer trained on the test text, a 1-layer
 * 128-wide language model and a 2-block 8-wide tower on 16² images, written as a model folder under `root`.
 */
import path from 'node:path';
import { writeMiniCPMVFolder } from '../../src/align/vlm-checkpoint.js';
import { MiniCPM } from '../../src/models/minicpm.js';
import { minicpmvConfigFromHF } from '../../src/models/minicpmv-config.js';
import { buildMiniCPMV, initVisionParams } from '../../src/models/minicpmv-init.js';
import { Rng } from '../../src/tensor/index.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { trainBpe } from '../../src/tokenizer/trainer.js';
import { writeTrainedTokenizer } from '../../src/tokenizer/trainer-output.js';
import { TRAIN_TEXT } from '../tokenizer/helpers.js';

export async function writeTinyVlm(root: string) {
  const tokDir = path.join(root, 'tokenizer');
  writeTrainedTokenizer(await trainBpe(TRAIN_TEXT, { vocabSize: 480 }), tokDir);
  const tok = loadTokenizer(tokDir).tokenizer;
  const config = minicpmvConfigFromHF({
    model_type: 'minicpmv',
    vocab_size: tok.vocabSize,
    hidden_size: 128,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    dim_model_base: 64,
    query_num: 4,
    image_size: 16,
    drop_vision_last_layer: false,
    vision_config: {
      hidden_size: 8,
      num_attention_heads: 2,
      intermediate_size: 16,
      num_hidden_layers: 2,
      patch_size: 8,
      image_size: 16,
    },
  });
  const modelDir = path.join(root, 'model');
  await writeMiniCPMVFolder(
    modelDir,
    buildMiniCPMV(config, MiniCPM.init(config.llm, new Rng(0)), initVisionParams(config, new Rng(1))),
    tokDir,
  );
  return { tokDir, tok, config, modelDir };
}
