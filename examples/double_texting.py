"""The double-texting example (seed scenario), unchanged, with the official Python client.

    ./dev serve            # in one terminal
    .venv/bin/python examples/double_texting.py [http://127.0.0.1:8123] [interrupt|rollback|enqueue|reject]
"""

import asyncio
import sys

from langgraph_sdk import get_client


async def main(url: str, strategy: str) -> dict:
    client = get_client(url=url)
    assistant_id = "agent"
    thread = await client.threads.create()

    # the first run will be interrupted
    interrupted_run = await client.runs.create(
        thread["thread_id"],
        assistant_id,
        input={"messages": [{"role": "user", "content": "what's the weather in sf?"}]},
    )
    # sleep a bit to get partial outputs from the first run
    await asyncio.sleep(2)
    run = await client.runs.create(
        thread["thread_id"],
        assistant_id,
        input={"messages": [{"role": "user", "content": "what's the weather in nyc?"}]},
        multitask_strategy=strategy,
    )
    # wait until the second run completes
    state = await client.runs.join(thread["thread_id"], run["run_id"])

    try:
        first = await client.runs.get(thread["thread_id"], interrupted_run["run_id"])
        print(f"first run: {first['status']}")
    except Exception:  # rollback deletes the first run
        print("first run: deleted (rolled back)")
    for message in state["messages"]:
        print(f"{message['type']:>5}: {message['content']}")
    return state


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8123"
    asyncio.run(main(url, sys.argv[2] if len(sys.argv) > 2 else "interrupt"))
