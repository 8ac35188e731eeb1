#!/usr/bin/env python3
"""A game platform of xmpp-game-bridge over HTTP, with only Python's standard library.

It asks the bridge (POST /v1/<command>, JSON, a bearer token) and takes the bridge's
news on a webhook, checking each delivery's signature (Standard Webhooks). Commands are
read from standard input, one per line:

    peers alice@example.org          who alice is chatting with
    invite alice@example.org Chess   invite them to a game of Chess
    status bob@example.org ...       the status of users

Settings, from the environment: BRIDGE_URL (http://127.0.0.1:8480), BRIDGE_TOKEN
(from `xmpp-game-bridge platform new-token`), WEBHOOK_SECRET (from `platform
set-webhook`), WEBHOOK_LISTEN (127.0.0.1:9000, where the webhook is received).
"""
import base64, hashlib, hmac, http.server, json, os, sys, threading, time, urllib.error, urllib.request

BRIDGE = os.environ.get("BRIDGE_URL", "http://127.0.0.1:8480").rstrip("/")
TOKEN = os.environ["BRIDGE_TOKEN"]
SECRET = os.environ.get("WEBHOOK_SECRET", "")
HOST, PORT = os.environ.get("WEBHOOK_LISTEN", "127.0.0.1:9000").rsplit(":", 1)
seen = set()  # event ids already taken: a delivery may come twice


def call(command, **fields):
    """Runs a bridge command; its answer, or an error with the bridge's reason."""
    request = urllib.request.Request(
        f"{BRIDGE}/v1/{command}", data=json.dumps(fields).encode(), method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        problem = json.load(error)
        raise RuntimeError(f"{command}: {problem['status']} {problem['detail']}") from None


def verified(headers, body):
    """Whether a delivery is the bridge's: its signature, and a timestamp of now."""
    try:
        stamp = int(headers["webhook-timestamp"])
        key = base64.b64decode(SECRET.removeprefix("whsec_"))
        signed = f"{headers['webhook-id']}.{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    except (KeyError, ValueError):
        return False
    offered = [s.removeprefix("v1,") for s in headers.get("webhook-signature", "").split()]
    fresh = abs(time.time() - stamp) < 300  # older: a replay
    return fresh and any(hmac.compare_digest(expected, s) for s in offered)


class Webhook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            print("news: a delivery with a bad signature was refused", flush=True)
            return
        self.send_response(204)
        self.end_headers()
        event = json.loads(body)
        if event["id"] in seen:
            return
        seen.add(event["id"])
        fields = event["fields"]
        if event["type"] == "invite" and "invitee" in fields:
            print(f"news: {fields['invitee']} {fields['answer']} invite {fields['invite']}"
                  f" ({fields['outcome']})", flush=True)
        else:
            print(f"news: {event['summary']}", flush=True)

    def log_message(self, *args):
        pass


def run(line):
    words = line.split()
    if words[:1] == ["peers"] and len(words) == 2:
        peers = [item["jid"] for item in call("peers", jid=words[1])["items"]]
        print(f"{words[1]} is chatting with {', '.join(peers) or 'nobody'}", flush=True)
    elif words[:1] == ["status"] and len(words) > 1:
        for item in call("status", jids=words[1:])["items"]:
            print(f"{item['jid']}: {item['availability']}", flush=True)
    elif words[:1] == ["invite"] and len(words) == 3:
        host, game = words[1], words[2]
        peers = [item["jid"] for item in call("peers", jid=host)["items"]]
        if not peers:
            print(f"{host} is chatting with nobody: a solo game", flush=True)
            return
        answer = call("invite", host=host, invitees=peers, game=game,
                      session=f"{game.lower()}-{int(time.time())}")
        sent = [item["jid"] for item in answer["items"] if item["result"] == "sent"]
        print(f"invite {answer['fields']['invite']}: sent to {', '.join(sent)}", flush=True)
    else:
        print("commands: peers JID | status JID... | invite HOST GAME", flush=True)


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer((HOST, int(PORT)), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"webhook on http://{HOST}:{PORT}/, bridge at {BRIDGE}", flush=True)
    for line in sys.stdin:
        try:
            run(line)
        except (RuntimeError, OSError) as error:
            print(f"error: {error}", flush=True)
