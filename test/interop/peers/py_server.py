"""websockets (Python) as an echo server for a wsflow client. Prints `LISTENING <port>`, then one JSON
line per event. Commands: `srv-ping:X` (ping X, answer `srv-pong:X` after the pong), `srv-close:CODE:REASON`,
`srv-fragments` (sends FRAG_TEXT and FRAG_BINARY fragmented). Messages over 64 KiB are echoed fragmented.

usage: py_server.py [--no-compression]
"""
import asyncio
import json
import sys

import websockets

from fixtures import FRAG_TEXT, FRAG_BINARY, chunks

TIMEOUT = 10


def log(**event):
    print(json.dumps(event), flush=True)


async def handler(ws, path=None):
    log(event="open", protocol=ws.subprotocol, extensions=ws.response_headers.get("Sec-WebSocket-Extensions", ""))
    initiator = "client"
    try:
        async for msg in ws:
            if isinstance(msg, str) and msg.startswith("srv-ping:"):
                payload = msg[len("srv-ping:"):]
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, TIMEOUT)
                await ws.send("srv-pong:" + payload)
            elif isinstance(msg, str) and msg.startswith("srv-close:"):
                _, code, reason = msg.split(":", 2)
                initiator = "server"
                await ws.close(int(code), reason)
                break
            elif msg == "srv-fragments":
                await ws.send(chunks(FRAG_TEXT, 1000))
                await ws.send(chunks(FRAG_BINARY, 100000))
            elif len(msg) > 65536:
                await ws.send(chunks(msg, 65536))
            else:
                await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
    await ws.wait_closed()
    log(event="close", initiator=initiator, code=ws.close_code, reason=ws.close_reason)


async def main():
    compression = None if "--no-compression" in sys.argv[1:] else "deflate"
    async with websockets.serve(handler, "127.0.0.1", 0, compression=compression, max_size=None,
                                ping_interval=None, subprotocols=["chat.v2"], close_timeout=5) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await asyncio.Future()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    pass
