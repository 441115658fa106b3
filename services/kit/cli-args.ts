/** A small `--flag value` parser for the operator commands; unknown flags are an error, not ignored. */
export function parseFlags(
  argv: string[],
  spec: Record<string, 'string' | 'boolean' | 'list'>,
): Record<string, string | boolean | string[] | undefined> {
  const out: Record<string, string | boolean | string[] | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const kind = spec[name];
    if (!kind) throw new Error(`unknown option --${name} (known: ${Object.keys(spec).map((k) => `--${k}`).join(', ')})`);
    if (kind === 'boolean') {
      out[name] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
    if (kind === 'list') out[name] = [...((out[name] as string[] | undefined) ?? []), ...value.split(',')];
    else out[name] = value;
  }
  return out;
}
