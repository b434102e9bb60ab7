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
    // The AWS SDK is pinned to a release that supports Node 20; its notice about later releases is noise in logs.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
