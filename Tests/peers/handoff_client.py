#!/usr/bin/env python3
"""A connection whose connecting process is gone before it is used: a child
connects to halld's Unix socket, forks a grandchild that keeps the connection and
exits; the grandchild waits until the child is reaped, sends GET PATH and reports
the status line through a pipe to this process, which prints it. halld must judge
the request by who connected (SO_PEERCRED and SO_PEERGROUPS at accept time), not
by whatever process holds that pid now.

Usage: handoff_client.py SOCKET PATH
"""
import os
import socket
import sys
import time


def grandchild(path, target, child, out):
    deadline = time.time() + 10
    while os.path.exists(f"/proc/{child}") and time.time() < deadline:
        time.sleep(0.01)
    report = ["parent-gone" if not os.path.exists(f"/proc/{child}") else "parent-alive"]
    conn = CONN
    conn.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    report.append(head.split(b"\r\n", 1)[0].decode())
    report.append(body[:300].decode(errors="replace"))
    os.write(out, ("\n".join(report) + "\n").encode())


def main():
    global CONN
    path, target = sys.argv[1], sys.argv[2]
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        CONN = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        CONN.connect(path)
        me = os.getpid()
        if os.fork() == 0:
            grandchild(path, target, me, write_end)
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    result = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        result += chunk
    print(result.decode(), end="", flush=True)


main()
