/** The `minicpm` command: thin wrappers over the library's modules. */
import { Command } from 'commander';
import { useBackend } from '../backends/index.js';
import { registerAlignCommands } from './align-commands.js';
import { registerChatCommand } from './chat-command.js';
import { registerDataCommands } from './data-commands.js';
import { registerEvalCommand } from './eval-command.js';
import { registerDemoCommand } from './demo.js';
import { registerExportCommand } from './export-command.js';
import { registerImportCommand } from './import-command.js';
import { registerPerplexityCommand } from './perplexity-command.js';
import { registerLoraCommands } from './lora-command.js';
import { registerModelCommands } from './model-commands.js';
import { registerQuantizeCommand } from './quantize-command.js';
import { registerSandboxCommands } from './sandbox-commands.js';
import { registerServeCommand } from './serve-command.js';
import { registerWebCommand } from './web-command.js';
import { registerTokenizerCommands } from './tokenizer-commands.js';
import { registerTrainCommand } from './train-command.js';
import { registerVlmDemoCommand } from './vlm-demo-command.js';

export function buildProgram(): Command {
  const program = new Command('minicpm')
    .description(
      'The MiniCPM system in TypeScript: train, study, align, evaluate, quantize and run small language models',
    )
    .option('--backend <name>', 'auto | native | ref | wasm', 'auto')
    .hook('preAction', (cmd) => {
      useBackend(cmd.opts<{ backend: 'auto' | 'native' | 'ref' | 'wasm' }>().backend);
    });
  registerModelCommands(program);
  registerTrainCommand(program);
  registerAlignCommands(program);
  registerEvalCommand(program);
  registerServeCommand(program);
  registerChatCommand(program);
  registerWebCommand(program);
  registerQuantizeCommand(program);
  registerSandboxCommands(program);
  registerTokenizerCommands(program);
  registerDataCommands(program);
  registerDemoCommand(program);
  registerExportCommand(program);
  registerImportCommand(program);
  registerPerplexityCommand(program);
  registerLoraCommands(program);
  registerVlmDemoCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const err = e as Error;
    // Our typed errors carry the message a user needs; a stack would only hide it.
    console.error(`minicpm: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
    if (process.env.MINICPM_DEBUG) console.error(err.stack);
    process.exitCode = 1;
  }
}
