#!/usr/bin/env python3
"""Helpers for scripts/official-client-compat.sh (run with the inference-cli venv's python).

Subcommands:
  gen-media DIR N             write DIR/small (5 images), DIR/big (N images), DIR/videos (2 mp4)
  get BASE KEY PATH           GET BASE/PATH?api_key=KEY and print the JSON body
  wait-job BASE KEY WS JOB S  poll GET .../jobs/JOB until isTerminal (at most S seconds); print it
  wait-count BASE KEY WS BATCH N S
                              poll GET .../batches/BATCH/count until count == N (at most S seconds)
  wait-shards BASE KEY WS BATCH EXPR S
                              poll GET .../batches/BATCH/shards until eval(EXPR) over the
                              shard list `s` is true (at most S seconds)
  jsonl FILE EXPR             load a JSONL file as `rows` and print eval(EXPR)
  receiver PORTFILE OUTFILE   tiny webhook receiver: writes its port to PORTFILE, appends each
                              POST as one JSON line {path, headers, body} to OUTFILE
  serve DIR PORTFILE          static file server of DIR on 127.0.0.1 (the "bucket" that
                              references point at): writes its port to PORTFILE
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def gen_media(root: str, big_n: int) -> None:
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)

    def image(i: int, w: int, h: int) -> "np.ndarray":
        img = np.zeros((h, w, 3), dtype=np.uint8)
        img[:, :, 0] = (i * 37) % 256
        img[:, :, 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
        img[:, :, 2] = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
        return img

    small = os.path.join(root, "small")
    big = os.path.join(root, "big")
    videos = os.path.join(root, "videos")
    for d in (small, big, videos):
        os.makedirs(d, exist_ok=True)
    # <= 32 images: the simple path (one multipart POST per image). Mixed formats and sizes.
    for i in range(5):
        ext = "png" if i % 2 == 0 else "jpg"
        assert cv2.imwrite(os.path.join(small, f"small-{i:02d}.{ext}"), image(i, 32 + i, 24 + i))
    # > 32 images: the sharded path (tar shards of 256 images + PUT).
    for i in range(big_n):
        ext = "jpg" if i % 3 else "png"
        assert cv2.imwrite(os.path.join(big, f"big-{i:03d}.{ext}"), image(i, 48, 40))
    # Real videos: the client opens each one with OpenCV before uploading.
    for v in range(2):
        path = os.path.join(videos, f"clip-{v}.mp4")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 64))
        assert writer.isOpened(), "cv2.VideoWriter could not open an mp4v writer"
        for f in range(10):
            writer.write(image(v * 10 + f, 64, 64))
        writer.release()
        cap = cv2.VideoCapture(path)
        assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10, path
        cap.release()


def http_get(base: str, key: str, path: str) -> dict:
    sep = "&" if "?" in path else "?"
    url = f"{base.rstrip('/')}/{path.lstrip('/')}{sep}api_key={urllib.parse.quote(key)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def wait_job(base: str, key: str, ws: str, job: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = http_get(base, key, f"batch-processing/v1/external/{ws}/jobs/{job}")["job"]
            if last.get("isTerminal"):
                print(json.dumps(last))
                return 0
        except (urllib.error.URLError, KeyError, ValueError) as e:
            last = {"pollError": str(e)}
        time.sleep(0.3)
    print(f"job {job} not terminal after {seconds}s; last: {json.dumps(last)}")
    return 1


def wait_count(base: str, key: str, ws: str, batch: str, n: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = http_get(base, key, f"data-staging/v1/external/{ws}/batches/{batch}/count")
            if last.get("count") == n:
                print(json.dumps(last))
                return 0
        except (urllib.error.URLError, ValueError) as e:
            last = {"pollError": str(e)}
        time.sleep(0.2)
    print(f"batch {batch} count != {n} after {seconds}s; last: {json.dumps(last)}")
    return 1


def wait_shards(base: str, key: str, ws: str, batch: str, expr: str, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    s = None
    while time.monotonic() < deadline:
        try:
            s = http_get(base, key, f"data-staging/v1/external/{ws}/batches/{batch}/shards")["shards"]
            if eval(expr, {"s": s}):
                print(json.dumps(s))
                return 0
        except (urllib.error.URLError, KeyError, ValueError, IndexError, TypeError) as e:
            s = {"pollError": str(e)}
        time.sleep(0.2)
    print(f"shards of {batch} never matched after {seconds}s; last: {json.dumps(s)}")
    return 1


def receiver(port_file: str, out_file: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace")
            try:
                body = json.loads(body)
            except ValueError:
                pass
            with open(out_file, "a") as f:
                f.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body}) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    srv.serve_forever()


def serve(root: str, port_file: str) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(port_file + ".tmp", port_file)
    srv.serve_forever()


def main(argv: list) -> int:
    cmd, args = argv[0], argv[1:]
    if cmd == "gen-media":
        gen_media(args[0], int(args[1]))
    elif cmd == "get":
        print(json.dumps(http_get(args[0], args[1], args[2])))
    elif cmd == "wait-job":
        return wait_job(args[0], args[1], args[2], args[3], float(args[4]))
    elif cmd == "wait-count":
        return wait_count(args[0], args[1], args[2], args[3], int(args[4]), float(args[5]))
    elif cmd == "serve":
        serve(args[0], args[1])
    elif cmd == "wait-shards":
        return wait_shards(args[0], args[1], args[2], args[3], args[4], float(args[5]))
    elif cmd == "jsonl":
        with open(args[0]) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        print(eval(args[1], {"rows": rows, "os": os, "json": json}))  # noqa: S307 (test helper)
    elif cmd == "receiver":
        receiver(args[0], args[1])
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
