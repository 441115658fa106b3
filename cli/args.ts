/**
 * The one flag parser of the repository (`erasure`, `npm start`, `npm run bench`):
 * `[positionals] [--flag value | --flag=value | --switch | --list a,b --list c]`.
 * Unknown flags and missing values are usage errors (exit 2), never ignored.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `list` flags take comma-separated values and may be repeated; their values accumulate. */
export type FlagSpec = Record<string, 'string' | 'boolean' | 'list'>;

export type FlagValue = string | boolean | string[] | undefined;

export interface Parsed {
  positionals: string[];
  flags: Record<string, FlagValue>;
}

export function parseArgs(argv: string[], spec: FlagSpec): Parsed {
  const positionals: string[] = [];
  const flags: Record<string, FlagValue> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      flags.help = true;
      continue;
    }
    // `-o <file>` is `--output <file>` for the commands that write one (`erasure export`).
    if (arg === '-o' && spec.output === 'string') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError('-o needs a value');
      flags.output = value;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (kind === 'list') flags[name] = [...((flags[name] as string[] | undefined) ?? []), ...value.split(',').filter(Boolean)];
    else flags[name] = value;
  }
  return { positionals, flags };
}

/** A positive integer flag within bounds, or the default. */
export function intFlag(value: FlagValue, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || number < min || number > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return number;
}
