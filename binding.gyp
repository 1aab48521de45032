{
  # minicpm_native: the C kernel library behind src/backends/kernels-native.ts.
  # Built for baseline x86-64 (never -march=native: the binary must run on any x86-64). Files named
  # *-avx2.c, *-avx512.c, *-avx512bf16.c, *-avx512vnni.c go into static libraries compiled with that
  # ISA's -m flags and are entered only after run-time CPU detection (`build-native.mjs --sources`
  # lists them, so adding a kernel file needs no edit here). Other architectures build the baseline
  # files only.
  'variables': {
    'mc_cflags': ['-O3', '-fPIC', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter',
                  '-fno-math-errno', '-fopenmp-simd'],
    'mc_avx512': ['-mavx2', '-mfma', '-mf16c', '-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq'],
  },
  'target_defaults': {
    'cflags': ['<@(mc_cflags)'],
    'cflags!': ['-O2', '-O0', '-fno-omit-frame-pointer'],
    'xcode_settings': {'GCC_OPTIMIZATION_LEVEL': '3', 'OTHER_CFLAGS': ['-std=gnu11', '-fno-math-errno']},
  },
  'targets': [
    {
      'target_name': 'minicpm_native',
      'sources': ['<!@(node scripts/build-native.mjs --sources base)'],
      'libraries': ['-lpthread', '-lm'],
      'conditions': [
        ['target_arch=="x64"', {
          'dependencies': ['mc_avx2', 'mc_avx512', 'mc_avx512bf16', 'mc_avx512vnni'],
        }],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'mc_avx2',
          'type': 'static_library',
          'sources': ['<!@(node scripts/build-native.mjs --sources avx2)'],
          'cflags': ['-mavx2', '-mfma', '-mf16c'],
          'xcode_settings': {'OTHER_CFLAGS': ['-mavx2', '-mfma', '-mf16c']},
        },
        {
          'target_name': 'mc_avx512',
          'type': 'static_library',
          'sources': ['<!@(node scripts/build-native.mjs --sources avx512)'],
          'cflags': ['<@(mc_avx512)'],
          'xcode_settings': {'OTHER_CFLAGS': ['<@(mc_avx512)']},
        },
        {
          'target_name': 'mc_avx512bf16',
          'type': 'static_library',
          'sources': ['<!@(node scripts/build-native.mjs --sources avx512bf16)'],
          'cflags': ['<@(mc_avx512)', '-mavx512bf16'],
          'xcode_settings': {'OTHER_CFLAGS': ['<@(mc_avx512)', '-mavx512bf16']},
        },
        {
          'target_name': 'mc_avx512vnni',
          'type': 'static_library',
          'sources': ['<!@(node scripts/build-native.mjs --sources avx512vnni)'],
          'cflags': ['<@(mc_avx512)', '-mavx512vnni'],
          'xcode_settings': {'OTHER_CFLAGS': ['<@(mc_avx512)', '-mavx512vnni']},
        },
      ],
    }],
  ],
}
