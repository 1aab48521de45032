/**
 * `minicpm demo` (`npm start`): MiniCPM's whole loop at micro scale on the built-in corpus (src/demo/):
 * tokenizer → stable → decay → SFT → DPO → evaluations → GPTQ int4 → a chat through the server → report.
 * Every stage is recorded when it finishes: rerunning continues where it stopped.
 */
import type { Command } from 'commander';
import { DEMO_DEFAULTS, flagOf, type DemoOptions } from '../demo/options.js';
import { runDemo } from '../demo/pipeline.js';
import { progressLine } from './progress.js';

export { DEMO_DEFAULTS };

export function registerDemoCommand(program: Command): void {
  const cmd = program
    .command('demo')
    .description(
      'the main job: tokenizer → stable → decay → SFT → DPO → evaluation → GPTQ int4 → served chat → HTML report',
    );
  for (const [key, value] of Object.entries(DEMO_DEFAULTS)) {
    const parse = (v: string): number | string => (typeof value === 'number' ? Number(v) : v);
    cmd.option(`--${flagOf(key)} <value>`, '', parse as (v: string) => never, value as never);
  }
  cmd.action(async (opts: DemoOptions) => {
    await runDemo(opts, { onStep: (m, total) => process.stderr.write(`   ${progressLine(m, total)}\n`) });
  });
}
