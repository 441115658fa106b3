/** The policy derived from models, its checks and the derived delete order, against hand-built catalogs. */
import test from 'ava';
import { DataTypes } from '../services/kit/column-types';
import { coverageProblems, deleteOrder, type Catalog } from '../services/kit/deletion/catalog';
import { definePolicy, policyFromModels } from '../services/kit/deletion/policy';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../services/kit/models';
import { getEventListeners } from 'node:events';
import { nextChunkSize } from '../services/kit/deletion/engine';
import { sleep as pause } from '../services/kit/sleep';
import { UnknownEntity, buildPlans, heldClosure } from '../services/kit/deletion/plan';
import { normalizeEmail, normalizePhone } from '../services/kit/customers';

const catalog = (tables: Record<string, Record<string, boolean>>, foreignKeys: Catalog['foreignKeys'] = []): Catalog => ({
  columns: new Map(Object.entries(tables).map(([t, cols]) => [t, new Map(Object.entries(cols))])),
  types: new Map(Object.entries(tables).map(([t, cols]) => [t, new Map(Object.keys(cols).map((c) => [c, 'uuid']))])),
  foreignKeys,
});

// The same small schema, declared once as models (with annotations) and found in a live catalog.
const ordersModel = defineTable(
  'orders',
  { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, createdBy: DataTypes.UUID },
  { erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy'] } } },
);
const itemsModel = defineTable(
  'items',
  { id: uuidPrimaryKey(), orderId: foreignKey('orders') },
  { erasure: { tenant: { deleteThrough: 'orderId' } } },
);
const notesModel = defineTable(
  'notes',
  { id: uuidPrimaryKey(), itemId: foreignKey('items') },
  { erasure: { tenant: { deleteThrough: 'itemId' } } },
);
const policy = policyFromModels('demo', [ordersModel, itemsModel, notesModel]);

const bakery = catalog(
  {
    orders: { id: false, tenant_id: false, created_by: true },
    items: { id: false, order_id: false },
    notes: { id: false, item_id: false },
  },
  [
    { child: 'items', columns: ['order_id'], parent: 'orders', parentColumns: ['id'] },
    { child: 'notes', columns: ['item_id'], parent: 'items', parentColumns: ['id'] },
  ],
);

test('the policy is derived from the annotations on the models, in column names', (t) => {
  t.deepEqual(policy.tables, {
    orders: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    items: { tenant: { delete: { parent: 'orders', column: 'order_id', parentKey: 'id' } } },
    notes: { tenant: { delete: { parent: 'items', column: 'item_id', parentKey: 'id' } } },
  });
  t.deepEqual(ordersModel.indexes, [
    { columns: ['tenant_id'], unique: false },
    { columns: ['created_by'], unique: false },
  ], 'the columns the erasure searches by are indexed');
  t.deepEqual(itemsModel.indexes, [{ columns: ['order_id'], unique: false }], 'foreign keys are indexed');

  const invoices = defineTable(
    'invoices',
    {
      id: uuidPrimaryKey(),
      tenantId: { type: DataTypes.UUID, allowNull: false },
      customerName: DataTypes.TEXT,
      issuedAt: timestampNow(),
      ownerUserId: { type: DataTypes.UUID, allowNull: false },
      amount: { type: DataTypes.DECIMAL(12, 2), allowNull: false },
    },
    {
      erasure: {
        tenant: { retain: { reason: 'Tax law: kept 10 years', by: 'tenantId', anonymize: ['customerName'], retention: { years: 10, from: 'issuedAt' } } },
        user: { deleteBy: 'ownerUserId' },
      },
    },
  );
  t.deepEqual(invoices.erasure, {
    tenant: { retain: { reason: 'Tax law: kept 10 years', column: 'tenant_id', anonymize: ['customer_name'], retention: { years: 10, from: 'issued_at' } } },
    user: { delete: { column: 'owner_user_id' } },
  });
  t.deepEqual(
    invoices.columns.map((c) => [c.column, c.sqlType, c.nullable]),
    [
      ['id', 'uuid', false],
      ['tenant_id', 'uuid', false],
      ['customer_name', 'text', true],
      ['issued_at', 'timestamp with time zone', false],
      ['owner_user_id', 'uuid', false],
      ['amount', 'numeric(12,2)', false],
    ],
  );
  const [plan] = buildPlans(policyFromModels('demo', [invoices]), ['invoices'], 'tenant').entities;
  t.is(plan!.retainReason, 'Tax law: kept 10 years (retention: 10 years from issued_at)', 'the retention period is reported');

  const units = defineTable('units', { id: uuidPrimaryKey(), name: DataTypes.TEXT }, { erasure: { noSubjectData: 'a shared list of measuring units' } });
  t.deepEqual(units.erasure, { noSubjectData: 'a shared list of measuring units' });
});

test('an annotation that cannot be followed is refused where the table is declared', (t) => {
  t.throws(
    () =>
      // @ts-expect-error the compiler already refuses an attribute the model does not have
      defineTable('a', { id: uuidPrimaryKey() }, { erasure: { tenant: { deleteBy: 'tenantId' } } }),
    { message: /"tenantId", which is not a column/ },
  );
  t.throws(() => defineTable('a', { id: uuidPrimaryKey(), bId: DataTypes.UUID }, { erasure: { tenant: { deleteThrough: 'bId' } } }), {
    message: /deleteThrough "bId" must be a column with references/,
  });
  t.throws(() => defineTable('a', { id: uuidPrimaryKey() }, { erasure: {} }), { message: /noSubjectData/ });
  t.throws(() => defineTable('a', { id: uuidPrimaryKey() }, { erasure: { noSubjectData: ' ' } }), { message: /say why/ });
});

test('drift between the models and the database is named: table.column, expected vs found', (t) => {
  const drifted = catalog(
    {
      orders: { id: false, tenant_id: true, created_by: true, approved_by: true },
      items: { id: false },
      notes: { id: false, item_id: false },
      shelf_labels: { id: false, label: true },
      outbox: { id: false, payload: false },
    },
    [
      { child: 'notes', columns: ['item_id'], parent: 'items', parentColumns: ['id'] },
      { child: 'orders', columns: ['created_by'], parent: 'notes', parentColumns: ['id'] },
    ],
  );
  drifted.types.get('orders')!.set('tenant_id', 'text');
  const problems = coverageProblems({ ...policy, eventTables: ['outbox'] }, drifted).join('\n');
  t.regex(problems, /"orders\.tenant_id": the model expects type uuid, the database has text/);
  t.regex(problems, /"orders\.tenant_id": the model expects NOT NULL, the database has NULL/);
  t.regex(problems, /"items\.order_id": the model expects uuid NOT NULL, the database has no such column/);
  t.regex(problems, /"orders\.approved_by": the database has uuid NULL, the model does not declare it; its name marks it as pointing at a user/);
  t.regex(problems, /table "shelf_labels" is not declared by any model/);
  t.regex(problems, /table "orders": the database has a foreign key \(created_by\) to notes, the model does not declare it/);
  t.notRegex(problems, /outbox/, 'declared event tables are exempt');

  const missingKey = catalog({ orders: { id: false, tenant_id: false, created_by: true }, items: { id: false, order_id: false }, notes: { id: false, item_id: false } }, [
    { child: 'notes', columns: ['item_id'], parent: 'items', parentColumns: ['id'] },
  ]);
  t.regex(coverageProblems(policy, missingKey).join('\n'), /"items\.order_id": the model expects a foreign key to orders\.id, the database has none/);
});

test('a model column that marks a user, or a subject column on a table declared without subject data, is named', (t) => {
  const audit = defineTable(
    'audit',
    { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, reviewedBy: DataTypes.UUID, ownerId: DataTypes.UUID },
    { erasure: { tenant: { deleteBy: 'tenantId' } } },
  );
  const units = defineTable('units', { id: uuidPrimaryKey(), tenantId: DataTypes.UUID }, { erasure: { noSubjectData: 'shared units' } });
  const live = catalog({ audit: { id: false, tenant_id: false, reviewed_by: true, owner_id: true }, units: { id: false, tenant_id: true } });
  const problems = coverageProblems(policyFromModels('demo', [audit, units]), live).join('\n');
  t.regex(problems, /"audit\.reviewed_by": its name marks it as pointing at a user, but the model has no user rule for it/);
  t.regex(problems, /"audit\.owner_id": its name marks it as pointing at a user/);
  t.regex(problems, /"units" has a tenant_id column but no tenant rule/);
});

test('a sound policy has no problems and deletes children before parents', (t) => {
  t.deepEqual(coverageProblems(policy, bakery), []);
  t.deepEqual(deleteOrder(policy, bakery), ['notes', 'items', 'orders']);
});

test('a hand-written policy (no models): uncovered tables are named by tenant_id, user_id, a foreign key into a covered table', (t) => {
  const handPolicy = definePolicy({ service: 'demo', tables: policy.tables });
  const wider = catalog(
    {
      ...Object.fromEntries([...bakery.columns].map(([k, v]) => [k, Object.fromEntries(v)])),
      loyalty: { id: false, tenant_id: false },
      prefs: { id: false, user_id: false },
      audit: { id: false, order_ref: true },
      units: { id: false, name: false },
    },
    [...bakery.foreignKeys, { child: 'audit', columns: ['order_ref'], parent: 'orders' }],
  );
  const problems = coverageProblems(handPolicy, wider).join('\n');
  t.regex(problems, /"loyalty".*tenant_id/);
  t.regex(problems, /"prefs".*user_id/);
  t.regex(problems, /"audit" references covered table "orders"/);
  t.notRegex(problems, /units/, 'a table without subject data needs no policy');
});

test('policy mistakes are named: missing table or column, NOT NULL anonymized column, missing rules, bad parent', (t) => {
  const broken = definePolicy({
    service: 'demo',
    tables: {
      orders: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by', 'updated_by'] } },
      items: { tenant: { delete: { parent: 'orders', column: 'wrong_col' } } },
      notes: {},
      ghosts: { tenant: { delete: { column: 'tenant_id' } } },
    },
  });
  const strict = catalog(
    {
      orders: { id: false, tenant_id: false, created_by: false },
      items: { id: false, order_id: false },
      notes: { id: false, item_id: false, tenant_id: false },
    },
    bakery.foreignKeys,
  );
  const problems = coverageProblems(broken, strict).join('\n');
  t.regex(problems, /table "ghosts", which does not exist/);
  t.regex(problems, /"orders.updated_by", which does not exist/);
  t.regex(problems, /"orders.created_by" is anonymized .* NOT NULL/);
  t.regex(problems, /"items" is reached through "orders" by column wrong_col, but no such foreign key/);
  t.regex(problems, /"notes" has a tenant_id column but no tenant rule/);
});

test('parent cycles are reported', (t) => {
  const cyclic = definePolicy({
    service: 'demo',
    tables: {
      a: { tenant: { delete: { parent: 'b', column: 'b_id' } } },
      b: { tenant: { delete: { parent: 'a', column: 'a_id' } } },
    },
  });
  const problems = coverageProblems(cyclic, catalog({ a: { id: false, b_id: false }, b: { id: false, a_id: false } }));
  t.true(problems.some((p) => /cycle/.test(p)));
});

test('chunk statements address rows by ctid, never by id lists; a parent and its descendants share a chunk', (t) => {
  const plans = buildPlans(policy, deleteOrder(policy, bakery), 'tenant');
  t.deepEqual(plans.entities.map((p) => p.entity), ['notes', 'items', 'orders'], 'preview lists every entity, children first');
  t.is(plans.chunks.length, 1, 'one cascade chunk rooted at orders');
  const [cascade] = plans.chunks;
  t.deepEqual(cascade!.entities.map((e) => e.entity), ['notes', 'items', 'orders'], 'descendants deepest first, root last');
  t.regex(cascade!.sql, /keys_0 AS MATERIALIZED \(SELECT t\.ctid AS row_ctid, t\."id" AS k FROM "orders" t WHERE t\."tenant_id" = \$1 LIMIT \$2\)/);
  t.regex(cascade!.sql, /FROM "items" t WHERE t\."order_id" = ANY\(ARRAY\(SELECT k FROM keys_0\)\)/);
  t.regex(cascade!.sql, /FROM "notes" t WHERE t\."item_id" = ANY\(ARRAY\(SELECT k FROM keys_1\)\)/);
  for (const table of ['notes', 'items', 'orders']) t.regex(cascade!.sql, new RegExp(`DELETE FROM "${table}" WHERE ctid = ANY\\(ARRAY\\(SELECT row_ctid`));
  t.notRegex(cascade!.sql, /\bid IN \(\$/);

  const user = buildPlans(policy, deleteOrder(policy, bakery), 'user');
  t.deepEqual(user.entities.map((p) => p.entity), ['orders']);
  t.regex(user.chunks[0]!.sql, /UPDATE "orders" SET "created_by" = CASE WHEN "created_by" = \$1 THEN NULL ELSE "created_by" END WHERE ctid = ANY/);
  t.regex(user.chunks[0]!.sql, /WHERE \(t\."created_by" = \$1\) LIMIT \$2/);
});

test('a legal hold keeps the held tables and every table they reference; the rest reached through a held table is deleted on its own', (t) => {
  t.deepEqual([...heldClosure(policy, ['notes'])].sort(), ['items', 'notes', 'orders'], 'notes reference items, items reference orders');
  t.deepEqual([...heldClosure(policy, ['orders'])], ['orders'], 'a held parent does not hold its children');
  t.throws(() => heldClosure(policy, ['nope']), { instanceOf: UnknownEntity });

  const plans = buildPlans(policy, deleteOrder(policy, bakery), 'tenant', heldClosure(policy, ['orders']));
  const orders = plans.entities.find((p) => p.entity === 'orders')!;
  t.is(orders.countSql, 'SELECT 0::bigint AS n', 'a held entity acts on nothing');
  t.regex(orders.heldCountSql!, /FROM "orders" t WHERE t\."tenant_id" = \$1/, 'and counts its rows as held');
  t.deepEqual(plans.chunks.map((c) => c.entities.map((e) => e.entity)), [['notes'], ['items']], 'the cascade becomes one chunk per unheld table, children first');
  for (const chunk of plans.chunks) t.notRegex(chunk.sql, /DELETE FROM "orders"/);
  t.regex(plans.chunks[1]!.sql, /DELETE FROM "items" WHERE ctid/);
  t.regex(plans.chunks[1]!.sql, /t\."order_id" IN \(SELECT p0\."id" FROM "orders" p0 WHERE p0\."tenant_id" = \$1\)/, 'found through the held parent');

  const held = buildPlans(policy, deleteOrder(policy, bakery), 'tenant', heldClosure(policy, ['notes']));
  t.deepEqual(held.chunks, [], 'holding the deepest table keeps the whole chain');
});

test('chunk size steers towards the target time within bounds', (t) => {
  const config = { initialRows: 5000, minRows: 100, maxRows: 50_000, targetMs: 100 };
  t.is(nextChunkSize(5000, 50, config), 10_000, 'fast chunk → grow, at most ×2');
  t.is(nextChunkSize(5000, 10, config), 10_000);
  t.is(nextChunkSize(5000, 400, config), 1250, 'slow chunk → shrink in proportion');
  t.is(nextChunkSize(5000, 5000, config), 500, 'shrink at most ÷10');
  t.is(nextChunkSize(40_000, 10, config), 50_000, 'capped at max');
  t.is(nextChunkSize(150, 1000, config), 100, 'floored at min');
});

test('the pause between chunks leaves no abort listener behind', async (t) => {
  const controller = new AbortController();
  for (let i = 0; i < 20; i++) await pause(1, controller.signal);
  t.is(getEventListeners(controller.signal, 'abort').length, 0, 'one pause per chunk must not add a listener per chunk');
  const started = performance.now();
  const waiting = pause(10_000, controller.signal);
  controller.abort();
  await waiting;
  t.true(performance.now() - started < 1000, 'an abort ends the pause at once');
});

test('customer rules: an e-mail or phone column without one is named; unlinking and kept columns are checked; plans match in the tenant, normalized', (t) => {
  const people = defineTable(
    'people',
    { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, email: DataTypes.TEXT, workPhone: DataTypes.TEXT, name: DataTypes.TEXT },
    { erasure: { tenant: { deleteBy: 'tenantId' }, customer: { deleteBy: { tenant: 'tenantId', email: 'email' }, describe: ['name'] } } },
  );
  const visits = defineTable(
    'visits',
    { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, personId: foreignKey('people', { nullable: true }) },
    { erasure: { tenant: { deleteBy: 'tenantId' } } },
  );
  const bills = defineTable(
    'bills',
    { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, payerEmail: { type: DataTypes.TEXT, allowNull: false } },
    { erasure: { tenant: { deleteBy: 'tenantId' }, customer: { anonymize: { tenant: 'tenantId', email: 'payerEmail', reason: 'tax law' } } } },
  );
  const live = catalog(
    {
      people: { id: false, tenant_id: false, email: true, work_phone: true, name: true },
      visits: { id: false, tenant_id: false, person_id: true },
      bills: { id: false, tenant_id: false, payer_email: false },
    },
    [{ child: 'visits', columns: ['person_id'], parent: 'people', parentColumns: ['id'] }],
  );
  const problems = coverageProblems(policyFromModels('demo', [people, visits, bills]), live).join('\n');
  t.regex(problems, /"people\.work_phone": its name marks it as identifying a customer, but the model has no customer rule for it/);
  t.regex(problems, /table "visits" references "people", whose customer rows are deleted, but has no customer unlink rule for it/);
  t.regex(problems, /column "bills\.payer_email" is anonymized \(set to NULL\) but is NOT NULL/);
  t.notRegex(problems, /"people\.email": its name/);

  // Declared whose they are, or unlinked, the same tables are sound.
  const sound = policyFromModels('demo', [
    defineTable(
      'people',
      { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, email: DataTypes.TEXT, workPhone: DataTypes.TEXT, name: DataTypes.TEXT },
      { erasure: { tenant: { deleteBy: 'tenantId' }, customer: { deleteBy: { tenant: 'tenantId', email: 'email', phone: 'workPhone' }, describe: ['name'] } } },
    ),
    defineTable(
      'visits',
      { id: uuidPrimaryKey(), tenantId: { type: DataTypes.UUID, allowNull: false }, personId: foreignKey('people', { nullable: true }) },
      { erasure: { tenant: { deleteBy: 'tenantId' }, customer: { unlink: 'personId' } } },
    ),
  ]);
  const soundLive = catalog(
    { people: { id: false, tenant_id: false, email: true, work_phone: true, name: true }, visits: { id: false, tenant_id: false, person_id: true } },
    live.foreignKeys,
  );
  for (const column of ['email', 'work_phone', 'name']) soundLive.types.get('people')!.set(column, 'text');
  t.deepEqual(coverageProblems(sound, soundLive), []);
  const plans = buildPlans(sound, deleteOrder(sound, soundLive), 'customer:phone');
  t.deepEqual(plans.entities.map((p) => p.entity), ['visits', 'people'], 'the referencing rows are unlinked before the customer row goes');
  t.regex(plans.chunks[1]!.sql, /t\."tenant_id" = \(\$1::text\[\]\)\[1\]::uuid AND regexp_replace\(t\."work_phone", '\[\[:space:\]\(\)\.-\]', '', 'g'\) = \(\$1::text\[\]\)\[2\]/);
  t.regex(plans.chunks[0]!.sql, /UPDATE "visits" SET "person_id" = NULL WHERE ctid = ANY/);
  t.deepEqual(buildPlans(sound, deleteOrder(sound, soundLive), 'customer:customer_id').entities, [], 'no table matches by a customer id');
});

test('customer identifiers are normalized once; refusals name the rule, never the value', (t) => {
  t.is(normalizeEmail('  Anna.Schmidt@Example.COM '), 'anna.schmidt@example.com');
  t.is(normalizePhone('+49 (30) 123-45.67'), '+49301234567');
  for (const [fn, value] of [
    [normalizeEmail, 'anna.schmidt at example.com'],
    [normalizePhone, '030 1234567'],
    [normalizePhone, '+49 30 1234567 ext 5'],
    [normalizePhone, '+1234567'],
  ] as const) {
    const error = t.throws(() => fn(value));
    t.false(error!.message.includes(value.trim()), error!.message);
    t.false(/\d{5}/.test(error!.message), `no digits of the number: ${error!.message}`);
  }
});
