/**
 * The kit's small shared mechanisms: abortable sleep, keyset page tokens, transactions on a real
 * PostgreSQL, and typed unary calls over real gRPC on loopback.
 */
import { getEventListeners } from 'node:events';
import test from 'ava';
import { Server, ServerCredentials, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { PreviewResponse, TenantDataDeletionClient, TenantDataDeletionService } from '../gen/bakery/erasure/v1/tenant_data_deletion';
import { RpcError } from '../services/kit/errors';
import { decodePageToken, encodePageToken, pageSize, toPage } from '../services/kit/pagination';
import { sleep } from '../services/kit/sleep';
import { withTransaction } from '../services/kit/transactions';
import { bearerMetadata, unaryCall } from '../services/kit/unary';
import { INVALID_SPAN_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { contextFromTraceparent, traceparentOf } from '../services/kit/tracing';
import { createTestDatabase } from './support/database';
import { freePort } from './support/ports';

test('sleep waits, returns early on abort, and leaves no abort listener behind', async (t) => {
  const controller = new AbortController();
  for (let i = 0; i < 20; i++) await sleep(1, controller.signal);
  t.is(getEventListeners(controller.signal, 'abort').length, 0, 'no listener per finished sleep');

  const started = performance.now();
  const waiting = sleep(10_000, controller.signal);
  t.is(getEventListeners(controller.signal, 'abort').length, 1);
  setTimeout(() => controller.abort(), 20);
  await waiting;
  t.true(performance.now() - started < 2000, 'an abort ends the wait');
  t.is(getEventListeners(controller.signal, 'abort').length, 0);

  const before = performance.now();
  await sleep(10_000, controller.signal);
  t.true(performance.now() - before < 100, 'an aborted signal does not wait at all');
  const plain = performance.now();
  await sleep(30);
  t.true(performance.now() - plain >= 25, 'without a signal it just waits');
});

test('page tokens: round trip, first page, malformed tokens and page sizes are INVALID_ARGUMENT', (t) => {
  const row = { created_at: new Date('2026-01-02T03:04:05.678Z'), id: '3f2c1a5e-8b7d-4c6e-9f01-23456789abcd' };
  t.deepEqual(decodePageToken(encodePageToken(row)), { createdAt: '2026-01-02T03:04:05.678Z', id: row.id });
  t.is(decodePageToken(''), undefined);
  for (const bad of ['garbage', Buffer.from('2026-01-01|not-a-uuid').toString('base64url'), Buffer.from(`nonsense|${row.id}`).toString('base64url'), Buffer.from(`2026-01-01|${row.id}|x`).toString('base64url')]) {
    const error = t.throws(() => decodePageToken(bad), { instanceOf: RpcError });
    t.is(error?.code, status.INVALID_ARGUMENT, bad);
  }
  t.is(pageSize(0, { defaultSize: 50, maxSize: 500 }), 50);
  t.is(pageSize(7, { defaultSize: 50, maxSize: 500 }), 7);
  for (const bad of [-1, 501, 1.5]) t.is(t.throws(() => pageSize(bad, { defaultSize: 50, maxSize: 500 }), { instanceOf: RpcError })?.code, status.INVALID_ARGUMENT);

  const rows = Array.from({ length: 3 }, (_, i) => ({ created_at: new Date(Date.UTC(2026, 0, 3 - i)), id: row.id.replace(/.$/, String(i)) }));
  const page = toPage(rows, 2);
  t.deepEqual(page.items, rows.slice(0, 2));
  t.deepEqual(decodePageToken(page.nextPageToken), { createdAt: rows[1]!.created_at.toISOString(), id: rows[1]!.id });
  t.is(toPage(rows, 3).nextPageToken, '', 'the last page has no next token');
});

test('withTransaction commits on success and rolls back on error (direct SQL checks)', async (t) => {
  const db = await createTestDatabase('kit_tx');
  try {
    await db.pool.query('CREATE TABLE items (id int PRIMARY KEY)');
    const result = await withTransaction(db.pool, async (client) => {
      await client.query('INSERT INTO items VALUES (1), (2)');
      return 'done';
    });
    t.is(result, 'done');
    const failure = new Error('boom');
    const thrown = await t.throwsAsync(
      withTransaction(db.pool, async (client) => {
        await client.query('INSERT INTO items VALUES (3)');
        throw failure;
      }),
    );
    t.is(thrown, failure, 'the error comes back unchanged');
    const { rows } = await db.pool.query<{ id: number }>('SELECT id FROM items ORDER BY id');
    t.deepEqual(rows.map((r) => r.id), [1, 2], 'the first committed, the second rolled back');

    // A lock wait longer than the timeout fails with 55P03 instead of waiting.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM items WHERE id = 1 FOR UPDATE');
      const locked = await t.throwsAsync(
        withTransaction(db.pool, (client) => client.query('SELECT * FROM items WHERE id = 1 FOR UPDATE'), { lockTimeoutMs: 50 }),
      );
      t.is((locked as { code?: string }).code, '55P03');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  } finally {
    await db.drop();
  }
});

test('unaryCall: typed call with metadata and deadline; errors keep their status; an abort cancels', async (t) => {
  const server = new Server();
  server.addService(TenantDataDeletionService, {
    preview: (call: any, callback: any) => {
      const auth = String(call.metadata.get('authorization')[0] ?? '');
      if (!auth) return callback({ code: status.UNAUTHENTICATED, details: 'no token' });
      if (call.request.subject?.tenantId === 'slow') return setTimeout(() => callback(null, PreviewResponse.fromPartial({ totalRows: '0' })), 2000);
      callback(null, PreviewResponse.fromPartial({ totalRows: String(auth.length) }));
    },
    delete: (call: any) => call.end(),
  });
  const address = `127.0.0.1:${await freePort()}`;
  await new Promise<void>((resolve, reject) => server.bindAsync(address, ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
  const client = new TenantDataDeletionClient(address, credentials.createInsecure());
  try {
    const response = await unaryCall(client, 'preview', { subject: { tenantId: 't' }, heldEntities: [] }, { metadata: bearerMetadata('abc'), deadlineMs: 5000 });
    t.is(response.totalRows, String('Bearer abc'.length), 'metadata reached the server');
    const refused = (await t.throwsAsync(unaryCall(client, 'preview', { subject: { tenantId: 't' }, heldEntities: [] }))) as ServiceError;
    t.is(refused.code, status.UNAUTHENTICATED);
    const late = (await t.throwsAsync(unaryCall(client, 'preview', { subject: { tenantId: 'slow' }, heldEntities: [] }, { metadata: bearerMetadata('x'), deadlineMs: 100 }))) as ServiceError;
    t.is(late.code, status.DEADLINE_EXCEEDED);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const cancelled = (await t.throwsAsync(unaryCall(client, 'preview', { subject: { tenantId: 'slow' }, heldEntities: [] }, { metadata: bearerMetadata('x'), signal: controller.signal }))) as ServiceError;
    t.is(cancelled.code, status.CANCELLED);
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test('traceparent: a span context is stored as W3C traceparent and continued from it', (t) => {
  const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
  const stored = traceparentOf(spanContext);
  t.deepEqual(stored, { traceId: spanContext.traceId, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
  const parent = trace.getSpanContext(contextFromTraceparent(stored.traceparent));
  t.like(parent, { traceId: spanContext.traceId, spanId: spanContext.spanId, isRemote: true });

  // Without a recording span (no SDK), a fresh valid context is made rather than the all-zero one.
  const fresh = traceparentOf(INVALID_SPAN_CONTEXT);
  t.regex(fresh.traceparent, new RegExp(`^00-${fresh.traceId}-[0-9a-f]{16}-01$`));
  t.not(fresh.traceId, INVALID_SPAN_CONTEXT.traceId);
  t.is(trace.getSpanContext(contextFromTraceparent('not a traceparent')), undefined);
});
