"""Command line: ``python -m service COMMAND``; ``python -m service --help`` lists the commands."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from service.ingest.urls import InvalidSourceError


def _positive(value: str) -> int:
    number = int(value) if value.strip().isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def _name_and_image(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=IMAGE, got {value!r}")
    return name.strip(), path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service", description="Stream emotion service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the REST + WebSocket API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("worker", help="run ingest + inference for streams registered in Redis")
    demo = sub.add_parser("demo", help="API + worker + embedded Redis on a bundled face clip played as live")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--clip", default=None, help="video to play instead of the bundled clip")
    check = sub.add_parser("check", help="health check for containers: exit 0 when healthy")
    check.add_argument("--role", choices=["api", "worker"], required=True)
    check.add_argument("--port", type=int, default=8000, help="API port (role api)")
    bench = sub.add_parser("bench", help="run the pipeline on a clip and print throughput and per-stage latency")
    bench.add_argument("--clip", default=None, help="video file (default: the bundled face clip)")
    bench.add_argument("--fps", type=float, default=10.0, help="analysis frames per media second")
    bench.add_argument("--repeat", type=int, default=3, help="passes over the clip, played as one looping stream")
    bench.add_argument("--json", action="store_true", help="print the result as JSON")
    many = sub.add_parser("bench-streams", help="how many live 720p25 streams K workers on one device hold")
    many.add_argument("--start", type=_positive, default=2, help="streams in the first step")
    many.add_argument("--max-streams", type=_positive, default=128, help="stop doubling here")
    many.add_argument("--fps", type=float, default=5.0, help="analysed frames per second per stream")
    many.add_argument("--workers", type=_positive, default=1, help="worker processes sharing the device (GPU host: 8)")
    many.add_argument("--seconds", type=float, default=15.0, help="measured window per step, after warm-up")
    many.add_argument("--max-latency-ms", type=float, default=1000.0, help="p95 latency a held step stays under")
    many.add_argument("--json", action="store_true", help="print the result as JSON")
    live = sub.add_parser("bench-live", help="many WebSocket subscribers on one API process, beside a worker")
    live.add_argument("--subscribers", type=int, default=1000, help="concurrent WebSockets (at most 5,000)")
    live.add_argument("--seconds", type=float, default=20.0, help="each measurement's length (at most 120)")
    live.add_argument("--fps", type=float, default=5.0, help="analysis frames per media second of the stream")
    live.add_argument("--json", action="store_true", help="print the result as JSON")
    offline = sub.add_parser("analyze", help="a recorded programme, offline: events, per-person CSV, summary, report")
    offline.add_argument("file", help="video file")
    offline.add_argument("--out", default=None, help="output folder (default: <file>-analysis beside it)")
    offline.add_argument("--fps", type=float, default=None, help="analysis frames per media second")
    offline.add_argument(
        "--enrol", action="append", default=[], type=_name_and_image, metavar="NAME=IMAGE",
        help="a still of a known person (repeatable; several images of one name are one person)",
    )  # fmt: skip
    evaluate = sub.add_parser("eval-video", help="per-frame labels, label flip rate and per-second polarity of a clip")
    evaluate.add_argument("--clip", required=True, help="video file")
    evaluate.add_argument("--fps", type=float, default=10.0, help="analysis frames per media second")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    tracks = sub.add_parser("track-crops", help="aligned face crops of every track of a clip (temporal training)")
    tracks.add_argument("--clip", required=True, help="video file")
    tracks.add_argument("--out", required=True, help="npz to write")
    tracks.add_argument("--fps", type=float, default=30.0, help="analysis frames per media second")
    tracks.add_argument("--min-frames", type=int, default=8, help="drop tracks seen on fewer analysed frames")
    return parser


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from service.config import Settings  # settings are read when a command runs, never at import

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            from service.commands import serve

            serve(settings, args.host, args.port)
        elif args.command == "worker":
            from service.commands import worker

            worker(settings, _stop_on_signals())
        elif args.command == "demo":
            from service.commands import demo

            demo(settings, args.host, args.port, args.clip)
        elif args.command == "check":
            from service.commands import check

            sys.exit(check(settings, args.role, args.port))
        elif args.command == "eval-video":
            from service.evaluate_video import run_eval_video

            run_eval_video(settings, args.clip, args.fps, args.json)
        elif args.command == "bench":
            from service.bench import run_bench

            run_bench(settings, args.clip, args.fps, args.repeat, args.json)
        elif args.command == "analyze":
            from service.analyze import analyze_file

            analyze_file(settings, args.file, args.out, args.fps, args.enrol)
        elif args.command == "bench-streams":
            from service.bench_streams import run_bench_streams

            run_bench_streams(
                settings,
                start=args.start,
                max_streams=args.max_streams,
                fps=args.fps,
                workers=args.workers,
                seconds=args.seconds,
                max_latency_ms=args.max_latency_ms,
                as_json=args.json,
            )
        elif args.command == "bench-live":
            from service.bench_live import run_bench_live

            run_bench_live(settings, args.subscribers, args.seconds, args.fps, args.json)
        elif args.command == "track-crops":
            from service.track_crops import run_track_crops

            run_track_crops(settings, args.clip, args.out, args.fps, args.min_frames)
    except InvalidSourceError as exc:
        sys.exit(f"error: {exc}")
    except Exception as exc:
        # imported here, not at the top: the API process (serve) must not load torch or PyAV
        from models.weights import WeightsError
        from service.ingest.source import SourceError

        if isinstance(exc, WeightsError | SourceError):
            sys.exit(f"error: {exc}")
        raise


if __name__ == "__main__":
    main()
