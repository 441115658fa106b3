import { resolve } from 'node:path';

/** Repository root (services/kit/ is two levels down); works from sources and from dist/. */
export const repoRoot = resolve(__dirname, __dirname.includes('/dist/') ? '../../..' : '../..');

/** Local data (embedded PostgreSQL, the dev signing secret): `ERASURE_DATA_DIR` or `./.data`. */
export function dataDir(): string {
  return resolve(process.env.ERASURE_DATA_DIR ?? resolve(repoRoot, '.data'));
}
