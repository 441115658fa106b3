import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the suppliers database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Supplier = sequelize.define(
    'Supplier',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      supplierNumber: { type: DataTypes.TEXT, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      category: { type: DataTypes.TEXT, allowNull: false },
      email: DataTypes.TEXT,
      phone: DataTypes.TEXT,
      city: DataTypes.TEXT,
      paymentTermsDays: { type: DataTypes.INTEGER, allowNull: false },
      active: { type: DataTypes.BOOLEAN, allowNull: false },
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'suppliers' },
  );
  const SupplierContact = sequelize.define(
    'SupplierContact',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      supplierId: { type: DataTypes.UUID, allowNull: false },
      fullName: DataTypes.TEXT,
      role: { type: DataTypes.TEXT, allowNull: false },
      email: DataTypes.TEXT,
      phone: DataTypes.TEXT,
      isPrimary: { type: DataTypes.BOOLEAN, allowNull: false },
    },
    { ...common, tableName: 'supplier_contacts' },
  );
  const PurchaseOrder = sequelize.define(
    'PurchaseOrder',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      supplierId: { type: DataTypes.UUID, allowNull: false },
      poNumber: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      orderedAt: DataTypes.DATE,
      expectedDelivery: DataTypes.DATEONLY,
      totalCents: { type: DataTypes.INTEGER, allowNull: false },
      currency: { type: DataTypes.TEXT, allowNull: false },
      createdBy: DataTypes.UUID,
      approvedBy: DataTypes.UUID,
      approvedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'purchase_orders' },
  );
  const PurchaseOrderLine = sequelize.define(
    'PurchaseOrderLine',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      purchaseOrderId: { type: DataTypes.UUID, allowNull: false },
      lineNumber: { type: DataTypes.INTEGER, allowNull: false },
      itemName: { type: DataTypes.TEXT, allowNull: false },
      quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
      unit: { type: DataTypes.TEXT, allowNull: false },
      unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
    },
    { ...common, tableName: 'purchase_order_lines' },
  );
  Supplier.hasMany(SupplierContact, { foreignKey: 'supplierId' });
  SupplierContact.belongsTo(Supplier, { foreignKey: 'supplierId' });
  Supplier.hasMany(PurchaseOrder, { foreignKey: 'supplierId' });
  PurchaseOrder.belongsTo(Supplier, { foreignKey: 'supplierId' });
  PurchaseOrder.hasMany(PurchaseOrderLine, { foreignKey: 'purchaseOrderId' });
  PurchaseOrderLine.belongsTo(PurchaseOrder, { foreignKey: 'purchaseOrderId' });
}
