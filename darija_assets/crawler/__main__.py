"""``python -m darija_assets.crawler crawl qesa ...``: the ``scrapy`` command, from any directory.

Pointing SCRAPY_SETTINGS_MODULE at our settings here (instead of relying on a scrapy.cfg
in the working directory) is what lets the runner start crawls from wherever Dagster runs.
"""

import os
import sys

SETTINGS_MODULE = "darija_assets.crawler.settings"


def main() -> None:
    os.environ["SCRAPY_SETTINGS_MODULE"] = SETTINGS_MODULE
    from scrapy.cmdline import execute

    execute(["scrapy", *sys.argv[1:]])


if __name__ == "__main__":
    main()
