import { Writable } from 'node:stream';
import { runCli } from '../../cli/erasure';
import { TEST_DATA_DIR, testKeys } from './keys';

/** A stream that keeps what is written to it (the CLI's stdout or stderr in a test). */
export function sink(): Writable & { text: () => string; isTTY?: boolean } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & { text: () => string };
  stream.text = () => chunks.join('');
  return stream;
}

/** Runs the CLI in-process with the test keys' data folder; returns the exit code and both outputs. */
export async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  await testKeys(); // the key files under TEST_DATA_DIR/keys exist
  const code = await runCli(args, { env: { ERASURE_DATA_DIR: TEST_DATA_DIR, ...env }, stdout, stderr });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}
