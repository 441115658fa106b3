import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** Why invoices and their lines survive a tenant erasure. */
const TAX_RETENTION = 'Tax law (e.g. §147 AO / §14b UStG): invoices are kept 10 years';

export const salesTransactions = defineTable(
  'sales_transactions',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    receiptNumber: { type: DataTypes.TEXT, allowNull: false },
    channel: { type: DataTypes.TEXT, allowNull: false },
    paymentMethod: { type: DataTypes.TEXT, allowNull: false },
    totalCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    cashierId: DataTypes.UUID,
    soldAt: timestampNow(),
  },
  {
    modelName: 'SalesTransaction',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['cashierId'] } },
  },
);

/** sales_transaction_lines carries no tenant_id: it is reached through its transaction. */
export const salesTransactionLines = defineTable(
  'sales_transaction_lines',
  {
    id: uuidPrimaryKey(),
    transactionId: foreignKey('sales_transactions'),
    productName: { type: DataTypes.TEXT, allowNull: false },
    quantity: { type: DataTypes.INTEGER, allowNull: false },
    unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
    vatRate: { type: DataTypes.DECIMAL(4, 2), allowNull: false },
  },
  { modelName: 'SalesTransactionLine', erasure: { tenant: { deleteThrough: 'transactionId' } } },
);

export const dailySalesSummaries = defineTable(
  'daily_sales_summaries',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    businessDate: { type: DataTypes.DATEONLY, allowNull: false },
    shopLocation: { type: DataTypes.TEXT, allowNull: false },
    transactionCount: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    grossCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    closedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'DailySalesSummary',
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['closedBy'] } },
  },
);

/**
 * Invoices are retained for tax law, so they must not reference rows that a tenant erasure deletes:
 * the sale is kept as a plain uuid without a foreign key.
 */
export const invoices = defineTable(
  'invoices',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    invoiceNumber: { type: DataTypes.TEXT, allowNull: false },
    saleReference: DataTypes.UUID,
    customerName: DataTypes.TEXT,
    customerEmail: DataTypes.TEXT,
    billingAddress: DataTypes.TEXT,
    netCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    vatCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    grossCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    issuedAt: timestampNow(),
    createdBy: DataTypes.UUID,
  },
  {
    modelName: 'Invoice',
    indexes: [{ unique: true, fields: ['tenantId', 'invoiceNumber'] }, { fields: ['saleReference'] }],
    erasure: {
      tenant: {
        retain: {
          reason: TAX_RETENTION,
          by: 'tenantId',
          anonymize: ['customerName', 'customerEmail', 'billingAddress'],
          retention: { years: 10, from: 'issuedAt' },
        },
      },
      user: { anonymize: ['createdBy'] },
      // Kept for tax law; the customer's name, e-mail and address are cleared.
      customer: { anonymize: { tenant: 'tenantId', email: 'customerEmail', reason: TAX_RETENTION }, describe: ['customerName', 'billingAddress'] },
    },
  },
);

/** Invoice lines are retained with their invoice (a retained parent, so the FK is safe). */
export const invoiceLines = defineTable(
  'invoice_lines',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    invoiceId: foreignKey('invoices'),
    description: { type: DataTypes.TEXT, allowNull: false },
    quantity: { type: DataTypes.INTEGER, allowNull: false },
    unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
    vatRate: { type: DataTypes.DECIMAL(4, 2), allowNull: false },
  },
  {
    modelName: 'InvoiceLine',
    erasure: { tenant: { retain: { reason: TAX_RETENTION, by: 'tenantId', anonymize: [] } } },
  },
);

/** Every table of the sales database, parents first. */
export const tables = [salesTransactions, salesTransactionLines, dailySalesSummaries, invoices, invoiceLines];
