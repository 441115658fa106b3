import type { DomainService } from './kit/service-definition';
import { alertProcessorService } from './alert-processor';
import { externalService } from './external';
import { forecastingService } from './forecasting';
import { inventoryService } from './inventory';
import { notificationService } from './notification';
import { ordersService } from './orders';
import { posService } from './pos';
import { productionService } from './production';
import { recipesService } from './recipes';
import { salesService } from './sales';
import { suppliersService } from './suppliers';
import { trainingService } from './training';

/** The twelve domain services, in the order of their default ports (DESIGN §2). */
export const domainServices: DomainService[] = [
  ordersService,
  inventoryService,
  recipesService,
  productionService,
  salesService,
  suppliersService,
  posService,
  externalService,
  forecastingService,
  trainingService,
  notificationService,
  alertProcessorService,
];

export function domainService(name: string): DomainService | undefined {
  return domainServices.find((service) => service.name === name);
}
