/**
 * The `ocd` command line. Each subcommand is one module in ./commands/ exporting
 * `run(argv: string[]): Promise<number>` (the exit code) and a one-line `summary`.
 * New commands need no change here: `ocd <name>` loads ./commands/<name>.ts.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CommandModule {
  summary: string;
  /** Printed after a one-line error when the command's flags do not parse. */
  usage?: string;
  run(argv: string[]): Promise<number>;
}

const commandsDir = join(dirname(fileURLToPath(import.meta.url)), 'commands');

function commandNames(): string[] {
  return readdirSync(commandsDir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3))
    .sort();
}

async function load(name: string): Promise<CommandModule> {
  return (await import(join(commandsDir, `${name}.ts`))) as CommandModule;
}

async function printHelp(): Promise<void> {
  const lines = ['usage: ocd <command> [options]', '', 'commands:'];
  for (const name of commandNames()) lines.push(`  ${name.padEnd(10)} ${(await load(name)).summary}`);
  lines.push('', 'Run `ocd <command> --help` for the options of one command.');
  console.log(lines.join('\n'));
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    await printHelp();
    return name ? 0 : 2;
  }
  if (!commandNames().includes(name)) {
    console.error(`ocd: unknown command '${name}'. Commands: ${commandNames().join(', ')}.`);
    return 2;
  }
  const command = await load(name);
  try {
    return await command.run(rest);
  } catch (error) {
    // node:util parseArgs rejects unknown or malformed flags with ERR_PARSE_ARGS_* codes: a usage error.
    if (!String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw error;
    console.error(`ocd ${name}: ${(error as Error).message.split('\n')[0]}\n\n${command.usage ?? `Run \`ocd ${name} --help\` for its options.`}`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
