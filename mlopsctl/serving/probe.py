"""`python -m mlopsctl.serving.probe`: the image's HEALTHCHECK (exit 0 when ready)."""

import os
import sys
import urllib.request


def main() -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT') or 8080}/v2/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
