/**
 * The GPU runner's entry: `node --import tsx gpu-runner/worker/main.ts [--flag value ...]` (flags in
 * `worker-process.ts`). Configuration comes from the environment through shared/config.ts.
 */
import { ConfigError, loadWorkerConfig } from '../../shared/config.ts';
import { loadRealEngine } from './real-engine.ts';
import { runWorkerProcess } from './worker-process.ts';

try {
  const code = await runWorkerProcess({
    argv: process.argv.slice(2),
    config: loadWorkerConfig(),
    // Set by the ECS agent, not by us, so it is not part of the project's configuration.
    ecsAgentUri: process.env.ECS_AGENT_URI,
    loadEngine: loadRealEngine,
  });
  // Keep-alive sockets of the AWS clients would hold the event loop open; exit once stdout (the logs) is flushed.
  process.stdout.write('', () => process.exit(code));
} catch (error) {
  process.stderr.write(`${error instanceof ConfigError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
