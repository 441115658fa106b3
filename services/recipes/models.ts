import { DataTypes, type Sequelize } from 'sequelize';

/** Sequelize models of the recipes database; the schema itself is owned by the migrations. */
export function defineModels(sequelize: Sequelize): void {
  const common = { underscored: true, timestamps: false } as const;
  const Recipe = sequelize.define(
    'Recipe',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      code: { type: DataTypes.TEXT, allowNull: false },
      name: { type: DataTypes.TEXT, allowNull: false },
      category: { type: DataTypes.TEXT, allowNull: false },
      version: { type: DataTypes.INTEGER, allowNull: false },
      yieldQuantity: { type: DataTypes.INTEGER, allowNull: false },
      yieldUnit: { type: DataTypes.TEXT, allowNull: false },
      bakeTemperatureC: DataTypes.INTEGER,
      bakeMinutes: DataTypes.INTEGER,
      notes: DataTypes.TEXT,
      createdBy: DataTypes.UUID,
      updatedBy: DataTypes.UUID,
      createdAt: DataTypes.DATE,
      updatedAt: DataTypes.DATE,
    },
    { ...common, tableName: 'recipes' },
  );
  const RecipeIngredient = sequelize.define(
    'RecipeIngredient',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      recipeId: { type: DataTypes.UUID, allowNull: false },
      position: { type: DataTypes.INTEGER, allowNull: false },
      ingredientName: { type: DataTypes.TEXT, allowNull: false },
      ingredientRef: DataTypes.UUID,
      quantity: { type: DataTypes.DECIMAL(10, 3), allowNull: false },
      unit: { type: DataTypes.TEXT, allowNull: false },
      bakerPercentage: DataTypes.DECIMAL(6, 2),
    },
    { ...common, tableName: 'recipe_ingredients' },
  );
  const RecipeStep = sequelize.define(
    'RecipeStep',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      recipeId: { type: DataTypes.UUID, allowNull: false },
      stepNumber: { type: DataTypes.INTEGER, allowNull: false },
      title: { type: DataTypes.TEXT, allowNull: false },
      instruction: { type: DataTypes.TEXT, allowNull: false },
      durationMinutes: DataTypes.INTEGER,
      temperatureC: DataTypes.INTEGER,
    },
    { ...common, tableName: 'recipe_steps' },
  );
  const RecipeRating = sequelize.define(
    'RecipeRating',
    {
      id: { type: DataTypes.UUID, primaryKey: true, defaultValue: DataTypes.UUIDV4 },
      tenantId: { type: DataTypes.UUID, allowNull: false },
      recipeId: { type: DataTypes.UUID, allowNull: false },
      userId: { type: DataTypes.UUID, allowNull: false },
      rating: { type: DataTypes.SMALLINT, allowNull: false },
      comment: DataTypes.TEXT,
      createdAt: DataTypes.DATE,
    },
    { ...common, tableName: 'recipe_ratings' },
  );
  Recipe.hasMany(RecipeIngredient, { foreignKey: 'recipeId' });
  RecipeIngredient.belongsTo(Recipe, { foreignKey: 'recipeId' });
  Recipe.hasMany(RecipeStep, { foreignKey: 'recipeId' });
  RecipeStep.belongsTo(Recipe, { foreignKey: 'recipeId' });
  Recipe.hasMany(RecipeRating, { foreignKey: 'recipeId' });
  RecipeRating.belongsTo(Recipe, { foreignKey: 'recipeId' });
}
