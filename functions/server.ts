/** Local Node entry: the same app on PORT, plus the playground from functions/public/ when it exists. */
import { existsSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { ConfigError, loadApiConfig } from '../shared/config.ts';
import { createApp } from './app.ts';
import { realDeps } from './real-deps.ts';

try {
  const config = loadApiConfig();
  const app = createApp(realDeps(config));
  const publicDir = new URL('./public/', import.meta.url).pathname;
  if (existsSync(publicDir)) app.use('/*', serveStatic({ root: publicDir }));
  serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => console.log(JSON.stringify({ level: 'info', message: 'listening', host: config.host, port: info.port })));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
