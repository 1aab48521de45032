/**
 * MiniCPM-V 1.0 configuration (SPEC.md §10): the language model's MiniCPM fields plus the image fields,
 * and the vision tower's shape from `vision_config` or, as in the released config, from the timm name
 * in `vision_encoder`. Versions 2.0+ are refused: their slicing, NaViT tower and LMs are another model.
 */
import { ConfigError, configFromHF, type MiniCPMConfig } from './config.js';

export interface VisionConfig {
  hiddenSize: number;
  numHeads: number;
  intermediateSize: number;
  /** Blocks that run (after drop_vision_last_layer). */
  numLayers: number;
  patchSize: number;
  /** Side of the stored `vpm.pos_embed` grid (native image size // patch size). */
  posGrid: number;
  layerNormEps: number;
}

export interface MiniCPMVConfig {
  llm: MiniCPMConfig;
  vision: VisionConfig;
  queryNum: number;
  /** Images are stretched to imageSize × imageSize. */
  imageSize: number;
  /** Resampler width (the language model's hidden size) and heads (width / 128). */
  embedDim: number;
  resamplerHeads: number;
}

/** timm names whose shape the released configs leave implicit. */
const KNOWN_ENCODERS: Record<string, Omit<VisionConfig, 'numLayers'> & { blocks: number }> = {
  vit_so400m_patch14_siglip_384: {
    hiddenSize: 1152,
    numHeads: 16,
    intermediateSize: 4304,
    blocks: 27,
    patchSize: 14,
    posGrid: 27,
    layerNormEps: 1e-6,
  },
};

type Json = Record<string, unknown>;

function posInt(json: Json, key: string, where: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new ConfigError(`${where} "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

export const IMAGE_START_ID = 101;
export const IMAGE_END_ID = 102;

export function minicpmvConfigFromHF(json: Json): MiniCPMVConfig {
  const v2 = ['slice_mode', 'max_slice_nums', 'version'].filter((k) => k in json);
  if (v2.length) {
    throw new ConfigError(
      `config.json has ${v2.join(', ')}: that is MiniCPM-V 2.0 or later (image slicing, another vision tower ` +
        'and language model), which is not supported; use an openbmb/MiniCPM-V (1.0) checkpoint',
    );
  }
  const drop = json.drop_vision_last_layer === undefined ? true : json.drop_vision_last_layer === true;
  const vc = json.vision_config as Json | undefined;
  let vision: VisionConfig;
  if (vc && typeof vc === 'object') {
    const w = 'config.json vision_config';
    const hiddenSize = posInt(vc, 'hidden_size', w);
    const numHeads = posInt(vc, 'num_attention_heads', w);
    if (hiddenSize % numHeads)
      throw new ConfigError(
        `${w}: hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numHeads}`,
      );
    const patchSize = posInt(vc, 'patch_size', w);
    const native = posInt(vc, 'image_size', w);
    const blocks = posInt(vc, 'num_hidden_layers', w);
    vision = {
      hiddenSize,
      numHeads,
      intermediateSize: posInt(vc, 'intermediate_size', w),
      numLayers: blocks - (drop ? 1 : 0),
      patchSize,
      // the stored table covers the native image's whole patches (so400m: 384 // 14 = 27)
      posGrid: Math.floor(native / patchSize),
      layerNormEps: typeof vc.layer_norm_eps === 'number' ? vc.layer_norm_eps : 1e-6,
    };
  } else {
    const name = (typeof json.vision_encoder === 'string' ? json.vision_encoder : '').replace(
      /\.[a-z0-9_]+$/i,
      '',
    );
    const known = KNOWN_ENCODERS[name];
    if (!known) {
      throw new ConfigError(
        `config.json has no vision_config and vision_encoder ${JSON.stringify(json.vision_encoder)} is not one we know ` +
          `(${Object.keys(KNOWN_ENCODERS).join(', ')}): add a vision_config with its shape`,
      );
    }
    const { blocks, ...rest } = known;
    vision = { ...rest, numLayers: blocks - (drop ? 1 : 0) };
  }
  if (vision.numLayers < 1)
    throw new ConfigError('the vision tower has no blocks left after drop_vision_last_layer');
  const llm = configFromHF(json);
  const embedDim = llm.hiddenSize;
  const resamplerHeads = Math.floor(embedDim / 128);
  if (resamplerHeads < 1 || embedDim % resamplerHeads)
    throw new ConfigError(
      `hidden_size ${embedDim} cannot be split into resampler heads of 128 (hidden_size // 128)`,
    );
  const queryNum = posInt(json, 'query_num', 'config.json', 64);
  const side = Math.round(Math.sqrt(queryNum));
  if (side * side !== queryNum)
    throw new ConfigError(
      `query_num ${queryNum} must be a square (the resampler's position table is a grid)`,
    );
  return {
    llm,
    vision,
    queryNum,
    imageSize: posInt(json, 'image_size', 'config.json', 448),
    embedDim,
    resamplerHeads,
  };
}
