"""The Darija story crawler: a Scrapy project (spiders/, items.py, pipelines.py, settings.py).

It runs on its own from the repository root, as the original project's users ran it::

    scrapy crawl qesa -o corpus.jsonl -a start_url=http://127.0.0.1:8000/search?view=list

and under Dagster through ``runner`` (a subprocess with a per-source work directory that
makes the crawl resumable and incremental). Importing this package does not import Scrapy:
``runner`` and ``workdir`` are plain Python, so the code location stays fast to load.
"""
