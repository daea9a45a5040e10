"""What the spider yields: a chapter (one raw_corpus row) or a quarantine row."""

import scrapy


class ChapterItem(scrapy.Item):
    url = scrapy.Field()
    title = scrapy.Field()
    raw_text = scrapy.Field()
    #: as the page states it (ISO date when the page gives one), else None
    publish_date = scrapy.Field()
    category = scrapy.Field()
    story = scrapy.Field()
    #: 1-based position in the story's chapter list, across its pagination pages
    chapter_index = scrapy.Field()
    #: sha256 hex of raw_text, filled by StampPipeline
    content_hash = scrapy.Field()
    #: ISO-8601 UTC, filled by StampPipeline
    crawled_at = scrapy.Field()
    source = scrapy.Field()
    #: the listing's "updated" stamp for this chapter (not a corpus column; see workdir.markers)
    listing_marker = scrapy.Field()


class QuarantineItem(scrapy.Item):
    """A page that yielded no chapter, and why. Written to quarantine.jsonl, never to the corpus."""

    url = scrapy.Field()
    reason = scrapy.Field()
    #: crawl stage: list, story, chapter
    stage = scrapy.Field()
    source = scrapy.Field()
