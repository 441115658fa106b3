/**
 * The requester's side of an archive (used by `erasure export` and `erasure verify-export`, and by the
 * tests): the downloaded, encrypted archive (NDJSON lines, see format.ts) is decrypted with the
 * recipient's private key into a plain tar file — `manifest.jws` first, then one NDJSON file per
 * service and entity — that any tar reads; `verifyArchive` checks such a tar against its signed manifest.
 * Both work file by file and chunk by chunk: an archive is never held in memory whole.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { JWK } from 'jose';
import type { TrustBundle } from '../../services/kit/keys';
import { ARCHIVE_FORMAT, decryptChunk, unwrapContentKey, verifyManifest, type ArchiveLine, type Manifest } from './format';

const BLOCK = 512;
export const MANIFEST_FILE = 'manifest.jws';

/** A ustar header for a regular file (names up to 100 bytes, which `<service>/<entity>.ndjson` are). */
function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(name) > 100) throw new Error(`file name too long for the archive: ${name}`);
  header.write(name, 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148); // checksum field counts as spaces while summing
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return header;
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** Reads an async source of byte pieces as lines. */
async function* lines(source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): AsyncGenerator<string> {
  let rest = '';
  for await (const piece of source) {
    rest += piece.toString();
    let at: number;
    while ((at = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, at);
      rest = rest.slice(at + 1);
    }
  }
  if (rest.trim()) yield rest;
}

/**
 * Decrypts a downloaded archive (its bytes as they arrive) into a tar written through `write`, after
 * checking the manifest's signature (with `trust`, when given). Returns the manifest.
 */
export async function decryptArchive(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  privateJwk: JWK,
  write: (data: Buffer) => Promise<void>,
  trust?: TrustBundle,
): Promise<Manifest> {
  let jobId = '';
  let manifest: Manifest | undefined;
  let current: { name: string; key: Buffer; seq: number; written: number; size: number } | undefined;
  const endFile = async () => {
    if (!current) return;
    if (current.written !== current.size) throw new Error(`${current.name}: ${current.written} bytes decrypted, the manifest says ${current.size}`);
    await write(padding(current.size));
    current.key.fill(0);
    current = undefined;
  };
  for await (const text of lines(source)) {
    const line = JSON.parse(text) as ArchiveLine;
    if ('format' in line) {
      if (line.format !== ARCHIVE_FORMAT) throw new Error('not an export archive of this format');
      jobId = line.job_id;
      manifest = trust ? await verifyManifest(line.manifest, trust) : (JSON.parse(Buffer.from(line.manifest.split('.')[1]!, 'base64url').toString()) as Manifest);
      const jws = Buffer.from(line.manifest);
      await write(tarHeader(MANIFEST_FILE, jws.length));
      await write(jws);
      await write(padding(jws.length));
    } else if ('key' in line) {
      await endFile();
      const entry = manifest?.files.find((f) => f.name === line.file);
      if (!entry) throw new Error(`${line.file} is not in the manifest`);
      current = { name: line.file, key: await unwrapContentKey(line.key, privateJwk), seq: 0, written: 0, size: entry.bytes };
      await write(tarHeader(line.file, entry.bytes));
    } else {
      if (!current || current.name !== line.file || current.seq !== line.seq) throw new Error(`chunk ${line.seq} of ${line.file} is out of place`);
      const plain = decryptChunk(current.key, jobId, line.file, line.seq, Buffer.from(line.data, 'base64'));
      current.seq += 1;
      current.written += plain.length;
      await write(plain);
    }
  }
  await endFile();
  if (!manifest) throw new Error('the archive has no manifest');
  await write(Buffer.alloc(BLOCK * 2));
  return manifest;
}

async function readExactly(file: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await file.read(buffer, done, length - done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return buffer.subarray(0, done);
}

export interface VerifyResult {
  manifest: Manifest;
  /** Problems found; empty when the archive verifies. */
  problems: string[];
}

/**
 * Checks a decrypted archive (tar): the manifest's signature against the orchestrator's key, and every
 * file's size and SHA-256 against the manifest; a file missing, added, or changed is a problem.
 */
export async function verifyArchive(path: string, trust: TrustBundle): Promise<VerifyResult> {
  const file = await open(path, 'r');
  try {
    const problems: string[] = [];
    let manifest: Manifest | undefined;
    const seen = new Set<string>();
    for (;;) {
      const header = await readExactly(file, BLOCK);
      if (header.length < BLOCK || header.every((b) => b === 0)) break;
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
      const hash = createHash('sha256');
      let body: Buffer[] | undefined = name === MANIFEST_FILE ? [] : undefined;
      for (let left = size; left > 0; ) {
        const piece = await readExactly(file, Math.min(left, 1 << 20));
        if (!piece.length) throw new Error(`${name} is cut short`);
        hash.update(piece);
        body?.push(piece);
        left -= piece.length;
      }
      await readExactly(file, padding(size).length);
      if (name === MANIFEST_FILE) {
        manifest = await verifyManifest(Buffer.concat(body!).toString('utf8'), trust);
        continue;
      }
      if (!manifest) throw new Error(`${MANIFEST_FILE} must come first`);
      const entry = manifest.files.find((f) => f.name === name);
      seen.add(name);
      if (!entry) problems.push(`${name} is not in the manifest`);
      else if (entry.bytes !== size || entry.sha256 !== hash.digest('hex')) problems.push(`${name} does not match its SHA-256 in the manifest`);
      body = undefined;
    }
    if (!manifest) throw new Error(`the archive has no ${MANIFEST_FILE}`);
    for (const entry of manifest.files) if (!seen.has(entry.name)) problems.push(`${entry.name} is missing`);
    return { manifest, problems };
  } finally {
    await file.close();
  }
}

/** Reads the files of a decrypted archive (tar) into memory: for tests and small archives only. */
export async function readArchiveFiles(path: string): Promise<Map<string, string>> {
  const file = await open(path, 'r');
  const files = new Map<string, string>();
  try {
    for (;;) {
      const header = await readExactly(file, BLOCK);
      if (header.length < BLOCK || header.every((b) => b === 0)) break;
      const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
      files.set(name, (await readExactly(file, size)).toString('utf8'));
      await readExactly(file, padding(size).length);
    }
    return files;
  } finally {
    await file.close();
  }
}
