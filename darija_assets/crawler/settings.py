"""Scrapy settings for the darija-assets crawler: polite to the sites it reads.

Loopback test runs override the delays on the command line (``-s DOWNLOAD_DELAY=0
-s AUTOTHROTTLE_ENABLED=False``); the defaults are for real sites.
"""

from darija_assets.crawler.workdir import CORPUS_FIELDS

BOT_NAME = "darija_assets"
SPIDER_MODULES = ["darija_assets.crawler.spiders"]
NEWSPIDER_MODULE = "darija_assets.crawler.spiders"

# Say who we are and where to complain: a research crawler should never pose as a browser.
USER_AGENT = (
    "darija-assets/0.1 (Darija NLP research crawler; +https://example.org/darija-assets/crawler)"
)
ROBOTSTXT_OBEY = True

# Politeness: one request at a time per site, at least a second apart, slowing down
# further when the site answers slowly (AutoThrottle never goes below DOWNLOAD_DELAY).
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 1.0
# Each delay drawn from 0.5x to 1.5x DOWNLOAD_DELAY. It replaces the deprecated
# RANDOMIZE_DOWNLOAD_DELAY; a Scrapy without it randomizes by that same default.
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 2
# A story page is a few kB; anything this big is not a story page and is not worth holding.
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024

# Read each page with the charset it is really in (charset.py): after decompression and
# retries (a downloader middleware's process_response runs from high numbers to low).
DOWNLOADER_MIDDLEWARES = {
    "darija_assets.crawler.middlewares.CharsetMiddleware": 540,
}

# Pause/resume: the runner passes JOBDIR per source; SIGINT then stops the crawl gracefully.
ITEM_PIPELINES = {
    "darija_assets.crawler.pipelines.StampPipeline": 100,
    "darija_assets.crawler.pipelines.WorkDirPipeline": 800,
}
EXTENSIONS = {
    "darija_assets.crawler.extensions.CrawlReport": 500,
    "darija_assets.crawler.extensions.DagsterPipesBridge": 510,
    "scrapy.extensions.telnet.TelnetConsole": None,
}

# `scrapy crawl qesa -o corpus.jsonl` writes the raw_corpus columns, in UTF-8 (not \u escapes).
FEED_EXPORT_ENCODING = "utf-8"
FEED_EXPORT_FIELDS = list(CORPUS_FIELDS)

LOG_LEVEL = "INFO"

# Our own settings (set by the runner with -s):
#   DARIJA_WORK_DIR     the per-source work directory (see workdir.py); unset = feed output only
#   DARIJA_KNOWN_FILE   JSON {url: content_hash} of chapters the corpus already holds
#   DARIJA_PIPES_PROGRESS_EVERY   chapters between progress lines sent to Dagster
DARIJA_WORK_DIR = None
DARIJA_KNOWN_FILE = None
DARIJA_PIPES_PROGRESS_EVERY = 10
