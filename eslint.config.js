import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', '.cache/', '.data/', 'test-artifacts/', '**/*.d.ts', 'functions/public/vendor/'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      // Only runtime/ talks to onnxruntime-node (style.md habit 8).
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['gpu-runner/**/*.ts'],
    ignores: ['gpu-runner/runtime/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'onnxruntime-node', message: 'Only gpu-runner/runtime/ imports onnxruntime-node.' }] }],
    },
  },
);
