#!/usr/bin/env python3
"""A small SMTP server with STARTTLS on OpenSSL (Python's ssl module), for
tls-policy's tests. It is a real non-rustls TLS peer whose versions, suites
and groups the test chooses, and it can misbehave on purpose.

TLS 1.3 suites and groups come from the OpenSSL configuration the test
writes (OPENSSL_CONF), because the ssl module has no setter for them.

Prints the port it listens on as the first line of standard output, then
serves until killed.
"""
import argparse
import os
import socket
import socketserver
import ssl
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--name", default="mx.example.test")
parser.add_argument("--mode", default="starttls",
                    choices=["starttls", "direct", "no-starttls", "garbage", "huge-line", "stall",
                             "inject"])
parser.add_argument("--min-version", default="TLSv1_2")
parser.add_argument("--max-version", default="TLSv1_3")
parser.add_argument("--ciphers", default=None, help="OpenSSL cipher string for TLS 1.2 and older")
parser.add_argument("--dh-params", default=None, help="PEM file: DH parameters for DHE suites")
parser.add_argument("--store", default=None,
                    help="directory: accept mail after STARTTLS and keep each message there")
parser.add_argument("--sni-log", default=None,
                    help="file: append the SNI name of every handshake (or '-' for none)")
args = parser.parse_args()

context = None
if args.cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = getattr(ssl.TLSVersion, args.min_version)
    context.maximum_version = getattr(ssl.TLSVersion, args.max_version)
    if args.ciphers:
        context.set_ciphers(args.ciphers)
    if args.dh_params:
        context.load_dh_params(args.dh_params)
    context.load_cert_chain(args.cert, args.key)
    if args.sni_log:
        def log_sni(_socket, server_name, _context):
            with open(args.sni_log, "a") as log:
                log.write((server_name or "-") + "\n")
        context.sni_callback = log_sni


def read_line(stream):
    line = stream.readline(4096)
    if not line:
        raise ConnectionError("closed")
    return line.strip().upper()


class Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def send(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        # As an MTA writes a reply: no Nagle delay between the lines of a
        # multi-line reply (with the client's delayed ACK that costs 40 ms
        # per reply on loopback).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.serve()
        except (ConnectionError, ssl.SSLError, OSError, ValueError):
            pass

    def serve(self):
        if args.mode == "garbage":
            self.wfile.write(b"\x16\x03\x01\x00\x05hello\xff\xfe garbage\r\n")
            self.wfile.flush()
            time.sleep(2)
            return
        if args.mode == "huge-line":
            self.wfile.write(b"220-")
            for _ in range(200):
                self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            time.sleep(2)
            return
        if args.mode == "stall":
            time.sleep(60)
            return
        if args.mode == "direct":
            self.tls_session(self.connection)
            return
        self.send(f"220 {args.name} ESMTP test server")
        while True:
            command = read_line(self.rfile)
            if command.startswith(b"EHLO"):
                if args.mode == "no-starttls":
                    self.send(f"250-{args.name}")
                    self.send("250 8BITMIME")
                else:
                    self.send(f"250-{args.name}")
                    self.send("250-STARTTLS")
                    self.send("250 8BITMIME")
            elif command == b"STARTTLS" and args.mode != "no-starttls":
                if args.mode == "inject":
                    self.wfile.write(b"220 go ahead\r\n250 injected\r\n")
                    self.wfile.flush()
                else:
                    self.send("220 go ahead")
                self.tls_session(self.connection)
                return
            elif command == b"QUIT":
                self.send("221 bye")
                return
            else:
                self.send("500 unknown command")

    def tls_session(self, connection):
        connection.settimeout(30)
        tls = context.wrap_socket(connection, server_side=True)
        stream = tls.makefile("rwb")
        while True:
            line = stream.readline(4096)
            if not line:
                return
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                stream.write(f"250-{args.name}\r\n250 8BITMIME\r\n".encode())
            elif command == b"DATA" and args.store:
                stream.write(b"354 go ahead\r\n")
                stream.flush()
                message = bytearray()
                while True:
                    data_line = stream.readline(65536)
                    if not data_line:
                        return
                    if data_line == b".\r\n":
                        break
                    message += data_line[1:] if data_line.startswith(b".") else data_line
                name = f"{args.store}/{time.time_ns()}.eml"
                with open(name + ".tmp", "wb") as out:
                    out.write(message)
                os.rename(name + ".tmp", name)
                stream.write(b"250 kept\r\n")
            elif command == b"QUIT":
                stream.write(b"221 bye\r\n")
                stream.flush()
                return
            else:
                stream.write(b"250 ok\r\n")
            stream.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 drops the SYNs of parallel
    # probes (each retried after 1 s); an MTA listens with a deep backlog.
    request_queue_size = 128


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
