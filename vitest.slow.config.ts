import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/** `npm run test:slow`: end-to-end reproductions too heavy for the default suite (see each file's header). */
export default defineConfig({ ...base, test: { ...base.test, include: ['test/**/*.slow.ts'] } });
