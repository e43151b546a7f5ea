"""websockets (Python) as a client of a wsflow server: runs the interop scenario, prints JSON results.

usage: py_client.py URL [--compression [--deflate JSON]]
  --deflate: keyword arguments of websockets' ClientPerMessageDeflateFactory, e.g.
             '{"server_max_window_bits": 9, "client_max_window_bits": 9}'
"""
import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from fixtures import MESSAGES, FRAG_TEXT, FRAG_BINARY, chunks

TIMEOUT = 10


def size(data):
    return len(data.encode("utf-8")) if isinstance(data, str) else len(data)


def kind(data):
    return "text" if isinstance(data, str) else "binary"


def deflate_options(compression, deflate):
    if not compression:
        return {"compression": None}
    if deflate is None:
        return {"compression": "deflate"}
    return {"compression": None, "extensions": [ClientPerMessageDeflateFactory(**deflate)]}


async def conn1(url, compression, deflate):
    out = {"echoes": []}
    async with websockets.connect(
        url, **deflate_options(compression, deflate), max_size=None,
        ping_interval=None, subprotocols=["chat.v2", "chat"], close_timeout=5,
    ) as ws:
        out["protocol"] = ws.subprotocol
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        for name, data, frag in MESSAGES:
            if frag is None:
                await ws.send(data)
            else:
                await ws.send(chunks(data, frag))  # an iterable: one frame per fragment
            echo = await asyncio.wait_for(ws.recv(), TIMEOUT)
            out["echoes"].append({"name": name, "ok": echo == data, "type": kind(echo), "len": size(echo)})
        waiter = await ws.ping(b"cli-ping")
        await asyncio.wait_for(waiter, TIMEOUT)
        out["clientPong"] = "cli-ping"
        await ws.send("srv-ping:hello")
        out["serverPing"] = await asyncio.wait_for(ws.recv(), TIMEOUT)
        await ws.send("srv-fragments")
        t = await asyncio.wait_for(ws.recv(), TIMEOUT)
        b = await asyncio.wait_for(ws.recv(), TIMEOUT)
        out["srvFragments"] = {"text": t == FRAG_TEXT, "binary": b == FRAG_BINARY}
        await ws.close(4001, "bye")
        out["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    return out


async def conn2(url, compression, deflate):
    out = {}
    async with websockets.connect(url, **deflate_options(compression, deflate),
                                  ping_interval=None, close_timeout=5) as ws:
        await ws.send("srv-close:4002:srv")
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            out["unexpected"] = "got a message"
        except websockets.ConnectionClosed:
            pass
        out["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    return out


async def main():
    url = sys.argv[1]
    args = sys.argv[2:]
    compression = "--compression" in args
    deflate = json.loads(args[args.index("--deflate") + 1]) if "--deflate" in args else None
    result = {"conn1": await conn1(url, compression, deflate), "conn2": await conn2(url, compression, deflate)}
    print(json.dumps(result), flush=True)


asyncio.run(main())
