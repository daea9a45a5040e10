"""``python -m darija_assets.sample_site --port 8000``: serve the sample site until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from darija_assets.sample_site.server import DEFAULT_PORT, serve_sample_site


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--version", type=int, default=1, choices=(1, 2), help="site version to serve"
    )
    args = parser.parse_args(argv)
    with serve_sample_site(version=args.version, port=args.port, host=args.host) as site:
        print(f"sample site v{args.version} at {site.start_url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
