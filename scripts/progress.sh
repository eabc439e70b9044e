# Sourced by scripts/setup and scripts/demo: progress a person can read while a long step runs.
#
# heartbeat PREFIX LABEL CMD...   runs CMD; while it runs, prints "PREFIX: still LABEL (1m20s)"
#                                 every $HEARTBEAT_S seconds (default 20), followed by the output
#                                 of the function named in $HEARTBEAT_STATUS when set. Returns
#                                 CMD's exit status.

# "75" -> "1m15s"
elapsed() {
  local s="$1"
  if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

heartbeat() {
  local prefix="$1" label="$2"
  shift 2
  local start pid ticker rc
  start="$(date +%s)"
  "$@" &
  pid=$!
  (
    while sleep "${HEARTBEAT_S:-20}"; do
      kill -0 "$pid" 2>/dev/null || exit 0
      status=""
      if [ -n "${HEARTBEAT_STATUS:-}" ]; then status="$("$HEARTBEAT_STATUS" 2>/dev/null || true)"; fi
      printf '%s: still %s (%s so far)%s\n' "$prefix" "$label" \
        "$(elapsed $(($(date +%s) - start)))" "${status:+; $status}" >&2
    done
  ) &
  ticker=$!
  if wait "$pid"; then rc=0; else rc=$?; fi
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}
