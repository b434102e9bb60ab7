/**
 * Subcommand dispatch shared by the `ocd` commands that have subcommands (`ocd model tiny`, `ocd control canny`):
 * one handler per subcommand, the usage on --help, and one rule for exit codes.
 */

/** A mistake in how the command was called: exits 2 and prints the usage after the message. */
export class UsageError extends Error {}

/** Subcommand name -> handler of its remaining arguments (returns the exit code). */
export type SubcommandHandlers = Readonly<Record<string, (argv: string[]) => Promise<number>>>;

/**
 * Runs `argv[0]`'s handler. Exit codes: the handler's; 0 for --help/-h; 2 for no subcommand, an unknown one, a
 * `UsageError` or a malformed option (parseArgs' ERR_PARSE_ARGS_*), each with the usage; 1 for any other error,
 * with its message.
 * @example return runSubcommands('control', USAGE, { canny: runCanny }, argv);
 */
export async function runSubcommands(command: string, usage: string, handlers: SubcommandHandlers, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === undefined || sub === '--help' || sub === '-h') {
      console.log(usage);
      return sub ? 0 : 2;
    }
    const handler = Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
    if (!handler) throw new UsageError(`unknown subcommand '${sub}'; allowed: ${Object.keys(handlers).join(', ')}`);
    return await handler(rest);
  } catch (error) {
    console.error(`ocd ${command}: ${(error as Error).message}`);
    if (error instanceof UsageError || String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) {
      console.error(usage);
      return 2;
    }
    return 1;
  }
}
