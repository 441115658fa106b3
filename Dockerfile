# The mesh image: compiled JavaScript and production dependencies only. One image runs any process of
# the mesh; the service is chosen by the first argument or by ERASURE_SERVICE:
#   docker run … bakery-erasure-mesh orders
#   docker run -e ERASURE_SERVICE=orchestrator … bakery-erasure-mesh
# Needs DATABASE_URL (a PostgreSQL server, with a password: docker/entrypoint.sh refuses to start
# without one), ERASURE_TRUST_BUNDLE_FILE (the public keys of every identity) and
# ERASURE_SIGNING_KEY_FILE (this process's own private key), both mounted; the image holds no key.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node bin/build.js

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: the buf image served by server reflection, and the health proto of the health client.
COPY gen/descriptors.binpb ./gen/descriptors.binpb
COPY third_party ./third_party
COPY docker/entrypoint.sh ./docker/entrypoint.sh
USER node
# gRPC on 7100-7114; /metrics on 7200-7214 (set <NAME>_METRICS_ADDR=0.0.0.0:<port> to reach it from outside the container).
EXPOSE 7100-7114 7200-7214
# The entrypoint checks for a database password, then preloads OpenTelemetry before grpc and pg and
# execs node, so SIGTERM from `docker stop` reaches the service, which drains and exits.
ENTRYPOINT ["/bin/sh", "/app/docker/entrypoint.sh"]
CMD []
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 CMD ["node", "dist/mesh/healthcheck.js"]
