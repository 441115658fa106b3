/**
 * The data types a table declaration (services/kit/models.ts `defineTable`) gives its columns, as plain
 * values: a data service's process reads its declarations (deletion policy, schema check, export
 * columns) but never its Sequelize models, and Sequelize's own DataTypes module alone loads about 180
 * modules (validator, moment-timezone, wkx, lodash; ~12 MB of a process, by require timing). The
 * Sequelize type is made from these only where Sequelize runs anyway: `defineModels` and the
 * migrations' `createTables` (`sequelizeColumn` in models.ts).
 */

/** A column type: Sequelize's DataTypes key and its parameters (e.g. `DECIMAL` with precision and scale). */
export interface ColumnType {
  readonly kind: 'column-type';
  readonly key: ColumnTypeKey;
  readonly args: readonly number[];
}

export type ColumnTypeKey = 'UUID' | 'TEXT' | 'SMALLINT' | 'INTEGER' | 'BIGINT' | 'DECIMAL' | 'DOUBLE' | 'BOOLEAN' | 'DATE' | 'DATEONLY' | 'TIME' | 'JSONB' | 'INET';

const type = (key: ColumnTypeKey, ...args: number[]): ColumnType => ({ kind: 'column-type', key, args });

/** A default computed by PostgreSQL (`now()`, `gen_random_uuid()`), Sequelize's `fn` once converted. */
export interface SqlFunctionDefault {
  readonly kind: 'sql-function';
  readonly name: string;
}

export const sqlFunction = (name: string): SqlFunctionDefault => ({ kind: 'sql-function', name });

export const isSqlFunction = (value: unknown): value is SqlFunctionDefault =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'sql-function';

/** The types the models use, spelled like Sequelize's DataTypes. */
export const DataTypes = {
  UUID: type('UUID'),
  TEXT: type('TEXT'),
  SMALLINT: type('SMALLINT'),
  INTEGER: type('INTEGER'),
  BIGINT: type('BIGINT'),
  DECIMAL: (precision: number, scale: number): ColumnType => type('DECIMAL', precision, scale),
  DOUBLE: type('DOUBLE'),
  BOOLEAN: type('BOOLEAN'),
  DATE: type('DATE'),
  DATEONLY: type('DATEONLY'),
  TIME: type('TIME'),
  JSONB: type('JSONB'),
  INET: type('INET'),
} as const;

export const isColumnType = (value: unknown): value is ColumnType =>
  typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'column-type';

/** The PostgreSQL spelling (format_type) of a column type, as the schema check compares it. */
export function sqlTypeOf(columnType: ColumnType): string {
  switch (columnType.key) {
    case 'UUID':
      return 'uuid';
    case 'TEXT':
      return 'text';
    case 'SMALLINT':
      return 'smallint';
    case 'INTEGER':
      return 'integer';
    case 'BIGINT':
      return 'bigint';
    case 'DECIMAL':
      return `numeric(${columnType.args[0]},${columnType.args[1] ?? 0})`;
    case 'DOUBLE':
      return 'double precision';
    case 'BOOLEAN':
      return 'boolean';
    case 'DATE':
      return 'timestamp with time zone';
    case 'DATEONLY':
      return 'date';
    case 'TIME':
      return 'time without time zone';
    case 'JSONB':
      return 'jsonb';
    case 'INET':
      return 'inet';
  }
}
