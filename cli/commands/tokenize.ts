/**
 * `ocd tokenize <modelDir> "<prompt>"`: prints the 77 CLIP token ids the text encoder gets for a prompt
 * (BOS, up to 75 tokens, EOS, padded with EOS), as a JSON array. A note goes to stderr when the prompt
 * was truncated.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLIPTokenizer } from '../../gpu-runner/models/clip-tokenizer.ts';

export const summary = "print a prompt's 77 CLIP token ids (JSON) using a model folder's tokenizer";

export const usage = 'usage: ocd tokenize <modelDir> "<prompt>"';

/** Entry point of `ocd tokenize`. */
export async function run(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(`ocd tokenize: expected a model folder and one prompt; got ${positionals.length} arguments (quote the prompt)\n${usage}`);
    return 2;
  }
  const [modelDir, prompt] = positionals;
  const vocabPath = join(modelDir, 'tokenizer', 'vocab.json');
  const mergesPath = join(modelDir, 'tokenizer', 'merges.txt');
  const missing = [vocabPath, mergesPath].filter((path) => !existsSync(path));
  if (missing.length > 0) {
    console.error(`ocd tokenize: missing file ${missing.join(', ')}; is ${modelDir} a diffusers model folder?`);
    return 1;
  }
  try {
    const { ids, truncated } = CLIPTokenizer.fromFiles(vocabPath, mergesPath).encodeForModel(prompt);
    console.log(JSON.stringify(ids));
    if (truncated) console.error('ocd tokenize: the prompt is longer than 75 tokens and was truncated');
    return 0;
  } catch (error) {
    console.error(`ocd tokenize: ${(error as Error).message}`);
    return 1;
  }
}
