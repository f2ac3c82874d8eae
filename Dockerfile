# entrasync as a container beside the application: `entrasync run` (daemon) by default,
# `docker run IMAGE resync` and `docker exec CONTAINER entrasync status` for operators.
# Operators' guide: docs/operations.md.

# The base is pinned to a patch release, never the floating `node:24` tag: Node 24.19.0-24.21.x abort
# (SIGABRT) when the garbage collector finalizes a better-sqlite3 statement from a native callback
# (nodejs/node#65446). Moving the pin: docs/operations.md §10.
ARG NODE_VERSION=24.22.3

# ---- build: toolchain, all dependencies, compile, then drop the dev dependencies
FROM node:${NODE_VERSION}-bookworm-slim AS build
# better-sqlite3 compiles when its prebuilt binary cannot be downloaded; the official image ships
# the Node headers under /usr/local, so node-gyp needs no download either.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/chmod-bin.mjs scripts/
COPY src src
# prune keeps the compiled native addon: nothing is built twice.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: Node, production dependencies, dist/ and the default settings; no compiler, no npm cache
FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    ENTRASYNC_DB=/data/entrasync.db \
    ENTRASYNC_HTTP_HOST=0.0.0.0 \
    ENTRASYNC_HTTP_PORT=8080
WORKDIR /app
# Owned by root and read-only for the process; only /data is written (works with --read-only).
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY config config
# `entrasync` on the PATH for `docker exec`; node follows the link, so dist/ finds ../config.
RUN ln -s /app/dist/cli.js /usr/local/bin/entrasync \
 && mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
# No curl in the slim image: Node's fetch does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ENTRASYNC_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 (the shebang execs it) and handles SIGTERM itself: `docker stop` exits 0.
ENTRYPOINT ["entrasync"]
CMD ["run"]
