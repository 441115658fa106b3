import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

/** The orders database: customers, their orders and the order lines. */
export const customers = defineTable(
  'customers',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    email: DataTypes.TEXT,
    phone: DataTypes.TEXT,
    createdBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'Customer',
    erasure: {
      tenant: { deleteBy: 'tenantId' },
      user: { anonymize: ['createdBy'] },
      // The customer record is the customer's own: it goes. Its id is the tenant's own customer id.
      customer: { deleteBy: { tenant: 'tenantId', email: 'email', phone: 'phone', customerId: 'id' }, describe: ['name'] },
    },
  },
);

export const customerOrders = defineTable(
  'customer_orders',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    customerId: foreignKey('customers', { nullable: true }),
    orderNumber: { type: DataTypes.TEXT, allowNull: false },
    status: { type: DataTypes.TEXT, allowNull: false },
    pickupAt: DataTypes.DATE,
    totalCents: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
  },
  {
    modelName: 'CustomerOrder',
    // An order without its customer is the bakery's sales record and names nobody: it stays, unlinked.
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] }, customer: { unlink: 'customerId' } },
  },
);

/** Carries no tenant_id: an order line goes with its order. */
export const orderItems = defineTable(
  'order_items',
  {
    id: uuidPrimaryKey(),
    orderId: foreignKey('customer_orders'),
    productName: { type: DataTypes.TEXT, allowNull: false },
    quantity: { type: DataTypes.INTEGER, allowNull: false },
    unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
  },
  { modelName: 'OrderItem', erasure: { tenant: { deleteThrough: 'orderId' } } },
);

/** Every table of the orders database, parents first. */
export const tables = [customers, customerOrders, orderItems];
