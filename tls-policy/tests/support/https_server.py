#!/usr/bin/env python3
"""A small HTTPS server on OpenSSL (Python's ssl module) for the MTA-STS
and WKD tests: serves one body at the paths starting with --prefix
(default: the MTA-STS policy path) with the status and Content-Type the
test chooses, 404 elsewhere. Prints its port, then serves until killed."""
import argparse
import http.server
import ssl

parser = argparse.ArgumentParser()
parser.add_argument("--cert", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--body", required=True, help="file with the policy text")
parser.add_argument("--status", type=int, default=200)
parser.add_argument("--content-type", default="text/plain")
parser.add_argument("--prefix", default="/.well-known/mta-sts.txt")
args = parser.parse_args()

with open(args.body, "rb") as f:
    BODY = f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if not self.path.startswith(args.prefix):
            self.send_error(404)
            return
        self.send_response(args.status)
        self.send_header("Content-Type", args.content_type)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(args.cert, args.key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
