#!/usr/bin/env bash
# The double-texting example with curl: run 1, after 2 s run 2 with multitask_strategy=interrupt,
# then join run 2 (prints the thread's final state).
#   examples/double_texting.sh [http://127.0.0.1:8123] [interrupt|rollback|enqueue]
set -euo pipefail
URL=${1:-http://127.0.0.1:8123}
STRATEGY=${2:-interrupt}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }

THREAD_ID=$(curl -s --fail-with-body --request POST --url "$URL/threads" \
  --header 'Content-Type: application/json' --data '{}' | field thread_id)

curl -s --fail-with-body --request POST \
  --url "$URL/threads/$THREAD_ID/runs" \
  --header 'Content-Type: application/json' \
  --data '{
    "assistant_id": "agent",
    "input": {"messages": [{"role": "human", "content": "what'\''s the weather in sf?"}]}
  }' > /dev/null && sleep 2

RUN_ID=$(curl -s --fail-with-body --request POST \
  --url "$URL/threads/$THREAD_ID/runs" \
  --header 'Content-Type: application/json' \
  --data '{
    "assistant_id": "agent",
    "input": {"messages": [{"role": "human", "content": "what'\''s the weather in nyc?"}]},
    "multitask_strategy": "'"$STRATEGY"'"
  }' | field run_id)

curl -s --fail-with-body --request GET --url "$URL/threads/$THREAD_ID/runs/$RUN_ID/join"
echo
