/**
 * A table is declared once: as its Sequelize model, with its erasure annotation on it (after Meta's
 * DELF, where every data type says how it is deleted). From that one declaration the kit defines the
 * Sequelize model, creates the table in a migration, derives the deletion policy, and checks the live
 * schema against it (drift and classification, see docs/architecture.md).
 */
import type { Model, ModelAttributeColumnOptions, ModelStatic, Sequelize } from 'sequelize';
import { DataTypes, isColumnType, isSqlFunction, sqlFunction, sqlTypeOf, type ColumnType } from './column-types';
import type { CustomerRule, Retention, TablePolicy } from './deletion/policy';
import { normalizedColumnSql, type CustomerIdentifierKind } from './customers';

/** What the kit reads on a column besides Sequelize's options. */
export interface KitColumnOptions {
  /**
   * The column holds a secret (a password or token hash): an Export (services/kit/export.ts) never
   * sends it, whoever the subject is. Everything else a table declares is exported.
   */
  secret?: true;
}

/**
 * A column's options: Sequelize's, with the kit's plain data type and default (services/kit/column-types.ts),
 * made into Sequelize's by `sequelizeColumn` where Sequelize runs.
 */
export type ColumnOptions = Omit<ModelAttributeColumnOptions, 'type' | 'defaultValue' | 'field' | 'references'> & {
  type: ColumnType;
  /** A value (a JSON value for json columns), or `sqlFunction('now')` for one PostgreSQL computes. */
  defaultValue?: unknown;
};

/** A column as written in a model: a bare data type or the column's options. */
export type ColumnSpec = ColumnType | (ColumnOptions & Pick<ModelAttributeColumnOptions, 'field' | 'references'> & KitColumnOptions);

/** How a tenant erasure treats the table's rows. Attribute names are the model's (camelCase). */
export type TenantAnnotation<A extends string = string> =
  /** Rows whose attribute holds the tenant id are deleted. */
  | { deleteBy: A }
  /** Rows are reached through the parent the attribute references (its `references`), and go with it. */
  | { deleteThrough: A }
  /**
   * Rows are kept for a legal reason (reported by Preview); `anonymize` lists personal columns set to
   * NULL on the tenant's rows. `retention` (years/days from a column) is reported by Preview, and
   * once it is over the retention purge removes an erased tenant's rows (with the retained rows that reference them).
   */
  | { retain: { reason: string; by: A; anonymize?: A[]; retention?: { years?: number; days?: number; from: A } } };

/** How a user erasure treats the table's rows. */
export type UserAnnotation<A extends string = string> =
  /** Rows owned by the user (the attribute holds the user id) are deleted. */
  | { deleteBy: A }
  /** Attributes that reference a user (e.g. `createdBy`) are set to NULL where they hold the erased user. */
  | { anonymize: A[] }
  /**
   * The attribute references a user and a user erasure leaves it as it is, for `reason` (e.g. an owner
   * the service refuses to erase until the ownership is resolved, see `beforeErase`).
   */
  | { keep: { by: A; reason: string } };

/** The columns that identify a customer in a table, always with the tenant column (matching stays in the tenant). */
export interface CustomerMatch<A extends string = string> {
  tenant: A;
  email?: A;
  phone?: A;
  /** The tenant's own id of the customer (text or uuid column). */
  customerId?: A;
}

/**
 * How a customer erasure (README.md, "Customer erasure") treats the table's rows. A row is the
 * customer's when its tenant column holds the tenant and one of its identifying columns holds the
 * customer's identifier (compared normalized, services/kit/customers.ts).
 */
export type CustomerAnnotation<A extends string = string> =
  /** The customer's rows are deleted (`describe`: other columns about the customer, exported with them). */
  | { deleteBy: CustomerMatch<A>; describe?: A[] }
  /**
   * The customer's rows are kept for `reason` (e.g. invoices, tax law); their identifying columns and
   * the `describe` columns are set to NULL.
   */
  | { anonymize: CustomerMatch<A> & { reason: string }; describe?: A[] }
  /** The attribute references (foreign key) a table with a customer rule: set to NULL where it points at the customer's row. */
  | { unlink: A }
  /** Columns that look like customer identifiers hold someone else's data (a supplier, a platform user), for `reason`. */
  | { notCustomerData: string };

/** A table's erasure annotation: its rules, or why it holds no subject data. */
export type Erasure<A extends string = string> =
  | { tenant?: TenantAnnotation<A>; user?: UserAnnotation<A>; customer?: CustomerAnnotation<A> }
  | { noSubjectData: string };

export interface TableOptions<A extends string = string> {
  erasure: Erasure<A>;
  /** Sequelize model name; default the table name. */
  modelName?: string;
  /**
   * Indexes beyond the ones the erasure needs (its tenant, user and foreign key columns are indexed
   * automatically), e.g. `{ unique: true, fields: ['tenantId', 'sku'] }`.
   */
  indexes?: { fields: A[]; unique?: boolean }[];
}

/** One column of a declared table, resolved to its database name and type. */
export interface ColumnDefinition {
  attribute: string;
  column: string;
  /** The type as PostgreSQL's format_type() spells it, e.g. `numeric(12,3)`. */
  sqlType: string;
  nullable: boolean;
  references?: { table: string; column: string };
  /** The column options (without `field`/`references`, which the kit sets). */
  options: ColumnOptions;
  /** SQL CHECK expressions from the column's `validate` (`isIn`, `min`, `max`). */
  checks: string[];
  /** Never exported (`secret: true` on the column). */
  secret: boolean;
}

/** A table declared by `defineTable`: model, schema and erasure annotation in one value. */
export interface TableDefinition {
  table: string;
  modelName: string;
  columns: ColumnDefinition[];
  /** The annotation resolved to column names: the table's part of the deletion policy. */
  erasure: TablePolicy;
  /** Indexes the migration creates, by column names. */
  indexes: { columns: string[]; unique: boolean }[];
  /** Expression indexes (the normalized customer identifiers), by name and the SQL of their key. */
  expressionIndexes: { name: string; sql: string }[];
}

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
const literal = (value: unknown): string =>
  typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`;

/** `createdBy` → `created_by`: the database spells names in snake_case. */
export function columnName(attribute: string): string {
  return attribute.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

/** CHECK expressions for the validations PostgreSQL can enforce too. */
function checksOf(column: string, validate: ModelAttributeColumnOptions['validate']): string[] {
  if (!validate) return [];
  const checks: string[] = [];
  const isIn = (validate as { isIn?: unknown[][] | { args: unknown[][] } }).isIn;
  const values = Array.isArray(isIn) ? isIn[0] : isIn?.args[0];
  if (values) checks.push(`${ident(column)} IN (${values.map(literal).join(', ')})`);
  const bound = (value: unknown) => (typeof value === 'object' && value !== null ? (value as { args: unknown }).args : value);
  if (validate.min !== undefined) checks.push(`${ident(column)} >= ${literal(bound(validate.min))}`);
  if (validate.max !== undefined) checks.push(`${ident(column)} <= ${literal(bound(validate.max))}`);
  return checks;
}

/**
 * Declares a table: its columns (Sequelize attributes, camelCase, stored snake_case) and its erasure
 * annotation, whose attribute names the compiler checks against the columns. Foreign keys are the
 * columns' `references: { model: '<table>', key: 'id' }` (see `foreignKey`).
 */
export function defineTable<A extends Record<string, ColumnSpec>>(
  table: string,
  attributes: A,
  options: TableOptions<keyof A & string>,
): TableDefinition {
  const columns: ColumnDefinition[] = Object.entries(attributes).map(([attribute, spec]) => {
    const { field, references, secret, ...rest } = isColumnType(spec) ? { type: spec } : (spec as Exclude<ColumnSpec, ColumnType>);
    const column = field ?? columnName(attribute);
    let target: ColumnDefinition['references'];
    if (references) {
      if (typeof references === 'string' || typeof references.model !== 'string') {
        throw new Error(`${table}.${column}: write references as { model: '<table name>', key: '<column>' }`);
      }
      target = { table: references.model, column: references.key ?? 'id' };
    }
    return {
      attribute,
      column,
      sqlType: sqlTypeOf(rest.type),
      nullable: rest.allowNull !== false && !rest.primaryKey,
      references: target,
      options: rest,
      checks: checksOf(column, rest.validate),
      secret: secret === true,
    };
  });
  const byAttribute = new Map(columns.map((c) => [c.attribute, c]));
  const col = (attribute: string): string => {
    const found = byAttribute.get(attribute);
    if (!found) throw new Error(`${table}: the erasure annotation names "${attribute}", which is not a column of the model`);
    return found.column;
  };

  const erasure: TablePolicy = {};
  const annotation = options.erasure;
  if ('noSubjectData' in annotation) {
    if (!annotation.noSubjectData.trim()) throw new Error(`${table}: say why the table holds no subject data`);
    erasure.noSubjectData = annotation.noSubjectData;
  } else {
    if (!annotation.tenant && !annotation.user) {
      throw new Error(`${table}: give a tenant or user rule, or declare { noSubjectData: 'because …' }`);
    }
    const tenant = annotation.tenant;
    if (tenant && 'deleteBy' in tenant) erasure.tenant = { delete: { column: col(tenant.deleteBy) } };
    if (tenant && 'deleteThrough' in tenant) {
      const via = byAttribute.get(tenant.deleteThrough);
      if (!via?.references) throw new Error(`${table}: deleteThrough "${tenant.deleteThrough}" must be a column with references`);
      erasure.tenant = { delete: { parent: via.references.table, column: via.column, parentKey: via.references.column } };
    }
    if (tenant && 'retain' in tenant) {
      const { reason, by, anonymize = [], retention } = tenant.retain;
      const period: Retention | undefined = retention && { ...retention, from: col(retention.from) };
      erasure.tenant = { retain: { reason, column: col(by), anonymize: anonymize.map(col), ...(period && { retention: period }) } };
    }
    const user = annotation.user;
    if (user && 'deleteBy' in user) erasure.user = { delete: { column: col(user.deleteBy) } };
    if (user && 'anonymize' in user) erasure.user = { anonymize: user.anonymize.map(col) };
    if (user && 'keep' in user) {
      if (!user.keep.reason.trim()) throw new Error(`${table}: say why a user erasure keeps "${user.keep.by}"`);
      erasure.user = { keep: { column: col(user.keep.by), reason: user.keep.reason } };
    }
    if (annotation.customer) erasure.customer = customerRule(table, annotation.customer, col, byAttribute);
  }

  // The engine finds rows by these columns (and PostgreSQL checks foreign keys by them): index each.
  const erasureColumns = [
    ...columns.filter((c) => c.references).map((c) => c.column),
    ...(erasure.tenant && 'delete' in erasure.tenant ? [erasure.tenant.delete.column] : []),
    ...(erasure.tenant && 'retain' in erasure.tenant ? [erasure.tenant.retain.column] : []),
    ...(erasure.user && 'delete' in erasure.user ? [erasure.user.delete.column] : []),
    ...(erasure.user && 'anonymize' in erasure.user ? erasure.user.anonymize : []),
    ...(erasure.user && 'keep' in erasure.user ? [erasure.user.keep.column] : []),
  ];
  const indexes = [...new Set(erasureColumns)].map((column) => ({ columns: [column], unique: false }));
  for (const index of options.indexes ?? []) indexes.push({ columns: index.fields.map(col), unique: index.unique ?? false });
  // A customer is found by (tenant, normalized identifier): one expression index per identifying column.
  const match = erasure.customer && ('delete' in erasure.customer ? erasure.customer.delete : 'anonymize' in erasure.customer ? erasure.customer.anonymize : undefined);
  const expressionIndexes = Object.entries(match?.identifiers ?? {}).map(([identifier, column]) => ({
    name: `${table}_${column}_customer_idx`,
    sql: `${ident(match!.tenant)}, (${normalizedColumnSql(identifier as CustomerIdentifierKind, ident(column!))})`,
  }));

  return { table, modelName: options.modelName ?? table, columns, erasure, indexes, expressionIndexes };
}

/** A customer annotation resolved to column names. */
function customerRule(
  table: string,
  annotation: CustomerAnnotation,
  col: (attribute: string) => string,
  byAttribute: Map<string, ColumnDefinition>,
): CustomerRule {
  if ('notCustomerData' in annotation) {
    if (!annotation.notCustomerData.trim()) throw new Error(`${table}: say why the table holds no customer data`);
    return { none: annotation.notCustomerData };
  }
  if ('unlink' in annotation) {
    const via = byAttribute.get(annotation.unlink);
    if (!via?.references) throw new Error(`${table}: customer unlink "${annotation.unlink}" must be a column with references`);
    return { unlink: { column: via.column, parent: via.references.table, parentKey: via.references.column } };
  }
  const given = 'deleteBy' in annotation ? annotation.deleteBy : annotation.anonymize;
  const identifiers: Partial<Record<CustomerIdentifierKind, string>> = {};
  if (given.email) identifiers.email = col(given.email);
  if (given.phone) identifiers.phone = col(given.phone);
  if (given.customerId) identifiers.customer_id = col(given.customerId);
  if (!Object.keys(identifiers).length) throw new Error(`${table}: a customer rule names at least one identifying column (email, phone, customerId)`);
  const match = { tenant: col(given.tenant), identifiers, describe: (annotation.describe ?? []).map(col) };
  if ('deleteBy' in annotation) return { delete: match };
  if (!annotation.anonymize.reason.trim()) throw new Error(`${table}: say why a customer erasure keeps the rows`);
  return { anonymize: { ...match, reason: annotation.anonymize.reason } };
}

/** `id uuid PRIMARY KEY DEFAULT gen_random_uuid()`. */
export const uuidPrimaryKey = (): ColumnOptions => ({
  type: DataTypes.UUID,
  primaryKey: true,
  defaultValue: sqlFunction('gen_random_uuid'),
});

/** `timestamptz NOT NULL DEFAULT now()`. */
export const timestampNow = (): ColumnOptions => ({ type: DataTypes.DATE, allowNull: false, defaultValue: sqlFunction('now') });

/** A uuid column referencing `table`(id), NOT NULL unless `nullable`. */
export const foreignKey = (table: string, { nullable = false } = {}): ColumnSpec => ({
  type: DataTypes.UUID,
  allowNull: nullable,
  references: { model: table, key: 'id' },
});

/**
 * A column's options as Sequelize takes them: its data type and SQL-function default made Sequelize's.
 * Sequelize is loaded here, by the callers that run it (models, migrations), never by a table declaration.
 */
export function sequelizeColumn(options: ColumnOptions): ModelAttributeColumnOptions {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sequelize = require('sequelize') as typeof import('sequelize');
  const { key, args } = options.type;
  const type = key === 'DECIMAL' ? sequelize.DataTypes.DECIMAL(args[0], args[1]) : sequelize.DataTypes[key];
  const { defaultValue } = options;
  const converted = isSqlFunction(defaultValue) ? sequelize.fn(defaultValue.name) : defaultValue;
  return { ...options, type, ...(defaultValue !== undefined && { defaultValue: converted }) };
}

/** Defines the Sequelize models of the tables on `sequelize`; returns them by model name. */
export function defineModels(sequelize: Sequelize, tables: TableDefinition[]): Record<string, ModelStatic<Model>> {
  const models: Record<string, ModelStatic<Model>> = {};
  for (const definition of tables) {
    // Fresh option objects per instance: Sequelize annotates the objects it is given.
    const attributes = Object.fromEntries(
      definition.columns.map((c) => [
        c.attribute,
        {
          ...sequelizeColumn(c.options),
          field: c.column,
          ...(c.references && { references: { model: c.references.table, key: c.references.column } }),
        },
      ]),
    );
    models[definition.modelName] = sequelize.define(definition.modelName, attributes, {
      tableName: definition.table,
      timestamps: false,
      underscored: true,
    });
  }
  return models;
}
