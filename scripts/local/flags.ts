/**
 * The flags every start script takes, parsed strictly: an unknown flag stops with one line and the usage.
 * `--host` and `--base-port` have environment twins (OCD_HOST, OCD_BASE_PORT) so that separately started parts
 * agree without repeating flags.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_BASE_PORT, parsePort, type StackOverrides } from './settings.ts';

export const STACK_FLAGS_HELP = `  --base-port N   listen on N..N+4: API, S3, SQS, DynamoDB, worker health (default ${DEFAULT_BASE_PORT}; or OCD_BASE_PORT=N)
  --host ADDR     address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for every interface; or OCD_HOST)`;

const STACK_OPTIONS = {
  'base-port': { type: 'string' },
  host: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/**
 * Parses a start script's arguments; prints the usage and exits on --help (0) or a bad flag (2).
 * @param extra further options of this script, with their help lines
 */
export function stackFlags(command: string, argv: string[], extra: { options: NonNullable<ParseArgsConfig['options']>; help: string } = { options: {}, help: '' }): { overrides: StackOverrides; values: Record<string, string | boolean | undefined> } {
  const usage = `usage: ${command} [options]\n\noptions:\n${STACK_FLAGS_HELP}${extra.help ? `\n${extra.help}` : ''}`;
  try {
    const values = parseArgs({ args: argv, options: { ...STACK_OPTIONS, ...extra.options }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    const basePort = typeof values['base-port'] === 'string' ? parsePort(values['base-port'], '--base-port') : undefined;
    const host = typeof values.host === 'string' ? values.host : undefined;
    return { overrides: { basePort, host }, values };
  } catch (error) {
    console.error(`${command}: ${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}
