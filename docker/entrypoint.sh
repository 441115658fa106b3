#!/bin/sh
# The image's entrypoint: refuses to start a process of the mesh without a database password or
# without its keys (a trust bundle or JWKS URL), then
# execs node (PID 1's only process, so SIGTERM from `docker stop` reaches the service, which drains).
# The service is the first argument or ERASURE_SERVICE. Its database is <NAME>_DATABASE_URL or
# DATABASE_URL; the password is in that URL, in PGPASSWORD, or in ERASURE_DATABASE_PASSWORD_FILE (a
# runtime role's password, mesh/provision.ts). No default password exists anywhere.
# `provision` (as the service) runs `erasure db provision /run/secrets` (the passwords mounted at /run/secrets/db/) as the administrator of
# DATABASE_URL: databases, migrations and one runtime role per process, before the mesh starts.
set -eu
service="${1:-${ERASURE_SERVICE:-}}"
if [ -z "$service" ]; then
  echo "refusing to start: name the service (first argument or ERASURE_SERVICE)" >&2
  exit 64
fi
prefix=$(printf '%s' "$service" | tr 'a-z-' 'A-Z_')
url=$(printenv "${prefix}_DATABASE_URL" 2>/dev/null || true)
[ -n "$url" ] || url="${DATABASE_URL:-}"
if [ -z "$url" ]; then
  echo "refusing to start $service: set DATABASE_URL (or ${prefix}_DATABASE_URL) with the service's own role and password" >&2
  exit 78
fi
# postgres://user:password@host… : a non-empty password between the first ':' after the scheme and the '@'.
case "$url" in
  *://*:?*@*) ;;
  *)
    if [ -z "${PGPASSWORD:-}" ] && { [ "$service" = provision ] || [ ! -s "${ERASURE_DATABASE_PASSWORD_FILE:-/nonexistent}" ]; }; then
      echo "refusing to start $service: the database URL has no password, PGPASSWORD is not set and ERASURE_DATABASE_PASSWORD_FILE names no file" >&2
      exit 78
    fi
    ;;
esac
if [ "$service" = provision ]; then
  if [ "${ERASURE_ENTRYPOINT_CHECK_ONLY:-}" = "1" ]; then exit 0; fi
  exec node dist/cli/erasure.js db provision /run/secrets
fi
# Keys are mounted, never generated in a container: a process that generated its own would trust no one.
if [ -z "${ERASURE_TRUST_BUNDLE_FILE:-}" ] && [ -z "${ERASURE_TRUST_JWKS_URL:-}" ]; then
  echo "refusing to start $service: set ERASURE_TRUST_BUNDLE_FILE (mounted trust bundle) or ERASURE_TRUST_JWKS_URL, and ERASURE_SIGNING_KEY_FILE (its own key)" >&2
  exit 78
fi
if [ "${ERASURE_ENTRYPOINT_CHECK_ONLY:-}" = "1" ]; then exit 0; fi
# The mesh's runtime environment and node flags (mesh/process-env.ts prints `NAME=value … node <flags>`), the same as every other way of starting a process.
# shellcheck disable=SC2046 # NAME=value words and flags, split on purpose
exec env $(node dist/mesh/process-env.js) --require ./dist/services/kit/tracing-register.js dist/bin/service.js "$service"
