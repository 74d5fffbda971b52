/** Argument parsers of `tinykv ctl`: bad input is a usage error (exit 2) before anything is sent. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError, type OutputFormat } from '../output.js';
import { adminClient, DEFAULT_SCHEDULER, type TargetOptions } from './target.js';
import type { PdHttpClient } from './pd-http-client.js';

/** A whole number >= 1, or commander's usage error (exit 2): nothing half-parsed reaches the server. */
export function positiveInt(flag: string) {
  return (text: string): number => {
    const value = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`${flag} must be a positive integer, got "${text}"`);
    return value;
  };
}

/** An id or count given as an argument; `min` 0 for counts that may be zero. */
export function wholeArg(what: string, text: string, min = 1): number {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`${what} must be a whole number >= ${min}, got "${text}"`);
  return value;
}

export interface AdminOptions extends TargetOptions {
  readonly output: OutputFormat;
}

/** What a verb shows: the API's JSON (`--output json`) and its table. */
export interface Shown {
  readonly json: unknown;
  readonly table: string;
}

/** Options of one verb: the common ones plus its own (e.g. split-region's --policy). */
export type VerbOptions = AdminOptions & Readonly<Record<string, unknown>>;

export type VerbRun = (client: PdHttpClient, args: readonly string[], options: VerbOptions) => Promise<Shown>;

export interface VerbSetup {
  /** Run when the parent is given without a verb (`tinykv ctl store` lists). */
  readonly isDefault?: boolean;
  /** Adds the verb's own options. */
  readonly options?: (command: Command) => Command;
}

function withAdminOptions(command: Command): Command {
  return command
    .option('--pd <url>', 'the scheduler admin API, e.g. http://127.0.0.1:2380')
    .option('--scheduler <host:port>', `the scheduler gRPC address; its admin API is on port + 1 (default ${DEFAULT_SCHEDULER})`)
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--timeout-ms <ms>', 'deadline of each HTTP call in milliseconds', positiveInt('--timeout-ms'), 10_000);
}

/**
 * Adds `parent <spec>` (e.g. `show <id>`) calling `run` with the positional arguments (a variadic
 * one flattened) and printing what it shows in the chosen format.
 */
export function verb(
  parent: Command,
  spec: string,
  description: string,
  run: VerbRun,
  print: (text: string) => void,
  setup: VerbSetup = {},
): Command {
  const command = withAdminOptions(parent.command(spec, { isDefault: setup.isDefault }).description(description));
  return (setup.options?.(command) ?? command).action(async (...all: unknown[]) => {
    const options = all.at(-2) as VerbOptions;
    // Commander hands positional arguments as strings, a variadic one as an array of strings.
    const args = (all.slice(0, -2) as Array<string | string[] | undefined>).flatMap((a) => a ?? []);
    const shown = await run(adminClient(options), args, options);
    print(options.output === 'json' ? JSON.stringify(shown.json, null, 2) : shown.table);
  });
}

/** A PD answer that is a message (a JSON string), shown as is. */
export function message(json: unknown): Shown {
  return { json, table: typeof json === 'string' ? json : JSON.stringify(json) };
}
