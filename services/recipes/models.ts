import { DataTypes } from '../kit/column-types';
import { defineTable, foreignKey, timestampNow, uuidPrimaryKey } from '../kit/models';

export const recipes = defineTable(
  'recipes',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    code: { type: DataTypes.TEXT, allowNull: false },
    name: { type: DataTypes.TEXT, allowNull: false },
    category: { type: DataTypes.TEXT, allowNull: false },
    version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
    yieldQuantity: { type: DataTypes.INTEGER, allowNull: false },
    yieldUnit: { type: DataTypes.TEXT, allowNull: false },
    bakeTemperatureC: DataTypes.INTEGER,
    bakeMinutes: DataTypes.INTEGER,
    notes: DataTypes.TEXT,
    createdBy: DataTypes.UUID,
    updatedBy: DataTypes.UUID,
    createdAt: timestampNow(),
    updatedAt: timestampNow(),
  },
  {
    modelName: 'Recipe',
    indexes: [{ unique: true, fields: ['tenantId', 'code'] }],
    erasure: { tenant: { deleteBy: 'tenantId' }, user: { anonymize: ['createdBy', 'updatedBy'] } },
  },
);

/**
 * recipe_ingredients and recipe_steps carry no tenant_id: they are reached through their recipe.
 * ingredient_ref points at an inventory ingredient (another service's database, so no FK).
 */
export const recipeIngredients = defineTable(
  'recipe_ingredients',
  {
    id: uuidPrimaryKey(),
    recipeId: foreignKey('recipes'),
    position: { type: DataTypes.INTEGER, allowNull: false },
    ingredientName: { type: DataTypes.TEXT, allowNull: false },
    ingredientRef: DataTypes.UUID,
    quantity: { type: DataTypes.DECIMAL(10, 3), allowNull: false },
    unit: { type: DataTypes.TEXT, allowNull: false },
    bakerPercentage: DataTypes.DECIMAL(6, 2),
  },
  { modelName: 'RecipeIngredient', erasure: { tenant: { deleteThrough: 'recipeId' } } },
);

export const recipeSteps = defineTable(
  'recipe_steps',
  {
    id: uuidPrimaryKey(),
    recipeId: foreignKey('recipes'),
    stepNumber: { type: DataTypes.INTEGER, allowNull: false },
    title: { type: DataTypes.TEXT, allowNull: false },
    instruction: { type: DataTypes.TEXT, allowNull: false },
    durationMinutes: DataTypes.INTEGER,
    temperatureC: DataTypes.INTEGER,
  },
  { modelName: 'RecipeStep', erasure: { tenant: { deleteThrough: 'recipeId' } } },
);

/** A baker's own rating of a recipe after a test bake: owned by the user (user_id). */
export const recipeRatings = defineTable(
  'recipe_ratings',
  {
    id: uuidPrimaryKey(),
    tenantId: { type: DataTypes.UUID, allowNull: false },
    recipeId: foreignKey('recipes'),
    userId: { type: DataTypes.UUID, allowNull: false },
    rating: { type: DataTypes.SMALLINT, allowNull: false, validate: { min: 1, max: 5 } },
    comment: DataTypes.TEXT,
    createdAt: timestampNow(),
  },
  { modelName: 'RecipeRating', erasure: { tenant: { deleteBy: 'tenantId' }, user: { deleteBy: 'userId' } } },
);

/** Every table of the recipes database, parents first. */
export const tables = [recipes, recipeIngredients, recipeSteps, recipeRatings];
