// Imports flow downward only (DESIGN.md): tensor <- backends <- nn <- models <- ... <- cli.
const layer = (name, mayNotImport) => ({
  name: `${name}-imports-downward`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: `^src/(${mayNotImport.join('|')})/` },
});
module.exports = {
  forbidden: [
    layer('tensor', ['backends', 'nn', 'models', 'tokenizer', 'io', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('backends', ['nn', 'models', 'tokenizer', 'io', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('nn', ['models', 'tokenizer', 'io', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('models', ['backends', 'tokenizer', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('io', ['nn', 'models', 'tokenizer', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('tokenizer', ['backends', 'nn', 'models', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('image', ['tensor', 'backends', 'nn', 'models', 'tokenizer', 'io', 'data', 'train', 'sandbox', 'align', 'eval', 'quant', 'engine', 'server', 'web', 'cli']),
    layer('engine', ['tokenizer', 'data', 'train', 'sandbox', 'align', 'eval', 'server', 'web', 'cli']),
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    // Command files are thin and independent: only main.ts imports them; what two commands share lives
    // in a module below cli/ (or a cli helper such as progress.ts), never in another command file.
    {
      name: 'cli-commands-import-no-sibling-command',
      severity: 'error',
      from: { path: '^src/cli/.+\\.ts$', pathNot: '^src/cli/main\\.ts$' },
      to: { path: '^src/cli/(.+-commands?|demo)\\.ts$' },
    },
    // Runs open one way (train/run.ts: fresh, resume or branch, one data rule, one set of AdamW defaults):
    // above train/, the training loop is reached through openRun, never called directly.
    {
      name: 'runs-open-through-openRun',
      severity: 'error',
      from: { path: '^src/(cli|demo|sandbox|align|eval|quant|server)/' },
      to: { path: '^src/train/trainer\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    // The demo (npm start) orchestrates the layers below it; only the command line sits above it.
    {
      name: 'demo-sits-under-cli-only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli|demo)/' },
      to: { path: '^src/demo/' },
    },
  ],
  options: { tsConfig: { fileName: 'tsconfig.json' }, doNotFollow: { path: 'node_modules' } },
};
