// gorilla/websocket as a subscriber of a wsflow hub: opens CONNS connections, prints CONNECTED, reads
// COUNT messages on each, checks each one against what the test publishes (message i is "msg-<i>-" then
// <i mod 50> times "abcdefghij", text for even i, the same bytes as binary for odd i), then closes with 1000
// and prints one JSON line per connection.
// usage: gorilla_subscriber URL CONNS COUNT [--compression]
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type subscriberReport struct {
	Conn       int    `json:"conn"`
	Received   int    `json:"received"`
	Mismatches int    `json:"mismatches"`
	Extensions string `json:"extensions"`
	Err        string `json:"err,omitempty"`
}

func expected(i int) (int, string) {
	body := fmt.Sprintf("msg-%d-%s", i, strings.Repeat("abcdefghij", i%50))
	if i%2 == 0 {
		return websocket.TextMessage, body
	}
	return websocket.BinaryMessage, body
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: gorilla_subscriber URL CONNS COUNT [--compression]")
		os.Exit(2)
	}
	url := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	count, _ := strconv.Atoi(os.Args[3])
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, EnableCompression: len(os.Args) > 4 && os.Args[4] == "--compression"}
	list := make([]*websocket.Conn, conns)
	exts := make([]string, conns)
	for i := range list {
		c, resp, err := dialer.Dial(url, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		list[i] = c
		exts[i] = resp.Header.Get("Sec-WebSocket-Extensions")
	}
	fmt.Println("CONNECTED")
	reports := make([]subscriberReport, conns)
	var wg sync.WaitGroup
	for n, c := range list {
		wg.Add(1)
		go func(n int, c *websocket.Conn) {
			defer wg.Done()
			r := subscriberReport{Conn: n, Extensions: exts[n]}
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for i := 0; i < count; i++ {
				mt, data, err := c.ReadMessage()
				if err != nil {
					r.Err = err.Error()
					break
				}
				r.Received++
				wantType, want := expected(i)
				if mt != wantType || string(data) != want {
					r.Mismatches++
				}
			}
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, "done"), time.Now().Add(5*time.Second))
			c.Close()
			reports[n] = r
		}(n, c)
	}
	wg.Wait()
	for _, r := range reports {
		line, _ := json.Marshal(r)
		fmt.Println(string(line))
	}
}
