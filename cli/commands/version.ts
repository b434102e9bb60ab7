import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

export const summary = 'print the package version';
export const usage = 'usage: ocd version';

export async function run(argv: string[] = []): Promise<number> {
  parseArgs({ args: argv, options: {}, strict: true });
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  console.log(pkg.version);
  return 0;
}
