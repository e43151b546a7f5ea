"""Messages shared by the Python peers; test/interop/fixtures.ts builds the very same ones."""

UTF8 = "h\u00e9llo w\u00f6rld \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \U0001F600\U0001F389\U0001F44D\U0001F3FD \u2713"
BINARY = bytes(range(256))
BIG_BINARY = bytes((i * 7) % 251 for i in range(1 << 20))
BIG_TEXT = "abcdefghijklmnopqrstuvwxyz012345" * 32768
FRAG_TEXT = "fragmented: " + "\u00e9\U0001F600\u00df\u20ac" * 2000
FRAG_BINARY = bytes((i * 13) & 255 for i in range(300000))

# name, data, fragment size (None: one frame)
MESSAGES = [
    ("utf8", UTF8, None),
    ("binary", BINARY, None),
    ("empty-text", "", None),
    ("empty-binary", b"", None),
    ("1MiB-binary", BIG_BINARY, None),
    ("1MiB-text", BIG_TEXT, None),
    ("frag-text", FRAG_TEXT, 1000),
    ("frag-binary", FRAG_BINARY, 100000),
]


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]
