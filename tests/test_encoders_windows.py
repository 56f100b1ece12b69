"""Windows for long text: overlapping, on token borders of the real model's tokenizer."""

from newsearch.indexer.encoders.windows import WindowSplitter


def test_long_text_is_split_into_overlapping_windows(model):
    splitter = WindowSplitter(model, window=50, overlap=10)
    words = [f"word{i}" for i in range(400)]
    text = " ".join(words)
    [windows] = splitter.split_many([text])
    assert len(windows) > 1
    assert windows[0].startswith("word0 ") and windows[-1].endswith("word399")
    assert all(w in text for w in windows)
    assert splitter.split_many(["short text"]) == [["short text"]]
