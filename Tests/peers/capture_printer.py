#!/usr/bin/env python3
"""A raw TCP printer for halld's CUPS tests: accepts connections on 127.0.0.1:PORT
and appends every byte it receives to OUTFILE (one file, jobs one after another).
Prints "ready" once it listens. Kill it to switch the printer off.

Usage: capture_printer.py PORT OUTFILE
"""
import socket
import sys


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(4)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        with conn, open(path, "ab") as out:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                out.write(data)
                out.flush()


if __name__ == "__main__":
    main()
