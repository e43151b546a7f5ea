// Subscriber load generator of the fan-out benchmark (bench/fanout/run.ts).
//
// It holds -conns WebSocket connections to the server(s) under test (spread round-robin over the
// comma-separated -urls), reads every message published to them and checks it: the content against the
// payload template (-payload file), the order by the sequence number the publisher stamped into it, and
// the publish-to-arrival latency from the publisher's CLOCK_MONOTONIC timestamp (the same clock as Node's
// process.hrtime and Go's runtime.nanotime, so comparable across processes on one host).
//
// Payload stamp (at -stamp-at): binary: 8-byte big-endian sequence number, then 8-byte timestamp in ns;
// text: the same two numbers as 16 lowercase hex digits each.
//
// Pacing: the publisher sits behind a plain TCP control connection (-control host:port). Every
// -ack-every, this program writes there, as 8 big-endian bytes, how many messages every measured
// connection has received (the minimum over connections of last sequence number + 1); the publisher keeps
// at most its window of messages beyond that. So every implementation publishes as fast as its
// subscribers drain, with one rule. Closing the control connection tells the publisher to stop.
//
// Modes:
//
//	sub   the measurement above, for -warmup then -duration; prints "RESULT {json}".
//	idle  opens the connections, prints "OPEN <n>", waits for a line on stdin, closes them, prints RESULT.
//
// -proto sio speaks Engine.IO v4 / socket.io over the WebSocket (transports: ['websocket']): "0{…}" open,
// "40" connect, "42[\"m\",\"<payload>\"]" events (text payloads), "2" ping answered with "3".
// -compress offers permessage-deflate with no context takeover on both sides and inflates each message
// (each distinct compressed message once: the same compressed bytes always inflate to the same message).
// -slow N: the first N connections never read after the handshake (slow consumers); they are left out of
// the acknowledgements and of the counts, with a small receive buffer so they fill up quickly.
package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

var (
	mode        = flag.String("mode", "sub", "sub | idle")
	urls        = flag.String("urls", "ws://127.0.0.1:8080/", "comma-separated server URLs; connections are spread over them")
	proto       = flag.String("proto", "ws", "ws | sio (Engine.IO v4 over WebSocket)")
	conns       = flag.Int("conns", 1000, "connections")
	compress    = flag.Bool("compress", false, "offer permessage-deflate (no context takeover both ways)")
	control     = flag.String("control", "", "publisher's control address host:port (sub)")
	payloadFile = flag.String("payload", "", "payload template file (sub)")
	kind        = flag.String("kind", "binary", "binary | text: how the stamp is written and the message type expected")
	stampAt     = flag.Int("stamp-at", 0, "offset of the stamp in the payload")
	warmup      = flag.Duration("warmup", time.Second, "unmeasured time before the window")
	duration    = flag.Duration("duration", 3*time.Second, "measured window")
	pids        = flag.String("pids", "", "comma-separated pids whose CPU time (all threads, schedstat) is measured over the window (the servers)")
	extraPids   = flag.String("extra-pids", "", "comma-separated pids also measured, reported apart (publisher, redis-server)")
	slow        = flag.Int("slow", 0, "connections that never read (slow consumers)")
	allowGaps   = flag.Bool("allow-gaps", false, "messages missing on a connection are counted, not errors")
	ackEvery    = flag.Duration("ack-every", time.Millisecond, "how often acknowledgements are sent")
	srcs        = flag.Int("srcs", 4, "source addresses 127.0.0.1 … 127.0.0.<srcs>")
	dialConc    = flag.Int("dial-concurrency", 64, "connections being opened at once")
	clkTck      = flag.Float64("clk-tck", 100, "clock ticks per second of /proc/<pid>/stat")
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

func isStopping() bool { return atomic.LoadInt32(&stopping) == 1 }

// ---- /proc -------------------------------------------------------------------------------------

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
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return -1
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return utime + stime
}

func rssBytes(p int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			if len(fields) >= 2 {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return -1
}

func parsePids(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			n, err := strconv.Atoi(f)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bad pid", f)
				os.Exit(2)
			}
			out = append(out, n)
		}
	}
	return out
}

// cpuNanos returns the time the process's threads have spent on a CPU, in ns, from
// /proc/<pid>/task/*/schedstat (nanosecond precision: a server that uses 2% of a core for 3 s is 6 clock
// ticks in /proc/<pid>/stat, too coarse to divide by). -1 when unreadable.
func cpuNanos(p int) float64 {
	dir := "/proc/" + strconv.Itoa(p) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	total := 0.0
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread just exited
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			total += v
		}
	}
	return total
}

// sumCPU returns the CPU seconds of the processes (the threads alive at the time of reading).
func sumCPU(ps []int) float64 {
	t := 0.0
	for _, p := range ps {
		v := cpuNanos(p)
		if v < 0 {
			return -1
		}
		t += v / 1e9
	}
	return t
}

// ---- latency histogram -------------------------------------------------------------------------

// Log-linear buckets: exact below 64 ns, then 32 buckets per power of two (about 3% wide).
const histBuckets = 64 * 32

var hist [histBuckets]int64

func bucketOf(v int64) int {
	if v < 64 {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - 6
	i := (e+1)*32 + int(uint64(v)>>uint(e)) - 32
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

func bucketValue(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	e := i/32 - 1
	m := i%32 + 32
	return (float64(m) + 0.5) * float64(uint64(1)<<uint(e))
}

func histQuantiles(qs ...float64) ([]float64, int64) {
	var total int64
	var counts [histBuckets]int64
	for i := range hist {
		counts[i] = atomic.LoadInt64(&hist[i])
		total += counts[i]
	}
	out := make([]float64, len(qs))
	for k, q := range qs {
		if total == 0 {
			out[k] = -1
			continue
		}
		rank := int64(q * float64(total-1))
		var seen int64
		for i, c := range counts {
			seen += c
			if seen > rank {
				out[k] = bucketValue(i) / 1e3 // µs
				break
			}
		}
	}
	return out, total
}

// ---- payload -----------------------------------------------------------------------------------

var (
	template []byte
	text     bool
	stampLen int
)

func readStamp(msg []byte) (seq uint64, ts int64, ok bool) {
	s := msg[*stampAt : *stampAt+stampLen]
	if !text {
		return binary.BigEndian.Uint64(s), int64(binary.BigEndian.Uint64(s[8:])), true
	}
	a, err1 := strconv.ParseUint(string(s[:16]), 16, 64)
	b, err2 := strconv.ParseUint(string(s[16:]), 16, 64)
	return a, int64(b), err1 == nil && err2 == nil
}

func checkContent(msg []byte) bool {
	if len(msg) != len(template) {
		return false
	}
	a, b := *stampAt, *stampAt+stampLen
	return bytes.Equal(msg[:a], template[:a]) && bytes.Equal(msg[b:], template[b:])
}

// ---- connections -------------------------------------------------------------------------------

var acceptGUID = []byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
var srcCounter uint64

type sub struct {
	id       int
	c        net.Conn
	br       *bufio.Reader
	wmu      sync.Mutex
	deflate  bool
	fr       io.ReadCloser
	msg      []byte // the message being assembled
	inflated bytes.Buffer
	last     int64 // last sequence number received, -1 before the first (atomic)
	count    int64 // messages received (atomic)
	gaps     int64 // messages missing between two received ones (atomic)
}

func dialOne(i int, rawURL string, slowConn bool) (*sub, error) {
	u := strings.TrimPrefix(rawURL, "ws://")
	addr, path := u, "/"
	if k := strings.IndexByte(u, '/'); k >= 0 {
		addr, path = u[:k], u[k:]
	}
	if *proto == "sio" {
		path = "/socket.io/?EIO=4&transport=websocket"
	}
	n := atomic.AddUint64(&srcCounter, 1)
	src := net.IPv4(127, 0, 0, byte(1+int(n%uint64(*srcs))))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	if slowConn {
		// A small receive buffer, so that the server's side fills up (and its backpressure policy is
		// reached) within the warm-up rather than after megabytes of kernel buffering.
		d.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			return serr
		}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %v", err)
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	h := sha1.New()
	h.Write([]byte(key))
	h.Write(acceptGUID)
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		key + "\r\nSec-WebSocket-Version: 13\r\n"
	if *compress {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	req += "\r\n"
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		c.Close()
		return nil, fmt.Errorf("write request: %v", err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	status, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
		c.Close()
		return nil, fmt.Errorf("status %q: %v", strings.TrimSpace(status), err)
	}
	accepted, deflate := false, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("read response: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k := strings.IndexByte(line, ':')
		if k < 0 {
			continue
		}
		name, value := strings.ToLower(line[:k]), strings.TrimSpace(line[k+1:])
		switch name {
		case "sec-websocket-accept":
			accepted = value == want
		case "sec-websocket-extensions":
			deflate = strings.HasPrefix(value, "permessage-deflate")
		}
	}
	if !accepted {
		c.Close()
		return nil, errors.New("missing or wrong Sec-WebSocket-Accept")
	}
	if *compress && !deflate {
		c.Close()
		return nil, errors.New("the server declined permessage-deflate")
	}
	c.SetDeadline(time.Time{})
	s := &sub{id: i, c: c, br: br, deflate: deflate, last: -1}
	if deflate {
		s.fr = flate.NewReader(bytes.NewReader(nil))
	}
	if *proto == "sio" {
		if err := s.sioConnect(); err != nil {
			c.Close()
			return nil, err
		}
	}
	return s, nil
}

func dialAll(n int) ([]*sub, error) {
	list := strings.Split(*urls, ",")
	out := make([]*sub, n)
	var next int64 = -1
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	workers := *dialConc
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
				s, err := dialOne(i, list[i%len(list)], i < *slow)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d to %s: %v", i, list[i%len(list)], err)
					}
					mu.Unlock()
					return
				}
				out[i] = s
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		for _, s := range out {
			if s != nil {
				s.c.Close()
			}
		}
		return nil, firstErr
	}
	return out, nil
}

// writeFrame sends one masked frame.
func (s *sub) writeFrame(op byte, payload []byte) error {
	var hdr [14]byte
	hdr[0] = 0x80 | op
	n := 2
	switch l := len(payload); {
	case l < 126:
		hdr[1] = 0x80 | byte(l)
	case l < 1<<16:
		hdr[1] = 0x80 | 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(l))
		n = 4
	default:
		hdr[1] = 0x80 | 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(l))
		n = 10
	}
	rand.Read(hdr[n : n+4])
	key := hdr[n : n+4]
	n += 4
	buf := make([]byte, n+len(payload))
	copy(buf, hdr[:n])
	for i, b := range payload {
		buf[n+i] = b ^ key[i&3]
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.c.Write(buf)
	return err
}

// readMessage returns the next data message (text or binary), answering pings and sio pings on the
// way. The returned slice is valid until the next call.
func (s *sub) readMessage() (op byte, data []byte, err error) {
	s.msg = s.msg[:0]
	var msgOp byte
	compressed := false
	for {
		var h [2]byte
		if _, err = io.ReadFull(s.br, h[:]); err != nil {
			return 0, nil, err
		}
		fin, rsv1, opcode := h[0]&0x80 != 0, h[0]&0x40 != 0, h[0]&0x0f
		if h[1]&0x80 != 0 {
			return 0, nil, errors.New("masked frame from the server")
		}
		l := uint64(h[1] & 0x7f)
		if l == 126 {
			var e [2]byte
			if _, err = io.ReadFull(s.br, e[:]); err != nil {
				return 0, nil, err
			}
			l = uint64(binary.BigEndian.Uint16(e[:]))
		} else if l == 127 {
			var e [8]byte
			if _, err = io.ReadFull(s.br, e[:]); err != nil {
				return 0, nil, err
			}
			l = binary.BigEndian.Uint64(e[:])
		}
		if l > 64<<20 {
			return 0, nil, fmt.Errorf("frame of %d bytes", l)
		}
		if opcode >= 8 {
			var p [125]byte
			if l > 125 {
				return 0, nil, errors.New("control frame over 125 bytes")
			}
			if _, err = io.ReadFull(s.br, p[:l]); err != nil {
				return 0, nil, err
			}
			switch opcode {
			case 8:
				s.writeFrame(8, p[:l])
				return 8, p[:l], nil
			case 9:
				s.writeFrame(10, p[:l])
			}
			continue
		}
		start := len(s.msg)
		if uint64(cap(s.msg)-start) < l {
			grown := make([]byte, start, start+int(l)+1024)
			copy(grown, s.msg)
			s.msg = grown
		}
		s.msg = s.msg[:start+int(l)]
		if _, err = io.ReadFull(s.br, s.msg[start:]); err != nil {
			return 0, nil, err
		}
		if opcode != 0 {
			msgOp, compressed = opcode, rsv1
		}
		if fin {
			break
		}
	}
	if !compressed {
		return msgOp, s.msg, nil
	}
	if !s.deflate {
		return 0, nil, errors.New("RSV1 without permessage-deflate")
	}
	// Without context takeover, a message's compressed bytes alone decide what it inflates to, and every
	// subscriber of a publish gets the same ones (zlib is deterministic): inflate each distinct one once.
	inflateMu.Lock()
	cached, ok := inflateCache[string(s.msg)]
	inflateMu.Unlock()
	if ok {
		return msgOp, cached, nil
	}
	key := string(s.msg)
	s.msg = append(s.msg, 0x00, 0x00, 0xff, 0xff)
	if err := s.fr.(flate.Resetter).Reset(bytes.NewReader(s.msg), nil); err != nil {
		return 0, nil, err
	}
	s.inflated.Reset()
	if _, err := s.inflated.ReadFrom(s.fr); err != nil && err != io.ErrUnexpectedEOF {
		return 0, nil, fmt.Errorf("inflate: %v", err)
	}
	out := append([]byte(nil), s.inflated.Bytes()...)
	inflateMu.Lock()
	if len(inflateCache) >= 4096 {
		inflateCache = make(map[string][]byte)
	}
	inflateCache[key] = out
	inflateMu.Unlock()
	return msgOp, out, nil
}

var (
	inflateMu    sync.Mutex
	inflateCache = make(map[string][]byte)
)

func (s *sub) sioConnect() error {
	op, data, err := s.readMessage()
	if err != nil || op != 1 || len(data) == 0 || data[0] != '0' {
		return fmt.Errorf("engine.io open: %v %q", err, data)
	}
	if err := s.writeFrame(1, []byte("40")); err != nil {
		return err
	}
	for {
		op, data, err = s.readMessage()
		if err != nil {
			return fmt.Errorf("socket.io connect: %v", err)
		}
		if op == 1 && bytes.HasPrefix(data, []byte("40")) {
			return nil
		}
		if op == 1 && string(data) == "2" {
			s.writeFrame(1, []byte("3"))
		}
	}
}

var sioPrefix = []byte(`42["m","`)
var sioSuffix = []byte(`"]`)

// ---- sub -------------------------------------------------------------------------------------------

var measuring int32

func (s *sub) readLoop(wantOp byte) {
	for {
		op, data, err := s.readMessage()
		if err != nil {
			if !isStopping() {
				fail("connection %d: read: %v", s.id, err)
			}
			return
		}
		if op == 8 {
			if !isStopping() {
				fail("connection %d: closed by the server: % x", s.id, data)
			}
			return
		}
		if *proto == "sio" {
			if op == 1 && string(data) == "2" {
				s.writeFrame(1, []byte("3"))
				continue
			}
			if op != 1 || !bytes.HasPrefix(data, sioPrefix) || !bytes.HasSuffix(data, sioSuffix) {
				fail("connection %d: unexpected socket.io packet %.60q", s.id, data)
				return
			}
			data = data[len(sioPrefix) : len(data)-len(sioSuffix)]
		} else if op != wantOp {
			fail("connection %d: message type %d, want %d", s.id, op, wantOp)
			return
		}
		now := nanotime()
		if len(data) != len(template) {
			fail("connection %d: message of %d bytes, want %d", s.id, len(data), len(template))
			return
		}
		seq, ts, ok := readStamp(data)
		if !ok || !checkContent(data) {
			fail("connection %d: message %d differs from what was published", s.id, seq)
			return
		}
		last := atomic.LoadInt64(&s.last)
		if last >= 0 && int64(seq) != last+1 {
			if int64(seq) <= last {
				fail("connection %d: message %d after %d (reordered or duplicated)", s.id, seq, last)
				return
			}
			atomic.AddInt64(&s.gaps, int64(seq)-last-1)
			if !*allowGaps {
				fail("connection %d: messages %d..%d missing", s.id, last+1, seq-1)
				return
			}
		}
		atomic.StoreInt64(&s.last, int64(seq))
		atomic.AddInt64(&s.count, 1)
		if atomic.LoadInt32(&measuring) == 1 {
			atomic.AddInt64(&hist[bucketOf(now-ts)], 1)
		}
	}
}

func runSub() map[string]interface{} {
	var err error
	template, err = os.ReadFile(*payloadFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	text = *kind == "text" || *proto == "sio"
	stampLen = 16
	if text {
		stampLen = 32
	}
	if *stampAt+stampLen > len(template) {
		fmt.Fprintln(os.Stderr, "payload too small for the stamp")
		os.Exit(2)
	}
	wantOp := byte(2)
	if text {
		wantOp = 1
	}
	serverPids, otherPids := parsePids(*pids), parsePids(*extraPids)
	rss0 := make([]int64, len(serverPids))
	for i, p := range serverPids {
		rss0[i] = rssBytes(p)
	}
	subs, err := dialAll(*conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	measured := subs[*slow:]
	var readers sync.WaitGroup
	for _, s := range measured {
		readers.Add(1)
		go func(s *sub) {
			defer readers.Done()
			s.readLoop(wantOp)
		}(s)
	}
	ctl, err := net.Dial("tcp", *control)
	if err != nil {
		fmt.Fprintln(os.Stderr, "control:", err)
		os.Exit(1)
	}
	// Acknowledgements: how far every measured connection has got.
	ackStop := make(chan struct{})
	ackDone := make(chan struct{})
	go func() {
		defer close(ackDone)
		t := time.NewTicker(*ackEvery)
		defer t.Stop()
		var sent int64 = -1
		var buf [8]byte
		for {
			select {
			case <-ackStop:
				return
			case <-t.C:
			}
			min := int64(1) << 62
			for _, s := range measured {
				if v := atomic.LoadInt64(&s.last) + 1; v < min {
					min = v
				}
			}
			if min != sent {
				binary.BigEndian.PutUint64(buf[:], uint64(min))
				if _, err := ctl.Write(buf[:]); err != nil {
					if !isStopping() {
						fail("control write: %v", err)
					}
					return
				}
				sent = min
			}
		}
	}()
	total := func() int64 {
		var n int64
		for _, s := range measured {
			n += atomic.LoadInt64(&s.count)
		}
		return n
	}
	time.Sleep(*warmup)
	rssStart := make([]int64, len(serverPids))
	for i, p := range serverPids {
		rssStart[i] = rssBytes(p)
	}
	m0, c0, o0, s0, t0 := total(), sumCPU(serverPids), sumCPU(otherPids), cpuTicks(0), time.Now()
	atomic.StoreInt32(&measuring, 1)
	time.Sleep(*duration)
	atomic.StoreInt32(&measuring, 0)
	m1, c1, o1, s1, t1 := total(), sumCPU(serverPids), sumCPU(otherPids), cpuTicks(0), time.Now()
	rssEnd := make([]int64, len(serverPids))
	for i, p := range serverPids {
		rssEnd[i] = rssBytes(p)
	}

	// Stop the publisher, then close every connection (a Close frame, then TCP).
	atomic.StoreInt32(&stopping, 1)
	close(ackStop)
	<-ackDone
	ctl.Close()
	var gaps int64
	for _, s := range measured {
		gaps += atomic.LoadInt64(&s.gaps)
	}
	closeMsg := []byte{0x03, 0xe8}
	for _, s := range subs {
		s.writeFrame(8, closeMsg)
	}
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	for _, s := range subs {
		s.c.Close()
	}
	secs := t1.Sub(t0).Seconds()
	q, samples := histQuantiles(0.5, 0.99, 0.999)
	return map[string]interface{}{
		"mode": "sub", "conns": *conns, "measuredConns": len(measured), "slow": *slow, "compress": *compress, "proto": *proto,
		"size": len(template), "kind": *kind,
		"deliveries": m1 - m0, "seconds": secs,
		"deliveriesPerSec": float64(m1-m0) / secs,
		"publishesPerSec":  float64(m1-m0) / secs / float64(len(measured)),
		"p50us":            q[0], "p99us": q[1], "p999us": q[2], "latencySamples": samples,
		"gaps":             gaps,
		"serverCpu":        secShare(c0, c1, secs),
		"otherCpu":         secShare(o0, o1, secs),
		"loadgenCpu":       cpuShare(s0, s1, secs),
		"serverRssBefore":  rss0, "serverRssWindowStart": rssStart, "serverRssWindowEnd": rssEnd,
	}
}

func secShare(a, b, secs float64) float64 {
	if a < 0 || b < 0 {
		return -1
	}
	return (b - a) / secs
}

func cpuShare(a, b, secs float64) float64 {
	if a < 0 || b < 0 {
		return -1
	}
	return (b - a) / *clkTck / secs
}

// ---- idle --------------------------------------------------------------------------------------

func runIdle() map[string]interface{} {
	t0 := time.Now()
	subs, err := dialAll(*conns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	openSecs := time.Since(t0).Seconds()
	var readers sync.WaitGroup
	for _, s := range subs {
		readers.Add(1)
		go func(s *sub) {
			defer readers.Done()
			for {
				op, _, err := s.readMessage()
				if err != nil || op == 8 {
					if !isStopping() {
						fail("idle read: %v", err)
					}
					return
				}
			}
		}(s)
	}
	fmt.Printf("OPEN %d\n", len(subs))
	bufio.NewReader(os.Stdin).ReadString('\n')
	atomic.StoreInt32(&stopping, 1)
	for _, s := range subs {
		s.writeFrame(8, []byte{0x03, 0xe8})
	}
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	for _, s := range subs {
		s.c.Close()
	}
	return map[string]interface{}{"mode": "idle", "conns": len(subs), "openSeconds": openSecs}
}

func main() {
	flag.Parse()
	var res map[string]interface{}
	switch *mode {
	case "sub":
		res = runSub()
	case "idle":
		res = runIdle()
	default:
		fmt.Fprintln(os.Stderr, "unknown -mode", *mode)
		os.Exit(2)
	}
	res["errors"] = atomic.LoadInt64(&errCount)
	errMu.Lock()
	res["errorSamples"] = errSamples
	errMu.Unlock()
	out, _ := json.Marshal(res)
	fmt.Printf("RESULT %s\n", out)
	if atomic.LoadInt64(&errCount) > 0 {
		os.Exit(3)
	}
}
