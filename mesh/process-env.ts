/**
 * The environment and node flags every process of the mesh runs with, in one place: the one spawner
 * (mesh/processes.ts, used by `npm start`, the demo, the test meshes and the bench) adds the
 * environment under the caller's, `serviceCommand` (mesh/services.ts) puts the flags before the
 * script, and `npm run service` and the Docker entrypoint take both from
 * `node dist/mesh/process-env.js`, which prints `NAME=value … node <flags>` for `env` to run.
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
 */
export const PROCESS_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/**
 * V8's heap sizes. By default the young generation takes up to 3 × 16 MB and the old generation grows
 * far past what a process keeps alive before a full GC runs: an orders process exporting 1,000,000 rows
 * (bench/service-export.ts, process.memoryUsage() and v8.getHeapSpaceStatistics() sampled every 25 ms)
 * peaked at ~180 MB RSS with 32 MB of new space and 60 MB of old space, of which ~20 MB was alive
 * at idle, and the pages' freed buffers (external memory, released only when their objects are
 * collected) at ~38 MB.
 * - `--max-semi-space-size=4`: a 4 MB semi-space (new space 8 MB) instead of 16 MB; ~15 MB less at idle.
 *   Alone it raised the export's peak (old space 100 MB: a page's rows outlive a scavenge and are
 *   promoted), so it comes with the next flag.
 * - `--max-old-space-size=64`: the old generation's limit, which V8 also sizes its GC triggers by, so
 *   promoted pages are collected at ~40 MB instead of accumulating; with both the export peaked at
 *   ~124 MB, at ~86 MB idle. A process's live heap (idle ~20 MB, plus at most one export page and
 *   one message, services/kit/export.ts) stays well under it.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=64'];

if (require.main === module) {
  process.stdout.write(`${[...Object.entries(PROCESS_ENV).map(([name, value]) => `${name}=${value}`), 'node', ...NODE_FLAGS].join(' ')}\n`);
}
