import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the sales database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const SalesTransaction = sequelize.define(
    'SalesTransaction',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      receiptNumber: { type: DataTypes.TEXT, allowNull: false },
      channel: { type: DataTypes.TEXT, allowNull: false },
      paymentMethod: { type: DataTypes.TEXT, allowNull: false },
      totalCents: { type: DataTypes.INTEGER, allowNull: false },
      cashierId: DataTypes.UUID,
      soldAt: DataTypes.DATE,
    },
    { ...common, tableName: 'sales_transactions' },
  );
  const SalesTransactionLine = sequelize.define(
    'SalesTransactionLine',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      transactionId: { type: DataTypes.UUID, allowNull: false },
      productName: { type: DataTypes.TEXT, allowNull: false },
      quantity: { type: DataTypes.INTEGER, allowNull: false },
      unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
      vatRate: { type: DataTypes.DECIMAL(4, 2), allowNull: false },
    },
    { ...common, tableName: 'sales_transaction_lines' },
  );
  sequelize.define(
    'DailySalesSummary',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      businessDate: { type: DataTypes.DATEONLY, allowNull: false },
      shopLocation: { type: DataTypes.TEXT, allowNull: false },
      transactionCount: { type: DataTypes.INTEGER, allowNull: false },
      grossCents: { type: DataTypes.INTEGER, allowNull: false },
      closedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'daily_sales_summaries' },
  );
  const Invoice = sequelize.define(
    'Invoice',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      invoiceNumber: { type: DataTypes.TEXT, allowNull: false },
      // Plain reference to sales_transactions.id, deliberately without a foreign key (invoices are retained).
      saleReference: DataTypes.UUID,
      customerName: DataTypes.TEXT,
      customerEmail: DataTypes.TEXT,
      billingAddress: DataTypes.TEXT,
      netCents: { type: DataTypes.INTEGER, allowNull: false },
      vatCents: { type: DataTypes.INTEGER, allowNull: false },
      grossCents: { type: DataTypes.INTEGER, allowNull: false },
      issuedAt: DataTypes.DATE,
      createdBy: DataTypes.UUID,
    },
    { ...common, tableName: 'invoices' },
  );
  const InvoiceLine = sequelize.define(
    'InvoiceLine',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      invoiceId: { type: DataTypes.UUID, allowNull: false },
      description: { type: DataTypes.TEXT, allowNull: false },
      quantity: { type: DataTypes.INTEGER, allowNull: false },
      unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
      vatRate: { type: DataTypes.DECIMAL(4, 2), allowNull: false },
    },
    { ...common, tableName: 'invoice_lines' },
  );
  SalesTransaction.hasMany(SalesTransactionLine, { foreignKey: 'transactionId' });
  SalesTransactionLine.belongsTo(SalesTransaction, { foreignKey: 'transactionId' });
  Invoice.hasMany(InvoiceLine, { foreignKey: 'invoiceId' });
  InvoiceLine.belongsTo(Invoice, { foreignKey: 'invoiceId' });
}
