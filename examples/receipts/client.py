#!/usr/bin/env python3
"""Read receipts: two clients, alice and bob, with the official Web PubSub client SDK.

alice sends a "chat" event to bob; the app server forwards it; bob answers with a "read" event;
the app server sends alice the receipt. Exit status 0 when the receipt arrived in time.

    python client.py --server http://127.0.0.1:8080 --negotiate-key KEY --hub chat
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid

from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubDataType, WebPubSubProtocolType


def negotiate(server: str, key: str, hub: str, user: str) -> str:
    """The client URL for `user`, from the server's /negotiate (an app would serve its own)."""
    query = urllib.parse.urlencode({"userId": user, "hub": hub})
    request = urllib.request.Request(f"{server}/negotiate?{query}", headers={"x-api-key": key})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["url"]


class Person:
    """One user: an SDK client plus an inbox of the server messages it received."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.inbox: queue.Queue = queue.Queue()
        self.client = WebPubSubClient(
            # A callable, so every fresh connection gets a fresh token.
            credential=WebPubSubClientCredential(lambda: negotiate(args.server, args.negotiate_key, args.hub, name)),
            # Reliable: a dropped socket resumes without losing messages.
            protocol_type=WebPubSubProtocolType.JSON_RELIABLE,
            # Short waits, so a lost ack or start fails the demo quickly (the defaults are 30 s).
            ack_timeout=5.0, start_timeout=5.0)
        self.client.subscribe(CallbackType.CONNECTED, lambda e: self.say(f"connected as {e.user_id}"))
        # Everything the app server sends (replies and REST sends) arrives as a server message.
        self.client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: self.inbox.put(e.data))

    def say(self, text: str) -> None:
        print(f"[{self.name}] {text}", flush=True)

    def wait_for(self, what: str, match, deadline: float) -> dict:
        while True:
            left = deadline - time.monotonic()
            try:
                message = self.inbox.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TimeoutError(f"{self.name}: no {what} in time") from None
            if isinstance(message, dict) and match(message):
                return message
            self.say(f"(ignoring {message!r})")

    def close(self) -> None:
        # close() waits for the SDK's threads; never let it hold up the exit.
        t = threading.Thread(target=self.client.close, daemon=True)
        t.start()
        t.join(5)


def run(args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.timeout
    alice, bob = Person("alice", args), Person("bob", args)
    try:
        alice.client.open()
        bob.client.open()

        msg_id = uuid.uuid4().hex[:8]
        chat = {"to": "bob", "text": "lunch at noon?", "id": msg_id}
        alice.say(f"send_event chat #{msg_id} to bob: {chat['text']!r}")
        alice.client.send_event("chat", chat, WebPubSubDataType.JSON)  # returns once acked
        reply = alice.wait_for("reply", lambda m: m.get("status") == "forwarded" and m.get("id") == msg_id, deadline)
        alice.say(f"app server answered {reply}, then acked")

        got = bob.wait_for("chat", lambda m: m.get("kind") == "chat" and m.get("id") == msg_id, deadline)
        bob.say(f"got chat #{got['id']} from {got['from']}: {got['text']!r}")
        bob.client.send_event("read", {"to": got["from"], "id": got["id"]}, WebPubSubDataType.JSON)
        bob.say(f"send_event read #{got['id']} (acked)")

        receipt = alice.wait_for("receipt", lambda m: m.get("kind") == "receipt" and m.get("id") == msg_id, deadline)
        alice.say(f"receipt: #{receipt['id']} read by {receipt['by']}")
    finally:
        alice.close()
        bob.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default=os.environ.get("WPS_SERVER_URL", "http://127.0.0.1:8080"),
                   help="where /negotiate is served (default: $WPS_SERVER_URL or http://127.0.0.1:8080)")
    p.add_argument("--negotiate-key", default=os.environ.get("WPS_NEGOTIATE_KEY"),
                   help="the x-api-key of /negotiate (default: $WPS_NEGOTIATE_KEY)")
    p.add_argument("--hub", default=os.environ.get("WEBPUBSUB_HUB", "chat"))
    p.add_argument("--timeout", type=float, default=15.0, help="seconds for the whole exchange")
    args = p.parse_args()
    # The SDK logs a warning for its own orderly close; errors still reach stderr.
    logging.getLogger("azure.messaging.webpubsubclient").setLevel(logging.ERROR)
    if not args.negotiate_key:
        p.error("--negotiate-key or WPS_NEGOTIATE_KEY is required")
    try:
        run(args)
    except Exception as e:  # a timeout, a refused connection, a failed ack: say which, exit non-zero
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        return 1
    print("OK: the read receipt arrived", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
