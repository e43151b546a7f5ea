// gorilla/websocket fan-out server of the fan-out benchmark (bench/fanout/run.ts).
//
// The hub of gorilla's examples/chat: one hub goroutine owns the set of clients; each client has a
// buffered send channel (256, as in the example) drained by its own writePump goroutine, and a readPump
// that reads (and here discards) what the client sends. A broadcast goes to every client's channel with
// the example's non-blocking send (a client whose channel is full is dropped). The one change: the hub
// broadcasts a *websocket.PreparedMessage, built once per publish, which writePump sends with
// WritePreparedMessage (the example's NextWriter loop joins queued messages with newlines into one
// message, which a PreparedMessage cannot do and our subscribers would reject).
//
// The publisher follows the fan-out benchmark's rule (bench/fanout/servers/publisher.ts): it listens
// on a control port; the subscriber load generator connects and sends, as 8 big-endian bytes, how many
// messages every subscriber has received; at most -window messages are published beyond that (and, with
// -rate, no more than that many per second). Each payload is the template with the sequence number and
// runtime.nanotime() (CLOCK_MONOTONIC) stamped at -stamp-at.
//
// Prints "READY <port> {json}" once listening; reads "mem" / "quit" on stdin like the other servers.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	_ "unsafe" // for go:linkname

	"github.com/gorilla/websocket"
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

const (
	writeWait = 10 * time.Second // as in examples/chat
	sendQueue = 256              // as in examples/chat
)

type client struct {
	hub  *hub
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type hub struct {
	clients    map[*client]bool
	broadcast  chan *websocket.PreparedMessage
	register   chan *client
	unregister chan *client
	dropped    int64
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default:
					close(c.send)
					delete(h.clients, c)
					atomic.AddInt64(&h.dropped, 1)
				}
			}
		}
	}
}

func (c *client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
	}()
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *client) writePump() {
	defer c.conn.Close()
	for m := range c.send {
		c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := c.conn.WritePreparedMessage(m); err != nil {
			return
		}
	}
	c.conn.WriteMessage(websocket.CloseMessage, []byte{})
}

func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
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

func main() {
	port := flag.Int("port", 0, "listen port (0: any)")
	payloadFile := flag.String("payload", "", "payload template")
	kind := flag.String("kind", "binary", "binary | text")
	stampAt := flag.Int("stamp-at", 0, "offset of the stamp")
	window := flag.Int64("window", 64, "messages published beyond what every subscriber has received")
	rate := flag.Float64("rate", 0, "publishes per second at most (0: as fast as the window allows)")
	flag.Parse()

	template, err := os.ReadFile(*payloadFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	text := *kind == "text"
	msgType := websocket.BinaryMessage
	if text {
		msgType = websocket.TextMessage
	}

	h := &hub{
		clients:    make(map[*client]bool),
		broadcast:  make(chan *websocket.PreparedMessage),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
	go h.run()

	upgrader := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(*port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	// The publisher: one control connection at a time.
	go func() {
		for {
			cc, err := ctl.Accept()
			if err != nil {
				return
			}
			var acked int64
			ackCh := make(chan int64, 1)
			go func() {
				defer close(ackCh)
				var buf [8]byte
				for {
					if _, err := io.ReadFull(cc, buf[:]); err != nil {
						return
					}
					v := int64(binary.BigEndian.Uint64(buf[:]))
					select {
					case ackCh <- v:
					default:
						<-ackCh // drop the stale value, keep the newest
						ackCh <- v
					}
				}
			}()
			var seq int64
			start := nanotime()
			tick := time.NewTicker(time.Millisecond)
			open := true
			for open {
				select {
				case v, ok := <-ackCh:
					if !ok {
						open = false
						continue
					}
					acked = v
				case <-tick.C:
				}
				for seq-acked < *window {
					if *rate > 0 && float64(seq) >= float64(nanotime()-start)/1e9**rate {
						break
					}
					data := make([]byte, len(template))
					copy(data, template)
					stamp(data[*stampAt:], uint64(seq), nanotime(), text)
					pm, err := websocket.NewPreparedMessage(msgType, data)
					if err != nil {
						fmt.Fprintln(os.Stderr, err)
						os.Exit(1)
					}
					h.broadcast <- pm
					seq++
				}
			}
			tick.Stop()
			cc.Close()
		}
	}()

	info, _ := json.Marshal(map[string]interface{}{"impl": "gorilla", "controlPort": ctl.Addr().(*net.TCPAddr).Port})
	fmt.Printf("READY %d %s\n", ln.Addr().(*net.TCPAddr).Port, info)

	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			switch strings.TrimSpace(scanner.Text()) {
			case "mem":
				runtime.GC()
				debug.FreeOSMemory()
				out, _ := json.Marshal(map[string]int64{"rss": rssBytes(), "dropped": atomic.LoadInt64(&h.dropped)})
				fmt.Printf("MEM %s\n", out)
			case "quit":
				os.Exit(0)
			}
		}
		os.Exit(0)
	}()

	handler := func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{hub: h, conn: conn, send: make(chan *websocket.PreparedMessage, sendQueue)}
		h.register <- c
		go c.writePump()
		go c.readPump()
	}
	if err := http.Serve(ln, http.HandlerFunc(handler)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// stamp writes the sequence number and the timestamp: 8+8 big-endian bytes, or 16+16 hex digits.
func stamp(dst []byte, seq uint64, ts int64, text bool) {
	if !text {
		binary.BigEndian.PutUint64(dst, seq)
		binary.BigEndian.PutUint64(dst[8:], uint64(ts))
		return
	}
	const hex = "0123456789abcdef"
	v := seq
	for i := 15; i >= 0; i-- {
		dst[i] = hex[v&15]
		v >>= 4
	}
	v = uint64(ts)
	for i := 31; i >= 16; i-- {
		dst[i] = hex[v&15]
		v >>= 4
	}
}
