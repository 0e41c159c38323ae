#!/usr/bin/env python3
"""Plays CRIU's stream protocol (--stream) for the demo: dumps generated files, restores and checks them.

Not a test tool: the test suite has its own C++ client. This exists so the quick start shows a
migration on machines without CRIU.
"""
import hashlib
import os
import socket
import struct
import sys
import threading


def request_frame(name):
    body = b"\x0a" + bytes([len(name)]) + name.encode()  # img_streamer_request_entry{filename}
    return struct.pack("<I", len(body)) + body


def read_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("img-cached closed the connection")
        data += chunk
    return data


def dump(images_dir, files):
    """Announces every file like `criu dump --stream`, writing all pipes concurrently."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(images_dir, "streamer-capture.sock"))
    writers = []
    for name, data in files.items():
        read_end, write_end = os.pipe()
        sock.sendall(request_frame(name))
        socket.send_fds(sock, [b"\0"], [read_end])
        os.close(read_end)

        def write(fd=write_end, data=data):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view[: 1 << 20]):]
            os.close(fd)

        writers.append(threading.Thread(target=write))
        writers[-1].start()
    sock.close()
    for w in writers:
        w.join()


def restore(images_dir, names):
    """Requests files like `criu restore --stream`; returns name -> bytes or None if missing."""
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(images_dir, "streamer-serve.sock"))
    out = {}
    for name in names:
        sock.sendall(request_frame(name))
        (length,) = struct.unpack("<I", read_exact(sock, 4))
        exists = read_exact(sock, length) == b"\x08\x01"
        if not exists:
            out[name] = None
            continue
        read_end, write_end = os.pipe()
        socket.send_fds(sock, [b"\0"], [write_end])
        os.close(write_end)
        parts = []
        while chunk := os.read(read_end, 1 << 20):
            parts.append(chunk)
        os.close(read_end)
        out[name] = b"".join(parts)
    sock.close()
    return out


def demo_files(pages_mib):
    return {
        "inventory.img": os.urandom(64),
        "pstree.img": os.urandom(200),
        "core-1.img": os.urandom(4000),
        "mm-1.img": os.urandom(3000),
        "pagemap-1.img": os.urandom(1200),
        "pages-1.img": os.urandom(pages_mib << 20),
        "fdinfo-2.img": b"",
    }


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("dump", "restore"):
        sys.exit("usage: criu_stand_in.py dump|restore IMAGES_DIR PAGES_MIB")
    verb, images_dir, pages_mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
    digest_file = os.path.join(os.path.dirname(images_dir.rstrip("/")), "demo.sha256")
    if verb == "dump":
        files = demo_files(pages_mib)
        with open(digest_file, "w") as out:
            for name, data in files.items():
                out.write(f"{hashlib.sha256(data).hexdigest()} {len(data)} {name}\n")
        dump(images_dir, files)
        return
    expected = {}
    with open(digest_file) as f:
        for line in f:
            digest, size, name = line.split()
            expected[name] = (digest, int(size))
    got = restore(images_dir, list(expected) + ["cgroup.img"])
    bad = [n for n, (d, _) in expected.items() if got[n] is None or hashlib.sha256(got[n]).hexdigest() != d]
    if got["cgroup.img"] is not None:
        bad.append("cgroup.img (should be missing)")
    total = sum(size for _, size in expected.values())
    if bad:
        sys.exit(f"demo: FAILED, wrong or missing: {', '.join(bad)}")
    print(f"demo: restored {len(expected)} files, {total} bytes, byte-identical; "
          f"cgroup.img answered missing as CRIU expects")


if __name__ == "__main__":
    main()
