#!/usr/bin/python3
"""A user-space TCP latency proxy for the fault scenarios (tc netem is missing on the test kernel).

  delay_proxy.py --listen 127.0.0.9:7190 --source 127.0.0.9 --delay-ms 200 [--off]

Accepts connections that an nftables `nat output` DNAT rule redirected to it, reads each one's
original destination (SO_ORIGINAL_DST, from conntrack) and connects onward from --source, an
address the DNAT rule excludes, so the onward connection is not redirected again. Every chunk
read in either direction is written out --delay-ms after it arrived, in order (one queue per
direction; a chunk is never released before the one ahead of it). Started with --off, it relays
with no delay until it gets SIGUSR1 (SIGUSR2 turns the delay off again), so a scenario can add
the latency to connections that already carry traffic. Stdlib only.
"""
import argparse
import asyncio
import signal
import socket
import struct
import sys

SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h


class proxy:
    def __init__(self, delay_ms, on, source):
        self.delay = delay_ms / 1000.0
        self.on = on
        self.source = source
        self.connections = 0

    def current(self):
        return self.delay if self.on else 0.0

    async def pump(self, reader, writer):
        """Copies reader to writer, each chunk `current()` seconds after it was read, in order."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def read():
            try:
                while True:
                    data = await reader.read(65536)
                    queue.put_nowait((loop.time() + self.current(), data))
                    if not data:
                        return
            except (ConnectionError, OSError):
                queue.put_nowait((loop.time(), None))

        task = asyncio.ensure_future(read())
        last = 0.0
        try:
            while True:
                due, data = await queue.get()
                due = max(due, last)  # the delay may have changed: never overtake a chunk
                last = due
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:  # the reading side failed: reset
                    break
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            task.cancel()
        writer.transport.abort()

    async def handle(self, c_reader, c_writer):
        sock = c_writer.get_extra_info("socket")
        try:
            raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, packed = struct.unpack_from("!2xH4s", raw)
            dst = socket.inet_ntoa(packed)
            s_reader, s_writer = await asyncio.open_connection(
                dst, port, local_addr=(self.source, 0))
        except OSError:
            c_writer.transport.abort()
            return
        self.connections += 1
        for w in (c_writer, s_writer):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up = asyncio.ensure_future(self.pump(c_reader, s_writer))
        down = asyncio.ensure_future(self.pump(s_reader, c_writer))
        # When one direction ends with a reset, drop the other too (a half-close lets it run on).
        await asyncio.wait([up, down], return_when=asyncio.ALL_COMPLETED)
        c_writer.transport.abort()
        s_writer.transport.abort()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", required=True, help="HOST:PORT the DNAT rule redirects to")
    p.add_argument("--source", required=True, help="source address of onward connections")
    p.add_argument("--delay-ms", type=float, required=True, help="delay per direction")
    p.add_argument("--off", action="store_true", help="start with no delay (SIGUSR1 adds it)")
    args = p.parse_args()
    px = proxy(args.delay_ms, not args.off, args.source)
    loop = asyncio.get_running_loop()

    def turn(on):
        px.on = on
        print(f"delay {'on' if on else 'off'}: {px.current() * 1000:.0f} ms per direction",
              flush=True)

    loop.add_signal_handler(signal.SIGUSR1, turn, True)
    loop.add_signal_handler(signal.SIGUSR2, turn, False)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    host, port = args.listen.rsplit(":", 1)
    server = await asyncio.start_server(px.handle, host, int(port), reuse_address=True)
    print(f"listening {args.listen} delay {px.current() * 1000:.0f} ms", flush=True)
    async with server:
        await stop
    print(f"connections proxied: {px.connections}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
