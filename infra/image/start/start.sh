#!/bin/sh
# The container's command, under tini. The heartbeat checklist step runs detached beside the gateway (its
# parent shell exits at once, so tini adopts and reaps it); the gateway replaces this shell, so tini's
# signals reach it directly.
( node /opt/yourclaw/start/heartbeat-checklist.mjs & )
exec openclaw gateway --port 18789
