/**
 * The steps of an export: `export-service` copies one service's rows of the subject into the job's
 * archive (one encrypted NDJSON file per entity); `seal-archive` checks every stored file against what
 * was recorded when it was written and signs the manifest. Both are idempotent: a retried or resumed
 * `export-service` drops what its service's earlier attempt wrote and starts again; the seal is
 * recomputed from the stored files.
 */
import { createHash, type Hash } from 'node:crypto';
import type { JWK } from 'jose';
import { limit } from '../../services/kit/limits';
import type { SigningKey } from '../../services/kit/keys';
import { NonRetryableError } from '../retry';
import type { StepHandler } from '../step-handlers';
import type { ArchiveFile, ArchiveStore } from './archive-store';
import { ARCHIVE_FORMAT, encryptChunk, fileName, newContentKey, sha256, signManifest, type Manifest } from './format';

/** What export steps use besides the saga's services. */
export interface ExportServices {
  archives: ArchiveStore;
  /** The orchestrator's own key, which signs manifests. */
  signer: SigningKey;
}

/** Plaintext bytes per stored chunk. */
const CHUNK_BYTES = 256 * 1024;

/** Writes one file of the archive chunk by chunk: at most one chunk of plaintext in memory. */
class FileWriter {
  private parts: Buffer[] = [];
  private buffered = 0;
  private seq = 0;
  private readonly plain: Hash = createHash('sha256');
  private readonly cipher: Hash = createHash('sha256');
  rows = 0;
  bytes = 0;

  private constructor(
    private readonly archives: ArchiveStore,
    private readonly jobId: string,
    readonly service: string,
    readonly entity: string,
    private readonly key: Buffer,
    private readonly wrappedKey: string,
    /** Throws when the archive would grow past its limit. */
    private readonly grow: (bytes: number) => void,
  ) {}

  static async open(archives: ArchiveStore, jobId: string, service: string, entity: string, recipient: JWK, grow: (bytes: number) => void): Promise<FileWriter> {
    const { key, wrapped } = await newContentKey(recipient);
    return new FileWriter(archives, jobId, service, entity, key, wrapped, grow);
  }

  get name(): string {
    return fileName(this.service, this.entity);
  }

  async append(line: string): Promise<void> {
    const data = Buffer.from(`${line}\n`);
    this.grow(data.length);
    this.plain.update(data);
    this.parts.push(data);
    this.buffered += data.length;
    this.bytes += data.length;
    this.rows += 1;
    if (this.buffered >= CHUNK_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.buffered) return;
    const encrypted = encryptChunk(this.key, this.jobId, this.name, this.seq, Buffer.concat(this.parts));
    this.parts = [];
    this.buffered = 0;
    this.cipher.update(encrypted);
    await this.archives.writeChunk(this.jobId, this.name, this.seq, encrypted);
    this.seq += 1;
  }

  /** Writes the last chunk and records the file; the content key is dropped with this writer. */
  async finish(): Promise<ArchiveFile> {
    await this.flush();
    const file: ArchiveFile = {
      name: this.name,
      service: this.service,
      entity: this.entity,
      rows: this.rows,
      bytes: this.bytes,
      sha256: this.plain.digest('hex'),
      cipherSha256: this.cipher.digest('hex'),
      chunks: this.seq,
      wrappedKey: this.wrappedKey,
    };
    this.key.fill(0);
    await this.archives.addFile(this.jobId, file);
    return file;
  }
}

function exportServices(services: { exports?: ExportServices }): ExportServices {
  if (!services.exports) throw new NonRetryableError('this orchestrator was started without an archive store');
  return services.exports;
}

export const EXPORT_STEP_PREFIX = 'export:';

/** One attempt of a service's export into the archive. `rowsDeleted` counts the rows exported. */
export const exportService: StepHandler = async ({ job, step, subject, signal, jobRowsDone }, services) => {
  const { archives } = exportServices(services);
  const { clients, journal, config } = services;
  const service = step.name.slice(EXPORT_STEP_PREFIX.length);
  const archive = await archives.get(job.id);
  if (!archive) throw new NonRetryableError(`job ${job.id} has no archive record`);
  await archives.resetService(job.id, service);
  const maxBytes = limit('exportArchiveMaxBytes');
  let size = (await archives.get(job.id))!.sizeBytes;
  const grow = (bytes: number) => {
    size += bytes;
    if (size > maxBytes) throw new NonRetryableError(`the archive is larger than EXPORT_ARCHIVE_MAX_BYTES (${maxBytes} bytes)`);
  };
  step.rowsDeleted = 0;
  step.entities = {};
  const written = new Map<string, ArchiveFile>();
  let current: FileWriter | undefined;
  let lastPublish = 0;
  let resultEntities: { entity: string; rows: string }[] | undefined;
  for await (const message of clients.export(service, subject, job.id, config.attemptDeadlineMs, signal)) {
    if (message.rows) {
      const { entity, rows } = message.rows;
      if (current?.entity !== entity) {
        if (current) written.set(current.entity, await current.finish());
        if (written.has(entity)) throw new Error(`${service} sent ${entity} twice in one Export`);
        current = await FileWriter.open(archives, job.id, service, entity, archive.recipient as JWK, grow);
      }
      for (const row of rows) await current.append(row);
      step.rowsDeleted += rows.length;
      step.entities[entity] = { action: 0, rows: current.rows, chunks: 0 };
      if (Date.now() - lastPublish >= 100) {
        lastPublish = Date.now();
        journal.progress(step, entity, jobRowsDone());
      }
    }
    if (message.result) resultEntities = message.result.entities;
  }
  if (current) written.set(current.entity, await current.finish());
  if (!resultEntities) throw new Error(`${service} ended the Export stream without a result`);
  for (const entity of resultEntities) {
    const file = written.get(entity.entity);
    if ((file?.rows ?? 0) !== Number(entity.rows)) {
      throw new Error(`${service} reported ${entity.rows} rows of ${entity.entity} but sent ${file?.rows ?? 0}`);
    }
    // An entity without rows of the subject still gets its (empty) file: the archive says it was asked.
    if (!file) {
      const empty = await FileWriter.open(archives, job.id, service, entity.entity, archive.recipient as JWK, grow);
      written.set(entity.entity, await empty.finish());
    }
  }
  await journal.recordCounts(step);
};

/**
 * Checks every stored file (its chunks read back from the store: count and SHA-256 of the ciphertext,
 * as recorded when written), then signs the manifest and sets the archive's expiry. The erasure of an
 * `export_first` job starts only after this step succeeded.
 */
export const sealArchive: StepHandler = async ({ job }, services) => {
  const { archives, signer } = exportServices(services);
  const files = await archives.files(job.id);
  // The saga runs the seal only after every export step of the job succeeded (phases in order).
  for (const file of files) {
    const hash = createHash('sha256');
    let chunks = 0;
    for await (const chunk of archives.chunks(job.id, file.name)) {
      hash.update(chunk);
      chunks += 1;
    }
    if (chunks !== file.chunks || hash.digest('hex') !== file.cipherSha256) {
      throw new NonRetryableError(`archive file ${file.name} does not match what was written (${chunks} of ${file.chunks} chunks)`);
    }
  }
  const createdAt = new Date();
  const expiresAt = new Date(createdAt.getTime() + limit('exportRetention') * 1000);
  const manifest: Manifest = {
    format: ARCHIVE_FORMAT,
    job_id: job.id,
    subject: { kind: job.subject_kind, id: job.subject_id },
    created_at: createdAt.toISOString(),
    expires_at: expiresAt.toISOString(),
    files: files.map(({ name, service, entity, rows, bytes, sha256: hash }) => ({ name, service, entity, rows, bytes, sha256: hash })),
    total_rows: files.reduce((sum, f) => sum + f.rows, 0),
  };
  const jws = await signManifest(manifest, signer);
  await archives.seal(job.id, jws, sha256(jws), expiresAt);
};
