"""Dialogue in stories: speaker labels ("سلمى : واش نتي لاباس؟") are not sentence
boundaries. No sentence is a bare speaker name, none ends with the next speaker's name, and
the speaker is a column. Case 20 of ../shared/cases with its expected sentences, then the
kind: every label shape, the colons that are not labels, chat speakers, and a hypothesis
property over generated dialogues.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from darija_assets.text.normalize import clean_frame
from darija_assets.text.segment import SegmentOptions, split_sentences
from darija_assets_tests.text.cases import CASE_20_SENTENCES, case_rows

ALL = SegmentOptions(drop_duplicates=False)


def split(*texts: str, speakers: list[str | None] | None = None, options=ALL) -> pl.DataFrame:
    data = {
        "url": [f"u{i}" for i in range(len(texts))],
        "source": ["s"] * len(texts),
        "clean_text": list(texts),
    }
    if speakers is not None:
        data["speaker"] = speakers
    return split_sentences(pl.DataFrame(data), options).frame


def pairs(frame: pl.DataFrame) -> list[tuple[str, str | None]]:
    return frame.select("sentence", "speaker").rows()


def test_case_20_speaker_labels_become_a_column():
    (line,) = case_rows("20_dialogue_speaker_labels/story.jsonl")
    raw = pl.DataFrame({"url": [line["url"]], "source": ["c20"], "raw_text": [line["text"]]})
    cleaned, quarantine, _ = clean_frame(raw)
    assert quarantine.height == 0
    sentences, _, stats = split_sentences(cleaned)
    assert pairs(sentences) == CASE_20_SENTENCES
    assert sentences["position"].to_list() == list(range(9))
    names = {"سلمى", "مريم", "يوسف"}
    assert not any(s.rstrip(".؟!").split()[-1] in names for s in sentences["sentence"])
    assert stats["dialogue_rows"] == 1 and stats["turn_segments"] == 7


def test_label_shapes_one_turn_per_line():
    text = (
        "سلمى : واش نتي لاباس؟\n"
        "مريم: لاباس الحمد لله\n"
        "- الحاج علي : فين كنتو؟\n"
        "— مول الحانوت: سدينا بكري!\n"
        "با حماد الكبير :  غدا إن شاء الله"
    )
    assert pairs(split(text)) == [
        ("واش نتي لاباس؟", "سلمى"),
        ("لاباس الحمد لله", "مريم"),
        ("فين كنتو؟", "الحاج علي"),
        ("سدينا بكري!", "مول الحانوت"),
        ("غدا إن شاء الله", "با حماد الكبير"),
    ]


def test_several_turns_on_one_line_after_any_sentence_ender():
    text = "سلمى: واش جيتي؟ مريم: اه! سلمى: مزيان. مريم: ياك… سلمى : صافي"
    assert pairs(split(text)) == [
        ("واش جيتي؟", "سلمى"),
        ("اه!", "مريم"),
        ("مزيان.", "سلمى"),
        ("ياك…", "مريم"),
        ("صافي", "سلمى"),
    ]


def test_label_alone_on_its_line_speaks_the_next_line():
    assert pairs(split("سلمى :\nواش نتي لاباس؟\nمريم:\nالحمد لله.")) == [
        ("واش نتي لاباس؟", "سلمى"),
        ("الحمد لله.", "مريم"),
    ]


def test_a_turn_keeps_its_clauses_and_colons_narration_splits_as_before():
    text = (
        "سلمى: عندي سؤال: واش نتي بخير، ولا لا؟\n"
        "مريم: بخير.\n"
        "كانت عندها حاجة وحدة فبالها: تهرب، وصافي."
    )
    assert pairs(split(text)) == [
        ("عندي سؤال: واش نتي بخير، ولا لا؟", "سلمى"),
        ("بخير.", "مريم"),
        # four words before the colon: not a label; a narration line splits at , : as before
        ("كانت عندها حاجة وحدة فبالها", None),
        ("تهرب", None),
        ("وصافي.", None),
    ]


def test_a_single_colon_is_not_a_dialogue():
    # a quote introduction, a note, a time: one "label" in a text is no dialogue
    assert pairs(split("قالت ليه: «فين كنتي؟» وهو ساكت.")) == [
        ("قالت ليه", None),
        ("فين كنتي؟", None),
        ("وهو ساكت.", None),
    ]
    assert pairs(split("ملاحظة: هاد القصة واقعية.")) == [
        ("ملاحظة", None),
        ("هاد القصة واقعية.", None),
    ]
    assert pairs(split("جا مع الساعة 10:30 ديال الليل.")) == [
        ("جا مع الساعة 10", None),
        ("30 ديال الليل.", None),
    ]


def test_chat_speaker_is_used_outside_labelled_turns():
    frame = split(
        "واش نتي لاباس؟",
        "كنت كنقول ليها. سلمى: فين؟ مريم: هنا.",
        "ماشي مشكل",
        speakers=["speaker_1", "speaker_2", None],
    )
    assert pairs(frame) == [
        ("واش نتي لاباس؟", "speaker_1"),
        ("كنت كنقول ليها.", "speaker_2"),
        ("فين؟", "سلمى"),
        ("هنا.", "مريم"),
        ("ماشي مشكل", None),
    ]


def test_turns_without_sentence_ends_are_cut_at_known_speakers():
    """People often leave turns unpunctuated: "واش نتي لاباس مريم: ..." must not end with
    the next speaker's name. A name used as a label twice in the frame is a known speaker,
    and its labels are cut inside lines too."""
    assert pairs(split("سلمى: واش نتي لاباس مريم: الحمد لله سلمى: علاش مريم : والو")) == [
        ("واش نتي لاباس", "سلمى"),
        ("الحمد لله", "مريم"),
        ("علاش", "سلمى"),
        ("والو", "مريم"),
    ]
    # a longer name keeps its words: "علي" alone is not taken for "الحاج علي"
    assert pairs(split("الحاج علي: فين كنتي علي: هنا الحاج علي : مزيان")) == [
        ("فين كنتي علي: هنا", "الحاج علي"),
        ("مزيان", "الحاج علي"),
    ]


def test_one_turn_per_row_datasets_know_their_speakers_across_rows():
    frame = split(
        "سلمى : واش نتي لاباس؟",
        "مريم : لاباس الحمد لله",
        "سلمى : مزيان",
        "مريم: صافي",
        "ملاحظة: هاد القصة واقعية.",
    )
    assert pairs(frame) == [
        ("واش نتي لاباس؟", "سلمى"),
        ("لاباس الحمد لله", "مريم"),
        ("مزيان", "سلمى"),
        ("صافي", "مريم"),
        # used once: a plain colon, split as before
        ("ملاحظة", None),
        ("هاد القصة واقعية.", None),
    ]


# --- generated dialogues ---------------------------------------------------------------

WORDS = ["واش", "كيداير", "مزيان", "بزاف", "ديال", "الدار", "غادي", "نمشي", "دابا", "شنو"]
NAMES = ["سلمى", "مريم", "يوسف", "الحاج", "علي", "مول", "الحانوت", "با", "حماد", "فاطنة"]

name = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(" ".join)
turn = st.tuples(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join),
    st.sampled_from([".", "؟", "!", "...", "؟!"]),
).map("".join)
label_colon = st.sampled_from([":", " :", " : ", ": ", ":  "])
between = st.sampled_from([" ", "\n", "  ", "\n- ", " \n"])


@settings(max_examples=200, deadline=None, database=None)
@given(
    turns=st.lists(st.tuples(name, label_colon, turn), min_size=2, max_size=8),
    joins=st.lists(between, min_size=8, max_size=8),
)
def test_generated_dialogues_split_into_their_turns(turns, joins):
    text = "".join(
        (joins[i] if i else "") + f"{speaker}{colon}{line}"
        for i, (speaker, colon, line) in enumerate(turns)
    )
    frame = split(text)
    assert pairs(frame) == [(line, speaker) for speaker, _, line in turns]
    # the invariants the case states, in so many words
    for sentence in frame["sentence"]:
        assert sentence not in NAMES
        assert sentence.rstrip(".؟!").split()[-1] not in NAMES
