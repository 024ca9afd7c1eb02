#!/usr/bin/env python3
"""Read receipts: the app server, an upstream event handler for wps-server or Azure Web PubSub.

Clients never talk to each other directly. They send *events* ("chat", "read"); the service
POSTs each one here as a CloudEvent (HTTP binary mode), and this app decides what happens,
then uses the service's REST API (through the connection string) to reach other users.

    python app.py --connection-string "Endpoint=http://127.0.0.1;Port=8080;AccessKey=KEY;Version=1.0;" \
                  --hub chat --port 8081

Configure the service to call http://127.0.0.1:8081/eventhandler/{event}
(wps-server: --event-handler 'http://127.0.0.1:8081/eventhandler/{event}').
Only the standard library, `cloudevents` and `azure-messaging-webpubsubservice` are used.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

from azure.core.exceptions import AzureError
from azure.messaging.webpubsubservice import WebPubSubServiceClient
from cloudevents.core.bindings.http import HTTPMessage, from_binary_event

SYSTEM = "azure.webpubsub.sys."  # ce-type prefix of connect / connected / disconnected
USER = "azure.webpubsub.user."   # ce-type prefix of events clients send


def log(msg: str) -> None:
    print(f"[app] {msg}", flush=True)


class Reply(Exception):
    """Raised to answer the current request with a status and an optional body."""

    def __init__(self, status: int, body: dict | str | None = None):
        super().__init__(status, body)
        self.status, self.body = status, body


class App:
    def __init__(self, connection_string: str, hub: str):
        fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
        fields = {k.lower(): v for k, v in fields.items()}
        self.access_key = fields["accesskey"]
        # The service names itself in WebHook-Request-Origin: the host of the endpoint
        # (127.0.0.1 here, <name>.webpubsub.azure.com on Azure). Only that origin may use us.
        self.origin = urlparse(fields["endpoint"]).hostname or ""
        self.hub = hub
        self.service = WebPubSubServiceClient.from_connection_string(connection_string, hub=hub)

    # -- abuse protection ---------------------------------------------------------------------

    def allowed_origin(self, request_origin: str) -> str | None:
        origins = [o.strip().lower() for o in request_origin.split(",")]
        return request_origin if self.origin.lower() in origins else None

    # -- events --------------------------------------------------------------------------------

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict | None]:
        event = from_binary_event(HTTPMessage(headers=headers, body=body))
        connection_id = event.get_extension("connectionid") or ""
        # Anyone can POST to this URL; only the service knows the access key, and it signs
        # the connection id with it (one entry per key, so key rotation keeps working).
        expected = "sha256=" + hmac.new(self.access_key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()
        entries = [e.strip() for e in (event.get_extension("signature") or "").split(",")]
        if not any(hmac.compare_digest(e.lower(), expected) for e in entries):
            raise Reply(401, "invalid ce-signature")
        if (event.get_extension("hub") or "").lower() != self.hub.lower():
            raise Reply(400, f"this app serves the hub {self.hub!r} only")

        kind, user, data = event.get_type(), event.get_extension("userid"), event.get_data()
        if kind == SYSTEM + "connect":
            return self.connect(data or {})
        if kind == SYSTEM + "connected":
            log(f"{user} connected ({connection_id})")
            return 200, None
        if kind == SYSTEM + "disconnected":
            log(f"{user} disconnected: {(data or {}).get('reason')}")
            return 200, None
        if kind == USER + "chat":
            return self.chat(user, data)
        if kind == USER + "read":
            return self.read(user, data)
        raise Reply(400, f"unknown event {event.get_extension('eventname')!r}")

    def connect(self, request: dict) -> tuple[int, dict]:
        # Blocking: the client's WebSocket upgrade waits for this answer. A real app would
        # check a session here; the demo takes the token's user, else ?user=NAME.
        user = (request.get("claims", {}).get("sub") or request.get("query", {}).get("user") or [""])[0]
        if not user:
            log("connect refused: no user id")
            raise Reply(401, "a user id is required: a token with one, or ?user=NAME")
        log(f"connect {user}: accepted")
        return 200, {"userId": user}  # the connection's identity from now on

    def chat(self, sender: str, data) -> tuple[int, dict]:
        if not (isinstance(data, dict) and all(isinstance(data.get(k), str) for k in ("to", "text", "id"))):
            raise Reply(400, 'chat needs {"to": user, "text": text, "id": message id}')
        self.send(data["to"], {"kind": "chat", "from": sender, "text": data["text"], "id": data["id"]})
        log(f"chat #{data['id']} {sender} -> {data['to']}: forwarded")
        # This body goes back to the *sender* as a server message, before its ack.
        return 200, {"status": "forwarded", "id": data["id"]}

    def read(self, reader: str, data) -> tuple[int, None]:
        if not (isinstance(data, dict) and isinstance(data.get("to"), str) and isinstance(data.get("id"), str)):
            raise Reply(400, 'read needs {"to": original sender, "id": message id}')
        self.send(data["to"], {"kind": "receipt", "by": reader, "id": data["id"]})
        log(f"read #{data['id']} by {reader}: receipt sent to {data['to']}")
        return 204, None

    def send(self, user: str, message: dict) -> None:
        try:  # REST: every connection of that user gets it, as a server message (dataType json)
            self.service.send_to_user(user, message, content_type="application/json")
        except AzureError as e:
            raise Reply(502, f"could not reach {user}: {e}") from None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the service keeps connections alive; every reply has a length
    app: App

    def do_OPTIONS(self) -> None:
        # Abuse protection: before the first event the service asks whether it may call us.
        allowed = self.app.allowed_origin(self.headers.get("WebHook-Request-Origin", ""))
        self.reply(200 if allowed else 400, None, {"WebHook-Allowed-Origin": allowed} if allowed else {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/eventhandler/"):
            return self.reply(404, "not found")
        try:
            status, answer = self.app.handle(dict(self.headers.items()), body)
        except Reply as r:
            status, answer = r.status, r.body
        except Exception as e:  # a malformed request: say why instead of dropping the connection
            status, answer = 400, f"bad request: {e}"
        self.reply(status, answer)

    def reply(self, status: int, body: dict | str | None, headers: dict[str, str] | None = None) -> None:
        data, ctype = b"", None
        if isinstance(body, dict):
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        elif body:
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if ctype:
            self.send_header("Content-Type", ctype)
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # the events are logged by App instead
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--connection-string", default=os.environ.get("WEBPUBSUB_CONNECTION_STRING"),
                   help="Endpoint=...;AccessKey=...;Version=1.0; (default: $WEBPUBSUB_CONNECTION_STRING)")
    p.add_argument("--hub", default=os.environ.get("WEBPUBSUB_HUB", "chat"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT", "8081")))
    args = p.parse_args()
    if not args.connection_string:
        p.error("--connection-string or WEBPUBSUB_CONNECTION_STRING is required")

    Handler.app = App(args.connection_string, args.hub)
    server = ThreadingHTTPServer((args.host, args.port), Handler)  # a thread per connection
    server.daemon_threads = True
    log(f"event handler listening on http://{args.host}:{server.server_address[1]}/eventhandler/{{event}}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
