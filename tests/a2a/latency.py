"""Latency of a blocking SendMessage with the quick agent (a word count), as the official A2A
Python SDK's 1.0 client sees it, and as a bare HTTP client sees it (the same JSON-RPC call
without the SDK's protobuf conversions). Requests are sequential, on one kept-alive connection,
after a warm-up. Run by scripts/a2a-latency, which builds and starts the server."""

import argparse
import asyncio
import statistics
import time
import uuid

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.helpers import new_text_message
from a2a.types.a2a_pb2 import Role, SendMessageRequest, TaskState

from server import Server


def percentiles(samples):
    ordered = sorted(samples)

    def at(p):
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return f"p50 {at(50):.2f} ms  p90 {at(90):.2f} ms  p99 {at(99):.2f} ms  max {ordered[-1] * 1000:.2f} ms  mean {statistics.mean(ordered) * 1000:.2f} ms"


async def sdk(url, count, warmup):
    async with httpx.AsyncClient(timeout=30) as http:
        card = await A2ACardResolver(http, url).get_agent_card()
        client = ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(card)
        samples = []
        for i in range(warmup + count):
            request = SendMessageRequest(message=new_text_message(f"count the words of request {i}", role=Role.ROLE_USER))
            started = time.perf_counter()
            responses = [r async for r in client.send_message(request)]
            elapsed = time.perf_counter() - started
            assert responses[0].task.status.state == TaskState.TASK_STATE_COMPLETED, responses
            if i >= warmup:
                samples.append(elapsed)
        return samples


async def bare(url, count, warmup):
    async with httpx.AsyncClient(timeout=30) as http:
        samples = []
        for i in range(warmup + count):
            message = {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": f"count request {i}"}]}
            body = {"jsonrpc": "2.0", "id": i, "method": "SendMessage", "params": {"message": message}}
            started = time.perf_counter()
            response = await http.post(url + "/", json=body)
            elapsed = time.perf_counter() - started
            assert response.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", response.text
            if i >= warmup:
                samples.append(elapsed)
        return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    server = Server()
    try:
        print(f"server: {server.output[0].strip()}")
        for name, measure in (("SDK 1.0 client", sdk), ("bare HTTP client", bare)):
            samples = asyncio.run(measure(server.url, args.requests, args.warmup))
            print(f"SendMessage, blocking, {args.requests} sequential requests, {name}: {percentiles(samples)}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
