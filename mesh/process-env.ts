/**
 * The environment every process of the mesh runs with, in one place: the one spawner
 * (mesh/processes.ts, used by `npm start`, the demo, the test meshes and the bench) adds it under the
 * caller's environment, and `npm run service` and the Docker entrypoint take it from
 * `node dist/mesh/process-env.js`, which prints it as `env` arguments.
 *
 * glibc's malloc, not V8, held the growth of a streaming process (measured with process.memoryUsage()
 * sampled every 50 ms in an orders process exporting 1,000,000 rows): V8's heap and external memory
 * accounted for the peak except ~30 MB of native memory that stayed resident after the 0.5–1 MB
 * buffers of each page and message were freed. Two settings return it:
 * - `MALLOC_MMAP_THRESHOLD_`: blocks from 128 KB up are mmap'ed and unmapped when freed. By default
 *   glibc raises this threshold after the first such free, and later large buffers come from the heap,
 *   which keeps the pages.
 * - `MALLOC_ARENA_MAX`: at most two arenas. Node's worker threads (V8 platform, libuv pool) would each
 *   get one, every arena keeping its own free memory.
 * V8 flags were measured too and left out: `--max-semi-space-size=2` (or 4) lowered the idle size by
 * ~15 MB but raised the export's peak (a page's rows were promoted to the old generation).
 */
export const PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

if (require.main === module) {
  process.stdout.write(`${Object.entries(PROCESS_ENV).map(([name, value]) => `${name}=${value}`).join(' ')}\n`);
}
