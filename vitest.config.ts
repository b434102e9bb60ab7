import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Numerical graph tests and emulator-backed tests take seconds each on a 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // 2 cores: two workers keep wall time down without oversubscribing onnxruntime's threads.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
