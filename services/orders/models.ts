import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the orders database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Customer = sequelize.define(
    'Customer',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      email: DataTypes.TEXT,
      phone: DataTypes.TEXT,
      createdBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'customers' },
  );
  const CustomerOrder = sequelize.define(
    'CustomerOrder',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      customerId: DataTypes.UUID,
      orderNumber: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.TEXT, allowNull: false },
      pickupAt: DataTypes.DATE,
      totalCents: { type: DataTypes.INTEGER, allowNull: false },
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'customer_orders' },
  );
  const OrderItem = sequelize.define(
    'OrderItem',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      orderId: { type: DataTypes.UUID, allowNull: false },
      productName: { type: DataTypes.TEXT, allowNull: false },
      quantity: { type: DataTypes.INTEGER, allowNull: false },
      unitPriceCents: { type: DataTypes.INTEGER, allowNull: false },
    },
    { ...common, tableName: 'order_items' },
  );
  Customer.hasMany(CustomerOrder, { foreignKey: 'customerId' });
  CustomerOrder.belongsTo(Customer, { foreignKey: 'customerId' });
  CustomerOrder.hasMany(OrderItem, { foreignKey: 'orderId' });
  OrderItem.belongsTo(CustomerOrder, { foreignKey: 'orderId' });
}
