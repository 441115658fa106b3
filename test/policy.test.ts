/** The policy checks and the derived delete order, against hand-built catalogs. */
import test from 'ava';
import { coverageProblems, deleteOrder, type Catalog } from '../services/kit/deletion/catalog';
import { definePolicy } from '../services/kit/deletion/policy';
import { nextChunkSize } from '../services/kit/deletion/engine';
import { buildPlans } from '../services/kit/deletion/plan';

const catalog = (tables: Record<string, Record<string, boolean>>, foreignKeys: Catalog['foreignKeys'] = []): Catalog => ({
  columns: new Map(Object.entries(tables).map(([t, cols]) => [t, new Map(Object.entries(cols))])),
  types: new Map(Object.entries(tables).map(([t, cols]) => [t, new Map(Object.keys(cols).map((c) => [c, 'uuid']))])),
  foreignKeys,
});

const bakery = catalog(
  {
    orders: { id: false, tenant_id: false, created_by: true },
    items: { id: false, order_id: false },
    notes: { id: false, item_id: false },
  },
  [
    { child: 'items', columns: ['order_id'], parent: 'orders' },
    { child: 'notes', columns: ['item_id'], parent: 'items' },
  ],
);
const policy = definePolicy({
  service: 'demo',
  tables: {
    orders: { tenant: { delete: { column: 'tenant_id' } }, user: { anonymize: ['created_by'] } },
    items: { tenant: { delete: { parent: 'orders', column: 'order_id' } } },
    notes: { tenant: { delete: { parent: 'items', column: 'item_id' } } },
  },
});

test('a sound policy has no problems and deletes children before parents', (t) => {
  t.deepEqual(coverageProblems(policy, bakery), []);
  t.deepEqual(deleteOrder(policy, bakery), ['notes', 'items', 'orders']);
});

test('uncovered tables are named: by tenant_id, by user_id, by a foreign key into a covered table', (t) => {
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
  const problems = coverageProblems(policy, wider).join('\n');
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

test('chunk size steers towards the target time within bounds', (t) => {
  const config = { initialRows: 5000, minRows: 100, maxRows: 50_000, targetMs: 100 };
  t.is(nextChunkSize(5000, 50, config), 10_000, 'fast chunk → grow, at most ×2');
  t.is(nextChunkSize(5000, 10, config), 10_000);
  t.is(nextChunkSize(5000, 400, config), 2500, 'slow chunk → shrink, at most ÷2');
  t.is(nextChunkSize(40_000, 10, config), 50_000, 'capped at max');
  t.is(nextChunkSize(150, 1000, config), 100, 'floored at min');
});
