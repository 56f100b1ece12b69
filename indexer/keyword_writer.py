"""Whoosh's segment writer with its two per-token hot spots done in one pass each.

Writing the keyword index was the largest non-encoder cost of a build (Reuters-21578, 6 of
22 files: 23 s CPU of 52 s, BENCHMARKS.md "Issue 15, part 3"). Two parts of it are pure
overhead for the fields this index uses:

* Analysis: ``StemmingAnalyzer`` is a chain of four generators passing one ``Token`` object
  along (tokenizer, lower case, stop words, stemmer), then ``Positions.word_values`` groups
  the tokens by word. For a field whose analyzer is exactly the default ``StemmingAnalyzer``
  and whose format is ``Positions``, ``_positions`` does the same in one loop: the same
  regular expression, ``str.lower``, the same stop list and minimum length, the same
  renumbering of positions past removed stop words, the same Porter stemmer, the same
  position encoding. Any other field goes through Whoosh's own ``field.index``.
* Field lengths at commit: ``add_postings`` asks the per-document reader for the length of
  the posting's document once per posting (a column read through three layers of Python);
  ``_Lengths`` asks it once per document and field and hands out the answers.

Everything written is what ``SegmentWriter`` writes (tests/test_keyword_writer.py compares
every term, posting, position, length, stored field and column of the two writers on real
news text): the index is Whoosh's, read by Whoosh's readers, and its schema is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from whoosh import formats
from whoosh.analysis import StemmingAnalyzer
from whoosh.analysis.filters import LowercaseFilter, StopFilter
from whoosh.analysis.morph import StemFilter
from whoosh.analysis.tokenizers import RegexTokenizer
from whoosh.fields import FieldType
from whoosh.lang.porter import stem as porter_stem
from whoosh.writing import SegmentWriter

from .analysis import STEMS, stem

Postings = Iterator[tuple[bytes, int, float, bytes]]


def _fast_analysis(field: FieldType) -> Callable[[str], Postings] | None:
    """The one-pass equivalent of ``field.index`` where there is one, else None."""
    if type(field.format) is not formats.Positions or field.analyzer != StemmingAnalyzer():
        return None
    items = getattr(field.analyzer, "items", None)
    if not items or len(items) != 4:
        return None
    tokenizer, lower, stop, stemmer = items
    if not (
        type(tokenizer) is RegexTokenizer
        and not tokenizer.gaps
        and type(lower) is LowercaseFilter
        and type(stop) is StopFilter
        and stop.max is None
        and stop.renumber
        and type(stemmer) is StemFilter
        and stemmer.stemfn is porter_stem
        and not stemmer.lang
        and not stemmer.ignore
    ):
        return None
    finditer = tokenizer.expression.finditer
    stops, minsize = stop.stops, stop.min
    encode, boost = field.format.encode, field.format.field_boost
    known_stem = STEMS.get

    def positions(text: str) -> Postings:
        if not isinstance(text, str):
            yield from field.index(text)  # a list of words: Whoosh's own path
            return
        poses: dict[str, list[int]] = {}
        pos = -1
        for i, match in enumerate(finditer(text)):
            word = match.group(0).lower()
            if len(word) < minsize or word in stops:
                continue
            # StopFilter(renumber=True): the first kept word keeps its place, the next count on
            pos = i if pos < 0 else pos + 1
            stemmed = known_stem(word)  # the shared table's lookup inline: every token
            if stemmed is None:
                stemmed = stem(word)
            at = poses.get(stemmed)
            if at is None:
                poses[stemmed] = [pos]
            else:
                at.append(pos)
        for word, at in poses.items():
            # Positions.word_values: weight = sum of the tokens' boosts (1.0 each) x field boost
            yield word.encode("utf-8"), len(at), float(len(at)) * boost, encode(at)

    return positions


class _Lengths:
    """``doc_field_length`` of a per-document reader, read once per document and field."""

    def __init__(self, reader, documents: int) -> None:
        self._reader = reader
        self._documents = documents
        self._tables: dict[str, list] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0):
        table = self._tables.get(fieldname)
        if table is None:
            read = self._reader.doc_field_length
            table = [read(d, fieldname, default) for d in range(self._documents)]
            self._tables[fieldname] = table
        return table[docnum]


class KeywordWriter(SegmentWriter):
    """A ``SegmentWriter`` (one new segment, committed as Whoosh commits it) that indexes the
    default-analysed ``Positions`` fields in one pass and reads field lengths per document."""

    def __init__(self, ix, **kwargs) -> None:
        super().__init__(ix, **kwargs)
        self._analysis = {name: _fast_analysis(field) for name, field in self.schema.items()}

    def add_document(self, **fields) -> None:
        """Whoosh's ``SegmentWriter.add_document`` (2.7.4) with ``field.index`` replaced by
        the one-pass analysis where there is one; the rest line for line as Whoosh's."""
        self._check_state()
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        add_post = self.pool.add

        docboost = self._doc_boost(fields)
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        self._check_fields(schema, fieldnames)

        perdocwriter.start_doc(docnum)
        try:
            for fieldname in fieldnames:
                value = fields.get(fieldname)
                if value is None:
                    continue
                field = schema[fieldname]
                length = 0
                if field.indexed:
                    fieldboost = self._field_boost(fields, fieldname, docboost)
                    fast = self._analysis.get(fieldname)
                    items = fast(value) if fast is not None else field.index(value)
                    scorable = field.scorable
                    for tbytes, freq, weight, vbytes in items:
                        weight *= fieldboost
                        if scorable:
                            length += freq
                        add_post((fieldname, tbytes, docnum, weight, vbytes))
                if field.separate_spelling() or field.vector:
                    raise NotImplementedError(
                        f"field {fieldname!r}: spelling and vector fields are not supported"
                    )
                customval = fields.get(f"_stored_{fieldname}", value)
                sv = customval if field.stored else None
                perdocwriter.add_field(fieldname, field, sv, length)
                column = field.column_type
                if column and customval is not None:
                    cv = field.to_column_value(customval)
                    perdocwriter.add_column_value(fieldname, column, cv)
        except Exception:
            perdocwriter.cancel_doc()
            raise

        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def _flush_segment(self) -> None:
        """Whoosh's, with the field lengths read once per document (``_Lengths``)."""
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None
        lengths = _Lengths(pdr, self.docnum - self.docbase) if pdr is not None else None
        self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
        self.fieldwriter.close()
        if pdr is not None:
            pdr.close()
