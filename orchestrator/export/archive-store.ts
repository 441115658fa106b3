/**
 * Where export archives are kept: one interface, so every replica reads what any replica wrote. The
 * default keeps them in the orchestrator's own database (chunks as bytea rows); an S3-compatible
 * bucket would implement the same interface (one object per chunk under `<job>/<file>/<seq>`, the file
 * and archive rows staying in the database) — documented in README.md, not shipped.
 */
import type { Pool } from 'pg';
import { withTransaction } from '../../services/kit/transactions';

export interface ArchiveFile {
  name: string;
  service: string;
  entity: string;
  rows: number;
  bytes: number;
  sha256: string;
  cipherSha256: string;
  chunks: number;
  wrappedKey: string;
}

export interface ArchiveRecord {
  jobId: string;
  recipient: object;
  manifestJws: string | null;
  manifestSha256: string | null;
  sizeBytes: number;
  sealedAt: Date | null;
  expiresAt: Date | null;
  deletedAt: Date | null;
}

export interface ArchiveStore {
  get(jobId: string): Promise<ArchiveRecord | undefined>;
  /** Drops what a service's earlier, unfinished attempt wrote (its files start again from nothing). */
  resetService(jobId: string, service: string): Promise<void>;
  writeChunk(jobId: string, name: string, seq: number, data: Buffer): Promise<void>;
  /** Records a file once all its chunks are written; adds its bytes to the archive's size. */
  addFile(jobId: string, file: ArchiveFile): Promise<void>;
  files(jobId: string): Promise<ArchiveFile[]>;
  /** A file's chunks in order, one at a time (bounded memory). */
  chunks(jobId: string, name: string): AsyncIterable<Buffer>;
  seal(jobId: string, manifestJws: string, manifestSha256: string, expiresAt: Date): Promise<void>;
  /** Archives past their expiry and not yet deleted. */
  expired(limit: number): Promise<string[]>;
  /** Deletes an archive's content and marks it deleted; false when another sweep got there first. */
  delete(jobId: string): Promise<boolean>;
}

interface FileRow {
  name: string;
  service: string;
  entity: string;
  rows: string;
  bytes: string;
  sha256: string;
  cipher_sha256: string;
  chunks: number;
  wrapped_key: string;
}

/** Archives in the orchestrator's database (tables of migration 0009_exports). */
export class PgArchiveStore implements ArchiveStore {
  constructor(private readonly pool: Pool) {}

  async get(jobId: string): Promise<ArchiveRecord | undefined> {
    const { rows } = await this.pool.query(
      `SELECT job_id, recipient, manifest_jws, manifest_sha256, size_bytes, sealed_at, expires_at, deleted_at FROM export_archives WHERE job_id = $1`,
      [jobId],
    );
    const row = rows[0];
    if (!row) return undefined;
    return {
      jobId: row.job_id,
      recipient: row.recipient,
      manifestJws: row.manifest_jws,
      manifestSha256: row.manifest_sha256,
      sizeBytes: Number(row.size_bytes),
      sealedAt: row.sealed_at,
      expiresAt: row.expires_at,
      deletedAt: row.deleted_at,
    };
  }

  async resetService(jobId: string, service: string): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      const prefix = `${service}/`;
      const { rows } = await client.query<{ bytes: string }>(`DELETE FROM export_files WHERE job_id = $1 AND starts_with(name, $2) RETURNING bytes`, [jobId, prefix]);
      await client.query(`DELETE FROM export_chunks WHERE job_id = $1 AND starts_with(name, $2)`, [jobId, prefix]);
      const freed = rows.reduce((sum, r) => sum + Number(r.bytes), 0);
      if (freed) await client.query(`UPDATE export_archives SET size_bytes = size_bytes - $2 WHERE job_id = $1`, [jobId, freed]);
    });
  }

  async writeChunk(jobId: string, name: string, seq: number, data: Buffer): Promise<void> {
    await this.pool.query(`INSERT INTO export_chunks (job_id, name, seq, data) VALUES ($1, $2, $3, $4)`, [jobId, name, seq, data]);
  }

  async addFile(jobId: string, file: ArchiveFile): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query(
        `INSERT INTO export_files (job_id, name, service, entity, rows, bytes, sha256, cipher_sha256, chunks, wrapped_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [jobId, file.name, file.service, file.entity, file.rows, file.bytes, file.sha256, file.cipherSha256, file.chunks, file.wrappedKey],
      );
      await client.query(`UPDATE export_archives SET size_bytes = size_bytes + $2 WHERE job_id = $1`, [jobId, file.bytes]);
    });
  }

  async files(jobId: string): Promise<ArchiveFile[]> {
    const { rows } = await this.pool.query<FileRow>(
      `SELECT name, service, entity, rows, bytes, sha256, cipher_sha256, chunks, wrapped_key FROM export_files WHERE job_id = $1 ORDER BY name`,
      [jobId],
    );
    return rows.map((r) => ({
      name: r.name,
      service: r.service,
      entity: r.entity,
      rows: Number(r.rows),
      bytes: Number(r.bytes),
      sha256: r.sha256,
      cipherSha256: r.cipher_sha256,
      chunks: r.chunks,
      wrappedKey: r.wrapped_key,
    }));
  }

  async *chunks(jobId: string, name: string): AsyncIterable<Buffer> {
    for (let seq = 0; ; seq++) {
      const { rows } = await this.pool.query<{ data: Buffer }>(`SELECT data FROM export_chunks WHERE job_id = $1 AND name = $2 AND seq = $3`, [jobId, name, seq]);
      if (!rows[0]) return;
      yield rows[0].data;
    }
  }

  async seal(jobId: string, manifestJws: string, manifestSha256: string, expiresAt: Date): Promise<void> {
    await this.pool.query(
      `UPDATE export_archives SET manifest_jws = $2, manifest_sha256 = $3, sealed_at = now(), expires_at = $4 WHERE job_id = $1`,
      [jobId, manifestJws, manifestSha256, expiresAt],
    );
  }

  async expired(limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ job_id: string }>(
      `SELECT job_id FROM export_archives WHERE deleted_at IS NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.job_id);
  }

  async delete(jobId: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query(`UPDATE export_archives SET deleted_at = now() WHERE job_id = $1 AND deleted_at IS NULL`, [jobId]);
      if (rowCount !== 1) return false;
      await client.query(`DELETE FROM export_chunks WHERE job_id = $1`, [jobId]);
      await client.query(`UPDATE export_files SET wrapped_key = '' WHERE job_id = $1`, [jobId]);
      return true;
    });
  }
}
