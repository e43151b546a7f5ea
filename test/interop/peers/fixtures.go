// Messages shared by the gorilla peers; test/interop/fixtures.ts builds the very same ones.
// Built together with gorilla_client.go or gorilla_server.go (package main, GOPATH mode).
package main

import "strings"

const utf8Text = "h\u00e9llo w\u00f6rld \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e, emoji \U0001F600\U0001F389\U0001F44D\U0001F3FD \u2713"

type fixture struct {
	name   string
	text   bool
	data   []byte
	frames bool // sent with NextWriter in several frames
}

func pattern(n, mul int, mod int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i * mul) % mod)
	}
	return b
}

var (
	binaryData = pattern(256, 1, 256)
	bigBinary  = pattern(1<<20, 7, 251)
	bigText    = []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", 32768))
	fragText   = []byte("fragmented: " + strings.Repeat("\u00e9\U0001F600\u00df\u20ac", 2000))
	fragBinary = pattern(300000, 13, 256)
)

var fixtures = []fixture{
	{"utf8", true, []byte(utf8Text), false},
	{"binary", false, binaryData, false},
	{"empty-text", true, []byte{}, false},
	{"empty-binary", false, []byte{}, false},
	{"1MiB-binary", false, bigBinary, false},
	{"1MiB-text", true, bigText, false},
	{"frag-text", true, fragText, true},
	{"frag-binary", false, fragBinary, true},
}
