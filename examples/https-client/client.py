"""An HTTPS client: the default CA store, and a verified TLS connection.

client                          print how many CA certificates the default store holds
client --serve CERT KEY         also start a TLS server on 127.0.0.1 with CERT/KEY and
                                fetch https://localhost:PORT/ from it, verifying the
                                certificate against the default store (SSL_CERT_FILE)
"""

from __future__ import annotations

import http.server
import ssl
import sys
import threading
import urllib.request


def ca_count() -> int:
    context = ssl.create_default_context()
    return len(context.get_ca_certs())


def serve_and_fetch(cert: str, key: str) -> str:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hello)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://localhost:{server.server_address[1]}/"
        with urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10) as r:
            return r.read().decode()
    finally:
        server.shutdown()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"verified hello over TLS"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    print(f"ca certificates: {ca_count()}")
    if argv[:1] == ["--serve"]:
        print(f"fetched: {serve_and_fetch(argv[1], argv[2])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
