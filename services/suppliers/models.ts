import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** Why the e-mail and phone columns here are not customer identifiers. */
const SUPPLIERS_ARE_NOT_CUSTOMERS = "a supplier's addresses and its contacts' are a business partner's, not a bakery's customers'";

export const suppliers = defineTable(
  'suppliers',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    supplierNumber: { type: DataTypes.TEXT, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    category: { type: DataTypes.TEXT, allowNull: false },
    email: DataTypes.TEXT,
    phone: DataTypes.TEXT,
    city: DataTypes.TEXT,
    paymentTermsDays: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 30 },
    active: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'Supplier',
    indexes: [{ unique: true, fields: ['tenantId', 'supplierNumber'] }],
    erasure: {
      tenant: { deleteBy: 'tenantId' },
      user: { anonymize: ['createdBy'] },
      customer: { notCustomerData: SUPPLIERS_ARE_NOT_CUSTOMERS },
    },
  },
);

/** supplier_contacts carries no tenant_id: it is reached through its supplier. */
export const supplierContacts = defineTable(
  'supplier_contacts',
  {
    id: uuidPrimaryKey(),
    supplierId: foreignKey('suppliers'),
    fullName: DataTypes.TEXT,
    role: { type: DataTypes.TEXT, allowNull: false },
    email: DataTypes.TEXT,
    phone: DataTypes.TEXT,
    isPrimary: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
  },
  { modelName: 'SupplierContact', erasure: { tenant: { deleteThrough: 'supplierId' }, customer: { notCustomerData: SUPPLIERS_ARE_NOT_CUSTOMERS } } },
);

export const purchaseOrders = defineTable(
  'purchase_orders',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    supplierId: foreignKey('suppliers'),
    poNumber: { type: DataTypes.TEXT, allowNull: false },
    status: {
      type: DataTypes.TEXT,
      allowNull: false,
      validate: { isIn: [['DRAFT', 'SUBMITTED', 'APPROVED', 'DELIVERED', 'CANCELLED']] },
    },
    orderedAt: timestampNow(),
    expectedDelivery: DataTypes.DATEONLY,
    totalCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    currency: { type: DataTypes.TEXT, allowNull: false, defaultValue: 'EUR' },
    createdBy: DataTypes.UUID,
    approvedBy: DataTypes.UUID,
    approvedAt: DataTypes.DATE,
  },
  {
    modelName: 'PurchaseOrder',
    indexes: [{ unique: true, fields: ['tenantId', 'poNumber'] }],
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'approvedBy'] } },
  },
);

/** purchase_order_lines carries no tenant_id: it is reached through its purchase order. */
export const purchaseOrderLines = defineTable(
  'purchase_order_lines',
  {
    id: uuidPrimaryKey(),
    purchaseOrderId: foreignKey('purchase_orders'),
    lineNumber: { type: DataTypes.INTEGER, allowNull: false },
    itemName: { type: DataTypes.TEXT, allowNull: false },
    quantity: { type: DataTypes.DECIMAL(12, 3), allowNull: false },
    unit: { type: DataTypes.TEXT, allowNull: false },
    unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
  },
  { modelName: 'PurchaseOrderLine', erasure: { tenant: { deleteThrough: 'purchaseOrderId' } } },
);

/** Every table of the suppliers database, parents first. */
export const tables = [suppliers, supplierContacts, purchaseOrders, purchaseOrderLines];
