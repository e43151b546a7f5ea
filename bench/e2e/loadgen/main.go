// Load generator for the end-to-end benchmark (bench/run.ts), on gorilla/websocket's client.
//
// Modes:
//
//	echo       opens -conns connections, keeps -inflight messages in flight on each (capped in total by
//	           -max-inflight-bytes), checks every echo byte for byte (each message carries its sequence
//	           number, so a lost, duplicated or reordered echo is caught too), and after -warmup measures
//	           for -duration: messages/s, payload bytes/s, p50/p99 round trip, and the server's CPU use
//	           (utime+stime of /proc/<pid>/stat before/after the window, as CPU seconds per second).
//	           Messages up to -batch-max bytes whose slots free up together leave in one write(2).
//	handshake  -concurrency workers each loop: connect, upgrade, send Close 1000, read the peer's Close,
//	           close TCP; counts completed loops per second in the window. -handshake-client raw (the
//	           default) does this on a bare TCP connection with a fixed request, checking the 101 status,
//	           Sec-WebSocket-Accept and the Close echo by hand: gorilla's Dialer costs the load generator
//	           about as much CPU per handshake as a Node server spends, so it capped the fastest servers.
//	           -handshake-client gorilla uses gorilla's Dialer.
//	idle       opens -conns connections, echoes one 64-byte message on each (checked), prints "OPEN <n>",
//	           then waits for a line (or EOF) on stdin and closes them all.
//
// The result is one line on stdout: "RESULT {json}". Diagnostics go to stderr.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

var (
	mode             = flag.String("mode", "echo", "echo | handshake | idle")
	url              = flag.String("url", "ws://127.0.0.1:8080/", "server URL")
	conns            = flag.Int("conns", 100, "connections (echo, idle)")
	inflight         = flag.Int("inflight", 8, "messages in flight per connection (echo)")
	size             = flag.Int("size", 1024, "payload bytes (echo)")
	kind             = flag.String("kind", "binary", "binary | text | json (echo)")
	compress         = flag.Bool("compress", false, "offer permessage-deflate (gorilla: no context takeover, level 1)")
	warmup           = flag.Duration("warmup", time.Second, "unmeasured time before the window")
	duration         = flag.Duration("duration", 5*time.Second, "measured window")
	pid              = flag.Int("pid", 0, "server pid, for its CPU time")
	maxInflightBytes = flag.Int64("max-inflight-bytes", 64<<20, "cap on payload bytes in flight over all connections (echo)")
	srcs             = flag.Int("srcs", 1, "source addresses to spread connections over: 127.0.0.1 … 127.0.0.<srcs>")
	dialConcurrency  = flag.Int("dial-concurrency", 64, "connections being opened at once (echo, idle)")
	concurrency      = flag.Int("concurrency", 16, "handshake workers (handshake)")
	handshakeClient  = flag.String("handshake-client", "raw", "raw | gorilla (handshake)")
	clkTck           = flag.Float64("clk-tck", 100, "clock ticks per second of /proc/<pid>/stat")
	batchMax         = flag.Int("batch-max", 4096, "messages up to this size that are ready together are sent with one write(2) (echo; 0: one write per message, as gorilla does)")
	cpuProfile       = flag.String("cpuprofile", "", "write the load generator's own CPU profile here (go tool pprof): is it the bottleneck?")
)

// ---- errors ------------------------------------------------------------------------------------

var (
	errCount   int64
	errMu      sync.Mutex
	errSamples []string
	stopping   int32
)

func fail(format string, args ...interface{}) {
	atomic.AddInt64(&errCount, 1)
	errMu.Lock()
	if len(errSamples) < 5 {
		errSamples = append(errSamples, fmt.Sprintf(format, args...))
	}
	errMu.Unlock()
}

// Failures of the closing handshake after the measured window (e.g. the server ends TCP without its Close
// frame): reported apart, since they do not affect what was measured. Wrong echoes are always errors.
var (
	closeErrCount   int64
	closeErrSamples []string
)

func closeFail(format string, args ...interface{}) {
	atomic.AddInt64(&closeErrCount, 1)
	errMu.Lock()
	if len(closeErrSamples) < 3 {
		closeErrSamples = append(closeErrSamples, fmt.Sprintf(format, args...))
	}
	errMu.Unlock()
}

func isStopping() bool { return atomic.LoadInt32(&stopping) == 1 }

// ---- CPU ---------------------------------------------------------------------------------------

// cpuTicks returns utime+stime (fields 14 and 15) of /proc/<pid>/stat, all threads included.
func cpuTicks(p int) float64 {
	path := "/proc/self/stat"
	if p > 0 {
		path = "/proc/" + strconv.Itoa(p) + "/stat"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	s := string(data)
	// The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return -1
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return utime + stime
}

// ---- dialing -----------------------------------------------------------------------------------

var srcCounter uint64

func newDialer(readBuf, writeBuf int, pool websocket.BufferPool, batching bool) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout:  10 * time.Second,
		ReadBufferSize:    readBuf,
		WriteBufferSize:   writeBuf,
		WriteBufferPool:   pool,
		EnableCompression: *compress,
		NetDial: func(network, addr string) (net.Conn, error) {
			n := atomic.AddUint64(&srcCounter, 1)
			src := net.IPv4(127, 0, 0, byte(1+int(n%uint64(*srcs))))
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
			c, err := d.Dial(network, addr)
			if err != nil || !batching {
				return c, err
			}
			return &batchConn{Conn: c}, nil
		},
	}
}

// batchConn lets the echo writer hand gorilla several messages and send them with one write(2).
// gorilla writes every message with its own write(2); for small messages those syscalls were 70% of
// the load generator's CPU (-cpuprofile), so it, not the server under test, set the pace. gorilla
// hands each frame to Write whole, so anything appended here (a pong, say) stays frame-aligned.
type batchConn struct {
	net.Conn
	mu       sync.Mutex
	batching bool
	buf      []byte
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.batching {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	return b.Conn.Write(p)
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

func (b *batchConn) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// dialAll opens n connections, at most dialConcurrency at a time.
func dialAll(d *websocket.Dialer, n int) ([]*websocket.Conn, error) {
	out := make([]*websocket.Conn, n)
	var next int64 = -1
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := *dialConcurrency
	if workers > n {
		workers = n
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= n {
					return
				}
				c, resp, err := d.Dial(*url, nil)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("dial %d: %v (resp %v)", i, err, resp)
					}
					mu.Unlock()
					return
				}
				out[i] = c
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, c := range out {
			if c != nil {
				c.Close()
			}
		}
		return nil, firstErr
	}
	return out, nil
}

// ---- payloads ----------------------------------------------------------------------------------

const stampLen = 8

type payload struct {
	template []byte
	msgType  int
	stampAt  int
	text     bool
}

func makePayload(kind string, n int) payload {
	rng := rand.New(rand.NewSource(42))
	p := payload{template: make([]byte, n), msgType: websocket.BinaryMessage}
	switch kind {
	case "binary":
		rng.Read(p.template)
	case "text":
		p.msgType, p.text = websocket.TextMessage, true
		const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;-"
		for i := range p.template {
			p.template[i] = alphabet[rng.Intn(len(alphabet))]
		}
	case "json":
		p.msgType, p.text = websocket.TextMessage, true
		p.template = makeJSON(rng, n)
		p.stampAt = len(`{"id":"`)
	default:
		fmt.Fprintln(os.Stderr, "unknown -kind", kind)
		os.Exit(2)
	}
	if n < p.stampAt+stampLen {
		fmt.Fprintln(os.Stderr, "-size too small")
		os.Exit(2)
	}
	return p
}

// makeJSON builds a JSON-like document of exactly n bytes: an array of small records with repeated keys,
// like a typical API or pub/sub message (compresses ~3-5× with deflate).
func makeJSON(rng *rand.Rand, n int) []byte {
	names := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	events := []string{"login", "logout", "click", "view", "purchase", "scroll"}
	var b bytes.Buffer
	b.WriteString(`{"id":"00000000","type":"batch","ts":1700000000123,"items":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"user":"%s","event":"%s","n":%d,"score":%.3f,"ok":%t}`,
			names[rng.Intn(len(names))], events[rng.Intn(len(events))], rng.Intn(100000), rng.Float64()*100, rng.Intn(2) == 0)
	}
	out := b.Bytes()
	// Cut to n bytes and close the document with padding in a final string field.
	tail := `],"pad":""}`
	body := out[:n-len(tail)]
	// Back up to the end of the last complete record.
	last := bytes.LastIndexByte(body, '}')
	doc := append([]byte{}, body[:last+1]...)
	doc = append(doc, `],"pad":"`...)
	for len(doc) < n-2 {
		doc = append(doc, 'x')
	}
	doc = append(doc, `"}`...)
	return doc[:n]
}

// stamp writes the sequence number into dst (stampLen bytes): big-endian for binary, hex digits for text.
func (p *payload) stamp(dst []byte, seq uint64) {
	if p.text {
		const hex = "0123456789abcdef"
		for i := stampLen - 1; i >= 0; i-- {
			dst[i] = hex[seq&15]
			seq >>= 4
		}
		return
	}
	binary.BigEndian.PutUint64(dst, seq)
}

// verify checks chunk, found at offset off of a message with sequence number seq.
func (p *payload) verify(chunk []byte, off int, stamp []byte) bool {
	end := off + len(chunk)
	if end > len(p.template) {
		return false
	}
	s0, s1 := p.stampAt, p.stampAt+stampLen
	// Before the stamp.
	if off < s0 {
		e := end
		if e > s0 {
			e = s0
		}
		if !bytes.Equal(chunk[:e-off], p.template[off:e]) {
			return false
		}
	}
	// The stamp.
	for i := maxInt(off, s0); i < minInt(end, s1); i++ {
		if chunk[i-off] != stamp[i-s0] {
			return false
		}
	}
	// After the stamp.
	if end > s1 {
		b := maxInt(off, s1)
		if !bytes.Equal(chunk[b-off:], p.template[b:end]) {
			return false
		}
	}
	return true
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// ---- echo --------------------------------------------------------------------------------------

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() interface{}  { return b.p.Get() }
func (b *bufferPool) Put(v interface{}) { b.p.Put(v) }

type echoConn struct {
	c      *websocket.Conn
	tokens chan struct{}
	sent   chan int64
	mu     sync.Mutex
	lat    []int64
}

var (
	received  int64
	measuring int32
)

func runEcho() map[string]interface{} {
	p := makePayload(*kind, *size)
	k := *inflight
	// Whole messages go out as one frame (as a browser sends them): the write buffer holds a whole
	// frame, taken from a pool only while a message is being written when messages are large.
	writeBuf := *size + 14
	var pool websocket.BufferPool
	if writeBuf < 4096 {
		writeBuf = 4096
	} else if writeBuf > 64<<10 {
		pool = &bufferPool{}
	}
	var global chan struct{}
	if int64(*conns)*int64(k)*int64(*size) > *maxInflightBytes {
		g := int(*maxInflightBytes / int64(*size))
		if g < 1 {
			g = 1
		}
		global = make(chan struct{}, g)
	}
	// Small messages whose turn comes together leave in one write(2); large ones pay their syscall
	// off, and copying them into a batch would cost more than it saves.
	batching := *size <= *batchMax && global == nil
	d := newDialer(16<<10, writeBuf, pool, batching)
	cs, err := dialAll(d, *conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := make(chan struct{})
	var writers, readers sync.WaitGroup
	ecs := make([]*echoConn, len(cs))
	for i, c := range cs {
		ec := &echoConn{c: c, tokens: make(chan struct{}, k), sent: make(chan int64, k)}
		for j := 0; j < k; j++ {
			ec.tokens <- struct{}{}
		}
		ecs[i] = ec
		writers.Add(1)
		var bc *batchConn
		if batching {
			bc = c.UnderlyingConn().(*batchConn)
		}
		go func() {
			defer writers.Done()
			if bc != nil {
				// Whatever way this loop ends, nothing may stay behind in the batch (the Close that
				// follows goes through the same connection).
				defer bc.flush()
			}
			stamp := make([]byte, stampLen)
			var seq uint64
			for {
				select {
				case <-stop:
					return
				case <-ec.tokens:
				}
				// Every echo that came back since the last write frees a slot: send them all at once.
				n := 1
				for bc != nil && n < k && len(ec.tokens) > 0 {
					<-ec.tokens
					n++
				}
				if bc != nil {
					bc.begin()
				}
				for ; n > 0; n-- {
					if global != nil {
						select {
						case <-stop:
							return
						case global <- struct{}{}:
						}
					}
					p.stamp(stamp, seq)
					seq++
					ec.sent <- time.Now().UnixNano()
					w, err := ec.c.NextWriter(p.msgType)
					if err == nil {
						w.Write(p.template[:p.stampAt])
						w.Write(stamp)
						w.Write(p.template[p.stampAt+stampLen:])
						err = w.Close()
					}
					if err != nil {
						if !isStopping() {
							fail("write: %v", err)
						}
						return
					}
				}
				if bc != nil {
					if err := bc.flush(); err != nil {
						if !isStopping() {
							fail("write: %v", err)
						}
						return
					}
				}
			}
		}()
		readers.Add(1)
		go func() {
			defer readers.Done()
			scratch := make([]byte, 64<<10)
			stamp := make([]byte, stampLen)
			var seq uint64
			for {
				mt, r, err := ec.c.NextReader()
				if err != nil {
					if !isStopping() {
						fail("read: %v", err)
					} else if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
						closeFail("closing: %v (%d echoes were in flight)", err, len(ec.sent))
					}
					return
				}
				t0 := <-ec.sent
				if mt != p.msgType {
					fail("message type %d, want %d", mt, p.msgType)
					return
				}
				p.stamp(stamp, seq)
				off := 0
				for {
					n, err := r.Read(scratch)
					if n > 0 {
						if !p.verify(scratch[:n], off, stamp) {
							fail("echo %d differs from what was sent (bytes %d..%d)", seq, off, off+n)
							return
						}
						off += n
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						if isStopping() {
							closeFail("closing, mid-message: %v", err)
						} else {
							fail("read body: %v", err)
						}
						return
					}
				}
				if off != len(p.template) {
					fail("echo %d has %d bytes, want %d", seq, off, len(p.template))
					return
				}
				seq++
				if atomic.LoadInt32(&measuring) == 1 {
					rtt := time.Now().UnixNano() - t0
					ec.mu.Lock()
					ec.lat = append(ec.lat, rtt)
					ec.mu.Unlock()
				}
				atomic.AddInt64(&received, 1)
				if global != nil {
					<-global
				}
				ec.tokens <- struct{}{}
			}
		}()
	}

	time.Sleep(*warmup)
	m0, c0, s0, t0 := atomic.LoadInt64(&received), cpuTicks(*pid), cpuTicks(0), time.Now()
	atomic.StoreInt32(&measuring, 1)
	time.Sleep(*duration)
	atomic.StoreInt32(&measuring, 0)
	m1, c1, s1, t1 := atomic.LoadInt64(&received), cpuTicks(*pid), cpuTicks(0), time.Now()

	// Stop sending, close every connection cleanly; the readers check the echoes still in flight.
	atomic.StoreInt32(&stopping, 1)
	close(stop)
	writers.Wait()
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, ec := range ecs {
		ec.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second))
	}
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		closeFail("connections did not close within 10 s")
	}
	for _, ec := range ecs {
		ec.c.Close()
	}

	var lat []int64
	for _, ec := range ecs {
		ec.mu.Lock()
		lat = append(lat, ec.lat...)
		ec.mu.Unlock()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	secs := t1.Sub(t0).Seconds()
	msgs := float64(m1 - m0)
	res := map[string]interface{}{
		"mode": "echo", "conns": *conns, "inflight": k, "size": *size, "kind": *kind, "compress": *compress,
		"globalInflight": cap(global),
		"messages":       m1 - m0, "seconds": secs,
		"msgsPerSec":  msgs / secs,
		"bytesPerSec": msgs * float64(*size) / secs,
		"p50us":       pct(lat, 0.50), "p99us": pct(lat, 0.99),
		"serverCpu":  cpuShare(c0, c1, secs),
		"loadgenCpu": cpuShare(s0, s1, secs),
	}
	return res
}

func cpuShare(a, b, secs float64) float64 {
	if a < 0 || b < 0 {
		return -1
	}
	return (b - a) / *clkTck / secs
}

func pct(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return -1
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / 1e3
}

// ---- handshake ---------------------------------------------------------------------------------

// ---- raw handshake client ------------------------------------------------------------------------

var acceptGUID = []byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")

// rawHandshake performs one connect → upgrade → Close 1000 → Close echo → server's TCP close, checking
// everything a conforming client must, with as little client-side work as possible.
func rawHandshake(addr, host, path string, rng *rand.Rand, buf []byte) error {
	n := atomic.AddUint64(&srcCounter, 1)
	src := net.IPv4(127, 0, 0, byte(1+int(n%uint64(*srcs))))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var nonce [16]byte
	rng.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	h := sha1.New()
	h.Write([]byte(key))
	h.Write(acceptGUID)
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return fmt.Errorf("write request: %v", err)
	}
	got := 0
	end := -1
	for end < 0 {
		if got == len(buf) {
			return errors.New("response head over 4 KiB")
		}
		m, err := c.Read(buf[got:])
		if err != nil {
			return fmt.Errorf("read response: %v", err)
		}
		got += m
		end = bytes.Index(buf[:got], []byte("\r\n\r\n"))
	}
	head := string(buf[:end])
	if !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		return fmt.Errorf("status: %q", strings.SplitN(head, "\r\n", 2)[0])
	}
	accepted := false
	for _, line := range strings.Split(head, "\r\n")[1:] {
		if i := strings.IndexByte(line, ':'); i > 0 && strings.EqualFold(line[:i], "Sec-WebSocket-Accept") {
			accepted = strings.TrimSpace(line[i+1:]) == want
		}
	}
	if !accepted {
		return errors.New("missing or wrong Sec-WebSocket-Accept")
	}
	// Close 1000, masked with a random key.
	var frame [8]byte
	frame[0], frame[1] = 0x88, 0x82
	rng.Read(frame[2:6])
	frame[6], frame[7] = 0x03^frame[2], 0xe8^frame[3]
	if _, err := c.Write(frame[:]); err != nil {
		return fmt.Errorf("write close: %v", err)
	}
	// The server's Close (unmasked, code 1000), then EOF: the server closes TCP first.
	rest := copy(buf, buf[end+4:got])
	need := 2
	for rest < need {
		m, err := c.Read(buf[rest:])
		if err != nil {
			return fmt.Errorf("read close: %v", err)
		}
		rest += m
		if rest >= 2 {
			need = 2 + int(buf[1]&0x7f)
		}
	}
	// An unmasked, final Close of at most 125 bytes, code 1000, and nothing after it.
	if buf[0] != 0x88 || buf[1]&0x80 != 0 || buf[1] > 125 || need < 4 || rest != need || buf[2] != 0x03 || buf[3] != 0xe8 {
		return fmt.Errorf("expected Close 1000, got % x", buf[:rest])
	}
	if m, err := c.Read(buf); err != io.EOF {
		return fmt.Errorf("expected the server to close TCP, got %d bytes, %v", m, err)
	}
	return nil
}

func runHandshake() map[string]interface{} {
	if *handshakeClient == "raw" {
		return measureHandshakes(func(w int) func() bool {
			u := strings.TrimPrefix(*url, "ws://")
			addr, path := u, "/"
			if i := strings.IndexByte(u, '/'); i >= 0 {
				addr, path = u[:i], u[i:]
			}
			rng := rand.New(rand.NewSource(int64(w) + time.Now().UnixNano()))
			buf := make([]byte, 4096)
			return func() bool {
				if err := rawHandshake(addr, addr, path, rng, buf); err != nil {
					fail("%v", err)
					time.Sleep(10 * time.Millisecond)
					return false
				}
				return true
			}
		})
	}
	return measureHandshakes(func(int) func() bool { return gorillaHandshake() })
}

func gorillaHandshake() func() bool {
	d := newDialer(4096, 4096, nil, false)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	return func() bool {
		c, _, err := d.Dial(*url, nil)
		if err != nil {
			fail("dial: %v", err)
			time.Sleep(10 * time.Millisecond)
			return false
		}
		c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err = c.ReadMessage(); err != nil {
				break
			}
		}
		c.Close()
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			fail("close: %v", err)
			return false
		}
		return true
	}
}

// measureHandshakes runs -concurrency workers, each looping over the handshake its factory makes.
func measureHandshakes(worker func(w int) func() bool) map[string]interface{} {
	var done int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		once := worker(w)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if once() {
					atomic.AddInt64(&done, 1)
				}
			}
		}()
	}
	time.Sleep(*warmup)
	h0, c0, s0, t0 := atomic.LoadInt64(&done), cpuTicks(*pid), cpuTicks(0), time.Now()
	time.Sleep(*duration)
	h1, c1, s1, t1 := atomic.LoadInt64(&done), cpuTicks(*pid), cpuTicks(0), time.Now()
	atomic.StoreInt32(&stopping, 1)
	close(stop)
	wg.Wait()
	secs := t1.Sub(t0).Seconds()
	return map[string]interface{}{
		"mode": "handshake", "concurrency": *concurrency, "compress": *compress, "client": *handshakeClient,
		"handshakes": h1 - h0, "seconds": secs,
		"handshakesPerSec": float64(h1-h0) / secs,
		"serverCpu":        cpuShare(c0, c1, secs),
		"loadgenCpu":       cpuShare(s0, s1, secs),
	}
}

// ---- idle --------------------------------------------------------------------------------------

func runIdle() map[string]interface{} {
	d := newDialer(4096, 4096, nil, false)
	t0 := time.Now()
	cs, err := dialAll(d, *conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	openSecs := time.Since(t0).Seconds()
	p := makePayload("binary", 64)
	stamp := make([]byte, stampLen)
	p.stamp(stamp, 0)
	full := append(append(append([]byte{}, p.template[:0]...), stamp...), p.template[stampLen:]...)
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func(c *websocket.Conn) {
			defer wg.Done()
			if err := c.WriteMessage(websocket.BinaryMessage, full); err != nil {
				fail("write: %v", err)
				return
			}
			mt, data, err := c.ReadMessage()
			if err != nil || mt != websocket.BinaryMessage || !bytes.Equal(data, full) {
				fail("idle echo: %v", err)
			}
		}(c)
	}
	wg.Wait()
	// Keep reading (pings, the final Close) on each connection.
	var readers sync.WaitGroup
	for _, c := range cs {
		readers.Add(1)
		go func(c *websocket.Conn) {
			defer readers.Done()
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					if !isStopping() {
						fail("idle read: %v", err)
					}
					return
				}
			}
		}(c)
	}
	fmt.Printf("OPEN %d\n", len(cs))
	bufio.NewReader(os.Stdin).ReadString('\n')
	atomic.StoreInt32(&stopping, 1)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	for _, c := range cs {
		c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(5*time.Second))
	}
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	for _, c := range cs {
		c.Close()
	}
	return map[string]interface{}{"mode": "idle", "conns": len(cs), "openSeconds": openSecs}
}

func main() {
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	var res map[string]interface{}
	switch *mode {
	case "echo":
		res = runEcho()
	case "handshake":
		res = runHandshake()
	case "idle":
		res = runIdle()
	default:
		fmt.Fprintln(os.Stderr, errors.New("unknown -mode "+*mode))
		os.Exit(2)
	}
	res["errors"] = atomic.LoadInt64(&errCount)
	errMu.Lock()
	res["errorSamples"] = errSamples
	res["closeErrors"] = atomic.LoadInt64(&closeErrCount)
	res["closeErrorSamples"] = closeErrSamples
	errMu.Unlock()
	pprof.StopCPUProfile()
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	if atomic.LoadInt64(&errCount) > 0 {
		os.Exit(3)
	}
}
