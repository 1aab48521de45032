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
  ],
  options: { tsConfig: { fileName: 'tsconfig.json' }, doNotFollow: { path: 'node_modules' } },
};
