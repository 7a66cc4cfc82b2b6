"""CPU per job around the render, in one process: the api's submit (Flask's test client, no
HTTP server) and the thumbnailer's handling of one message, on the embedded backends or on
MinIO/ElasticMQ (`--servers`, endpoints from localhost.env). Prints CPU milliseconds per job
(process time, every thread): the api's, the thumbnailer's beyond the render (its render stood
in for by the result), the render's alone; with --profile the top of a cProfile.

    .venv/bin/python bench/hotpath.py --image 1080p --jobs 200 [--servers] [--profile api|worker] [--corpus PATH]

The image is the corpus's file of that name (bench/corpus.py finds or makes the corpus).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dotenv import dotenv_values  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
from e2e import INPUTS  # noqa: E402

IMAGES = ("1080p", "12mp")


def configure(servers: bool, folder: str) -> None:
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOW_ANONYMOUS"] = "true"
    os.environ["MAX_WAITING_JOBS_PER_OWNER"] = "1000000"
    if servers:
        for key, value in dotenv_values(ROOT / "localhost.env").items():
            if key.startswith("AWS_") and value is not None:
                os.environ.setdefault(key, value)
        name = f"hotpath-{uuid.uuid4().hex[:8]}"
        os.environ.update(STORAGE_URL=f"s3://{name}", QUEUE_URL=f"sqs://{name}", JOBS_URL="objects")
    else:
        os.environ.update(DATA_DIR=folder)
        for key in ("STORAGE_URL", "QUEUE_URL", "JOBS_URL"):
            os.environ.pop(key, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", choices=IMAGES, default="1080p")
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--servers", action="store_true", help="MinIO/ElasticMQ instead of the embedded backends")
    parser.add_argument("--profile", choices=("api", "worker"))
    parser.add_argument("--top", type=int, default=25)
    corpus.add_argument(parser)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        configure(args.servers, folder)
        import core
        import core.logs
        import storage
        from api import create_app
        from core.render import render
        from thumbnailer.worker import Worker

        core.logs.configure(os.environ["LOG_LEVEL"])
        settings = core.Settings.from_env(os.environ)
        backends = storage.connect(settings)
        backends.ensure()
        client = create_app(settings, backends).test_client()
        data = (corpus.resolve(args.corpus, [INPUTS[args.image]]) / INPUTS[args.image]).read_bytes()

        def submit() -> None:
            """A multipart upload with a fresh boundary, as a browser or curl sends it (the
            body is joined here, not encoded by the test client: the client's CPU is not the api's)."""
            boundary = uuid.uuid4().hex
            body = b"".join((f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                             f"filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".encode(), data,
                             f"\r\n--{boundary}--\r\n".encode()))
            answer = client.post("/jobs", data=body, content_type=f"multipart/form-data; boundary={boundary}")
            assert answer.status_code == 202, answer.get_data(as_text=True)

        submit()  # warm: imports, first connections
        worker = Worker(backends, settings)
        for message in backends.inbox.receive(10, 1):
            worker.handle(message)
        worker.acks.flush()

        profiler = cProfile.Profile()
        started = time.process_time()
        if args.profile == "api":
            profiler.enable()
        for _ in range(args.jobs):
            submit()
        profiler.disable()
        api_ms = (time.process_time() - started) * 1000 / args.jobs

        messages = []
        while len(messages) < args.jobs:
            got = backends.inbox.receive(10, 1)
            if not got:
                break
            messages += got
        render_started = time.process_time()
        for _ in range(min(args.jobs, 20)):
            render(data, core.Job().outputs, settings.max_image_pixels)
        render_ms = (time.process_time() - render_started) * 1000 / min(args.jobs, 20)
        # The worker's own render is stood in for by its result: what it costs beyond the
        # render is then measured directly, not as a difference of two noisy numbers.
        import thumbnailer.worker

        outputs = render(data, core.Job().outputs, settings.max_image_pixels)
        thumbnailer.worker.render = lambda *_: outputs  # type: ignore[assignment]
        started = time.process_time()
        if args.profile == "worker":
            profiler.enable()
        with worker.acks.batching():
            for message in messages:
                worker.handle(message)
        profiler.disable()
        worker_ms = (time.process_time() - started) * 1000 / max(len(messages), 1)

        print(f"{'servers' if args.servers else 'embedded'} {args.image}: {len(messages)} jobs; CPU ms per job: "
              f"api {api_ms:.2f}, thumbnailer beyond render {worker_ms:.2f} (the render itself {render_ms:.2f})")
        if args.profile:
            stats = pstats.Stats(profiler)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
        if args.servers:
            for queue in backends.queues:
                queue.delete_queue()
            backends.objects.delete_bucket()
    return 0


if __name__ == "__main__":
    sys.exit(main())
