# The mesh image: compiled JavaScript and production dependencies only. One image runs any process of
# the mesh; the service is chosen by the first argument or by ERASURE_SERVICE:
#   docker run … bakery-erasure-mesh orders
#   docker run -e ERASURE_SERVICE=orchestrator … bakery-erasure-mesh
# Needs DATABASE_URL (a PostgreSQL server) and ERASURE_JWT_SECRET (shared by every process).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: the buf image served by server reflection, and the health proto of the health client.
COPY gen/descriptors.binpb ./gen/descriptors.binpb
COPY third_party ./third_party
USER node
EXPOSE 7100-7114
# OpenTelemetry is preloaded before grpc and pg; `exec` makes node PID 1's only process, so SIGTERM from
# `docker stop` reaches the service, which drains and exits.
ENTRYPOINT ["/bin/sh", "-c", "exec node --require ./dist/services/kit/tracing-register.js dist/bin/service.js \"${1:-$ERASURE_SERVICE}\"", "mesh"]
CMD []
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 CMD ["node", "dist/mesh/healthcheck.js"]
