/** AWS Lambda entry (Function URL or HTTP API v2 events). Configuration is validated at cold start. */
import { handle } from 'hono/aws-lambda';
import { loadApiConfig } from '../shared/config.ts';
import { createApp } from './app.ts';
import { realDeps } from './real-deps.ts';

export const handler = handle(createApp(realDeps(loadApiConfig())));
