/**
 * Images in chat requests (MiniCPM-V servers): each image part's URL is resolved (inline data: URLs
 * always; http(s) URLs only where the operator allowed fetching, since a server that fetches arbitrary
 * URLs for its clients is an SSRF hole), decoded as `minicpm generate --image` decodes files, and run
 * through the vision tower and resampler once per image per request; the prompt is MiniCPM-V 1.0's chat
 * rendering with each image part expanded to its `<image>…</image>` span. The tower runs on the
 * request's turn of the event loop, before the sequence joins the scheduler (whose passes then splice the
 * tokens into the prompt's chunks).
 */
import { renderImageChat } from '../align/vlm-examples.js';
import {
  decodeImage,
  ImageError,
  parseImageUrl,
  RemoteImageRefusedError,
  type RgbImage,
} from '../image/index.js';
import type { MiniCPMV } from '../models/minicpmv.js';
import { imageSpans, ImageSpanError, type PromptImage } from '../models/minicpmv-splice.js';
import { noGrad, type Tensor } from '../tensor/index.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/index.js';
import { AlignError } from '../align/errors.js';
import { ApiError } from './errors.js';
import { IMAGE_PART_MARKER, type ChatRequest } from './requests.js';

export interface ImageSupport {
  model: MiniCPMV;
  /** Fetch http(s) image URLs (default: refuse them with a 400). */
  allowRemote?: boolean;
  /** Images per request (default 8). */
  maxImages?: number;
  /** Decompression-bomb guard per image, in pixels (default 40 M). */
  maxPixels?: number;
  /** Largest image in bytes, inline or fetched (default 20 MiB). */
  maxBytes?: number;
  /** Time allowed to fetch one remote image (default 10 s). */
  fetchTimeoutMs?: number;
}

export interface ChatImages {
  prompt: number[];
  images: PromptImage[];
  /** Frees the image tokens (after every choice of the request has ended). */
  dispose(): void;
}

const bad = (message: string) => new ApiError(message, 400, 'messages');

async function fetchImage(url: URL, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
  } catch (e) {
    throw bad(`could not fetch the image at ${url.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw bad(`fetching the image at ${url.href} answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > maxBytes)
    throw bad(`the image at ${url.href} is over ${maxBytes} bytes: send a smaller one`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > maxBytes)
    throw bad(`the image at ${url.href} is over ${maxBytes} bytes: send a smaller one`);
  return bytes;
}

/** Decodes the request's images in order (400 on any bad one, naming it). */
export async function decodeRequestImages(s: ImageSupport, urls: readonly string[]): Promise<RgbImage[]> {
  const maxImages = s.maxImages ?? 8;
  if (urls.length > maxImages)
    throw bad(`the request has ${urls.length} images; this server takes at most ${maxImages} per request`);
  const maxBytes = s.maxBytes ?? 20 << 20;
  const out: RgbImage[] = [];
  for (const [i, url] of urls.entries()) {
    const what = `image ${i + 1} of the request`;
    try {
      const src = parseImageUrl(url, { allowRemote: s.allowRemote, maxBytes });
      const bytes =
        src.kind === 'inline' ? src.bytes : await fetchImage(src.url, maxBytes, s.fetchTimeoutMs ?? 10_000);
      out.push(await decodeImage(bytes, { what, maxPixels: s.maxPixels ?? 40_000_000 }));
    } catch (e) {
      if (e instanceof RemoteImageRefusedError) throw bad(`${what}: ${e.message} (--allow-image-urls)`);
      if (e instanceof ImageError) throw bad(`${what}: ${e.message}`);
      throw e;
    }
  }
  return out;
}

/**
 * MiniCPM-V 1.0's chat prompt for `messages` whose user turns hold `count` image markers, and the
 * position of each image span's first placeholder (400 when the markers and the images disagree).
 */
export function imageChatPrompt(
  model: MiniCPMV,
  tok: Tokenizer,
  messages: readonly ChatMessage[],
  count: number,
): { prompt: number[]; starts: number[] } {
  const markers = messages.reduce((k, m) => k + m.content.split(IMAGE_PART_MARKER).length - 1, 0);
  if (markers !== count)
    throw bad(
      `the text holds ${markers - count} literal ${IMAGE_PART_MARKER} marker(s) beyond the images: ` +
        'send images as image_url content parts and leave that marker out of the text',
    );
  const Q = model.config.queryNum;
  let prompt: number[];
  try {
    prompt = renderImageChat(tok, [...messages], Q, { addGenerationPrompt: true }).ids;
  } catch (e) {
    if (e instanceof AlignError) throw bad(e.message);
    throw e;
  }
  const starts = imageSpans(prompt, Q);
  if (starts.length !== count)
    throw new ImageSpanError(`rendered ${starts.length} image spans for ${count} images`);
  return { prompt, starts };
}

/** Each image's tokens [1, query_num, E] (the tower and the resampler run once per image). */
export function encodeImages(model: MiniCPMV, images: readonly RgbImage[]): Tensor[] {
  const out: Tensor[] = [];
  try {
    for (const img of images) out.push(noGrad(() => model.encodeImage(img)).keep());
  } catch (e) {
    out.forEach((t) => t.dispose());
    throw e;
  }
  return out;
}

/**
 * The prompt ids of a chat request on a MiniCPM-V server and its images' tokens (each image's tower
 * and resampler run once, whatever `n` is).
 */
export async function chatImages(s: ImageSupport, tok: Tokenizer, r: ChatRequest): Promise<ChatImages> {
  const { prompt, starts } = imageChatPrompt(s.model, tok, r.messages, r.images.length);
  const tokens = encodeImages(s.model, await decodeRequestImages(s, r.images));
  const images = tokens.map((t, i): PromptImage => ({ start: starts[i], tokens: t }));
  return { prompt, images, dispose: () => tokens.forEach((t) => t.dispose()) };
}
