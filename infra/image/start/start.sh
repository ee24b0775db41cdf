#!/bin/sh
# The container's command, under tini. The heartbeat checklist step runs detached beside the gateway (its
# parent shell exits at once, so tini adopts and reaps it); the gateway replaces this shell, so tini's
# signals reach it directly.
( node /opt/yourclaw/start/heartbeat-checklist.mjs & )
# Node's compile cache on the volume (NODE_COMPILE_CACHE, in the Dockerfile) keeps a directory per OpenClaw
# version (<cache>/openclaw/<version>/<install>): all but this version's and the newest other one (a rollback's)
# are removed, detached like the step above.
( (
  cache="${NODE_COMPILE_CACHE:-}/openclaw"
  current="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' /opt/openclaw/node_modules/openclaw/package.json | head -n 1)"
  if [ -n "${NODE_COMPILE_CACHE:-}" ] && [ -d "$cache" ] && [ -n "$current" ]; then
    ls -1t "$cache" | grep -vxF "$current" | tail -n +2 | while read -r old; do rm -rf -- "${cache:?}/$old"; done
  fi
) & )
exec openclaw gateway --port 18789
