// gorilla/websocket echo server for the end-to-end benchmark (bench/run.ts).
//
// The standard echo loop of gorilla's examples/echo: ReadMessage, then WriteMessage with the same type.
// Prints "READY <port>" once listening. Reads commands on stdin, one per line:
//   mem   runtime.GC() + debug.FreeOSMemory(), then prints {"rss":…} (bytes, from /proc/self/status)
//   quit  exits
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"
)

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
	host := flag.String("host", "127.0.0.1", "listen host")
	port := flag.Int("port", 0, "listen port (0: any)")
	compress := flag.Bool("compress", false, "enable permessage-deflate")
	maxPayload := flag.Int64("max-payload", 2<<20, "read limit in bytes")
	flag.Parse()

	upgrader := websocket.Upgrader{
		EnableCompression: *compress,
		CheckOrigin:       func(r *http.Request) bool { return true },
	}
	handler := func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(*maxPayload)
		for {
			mt, message, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, message); err != nil {
				return
			}
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("READY %d\n", ln.Addr().(*net.TCPAddr).Port)

	go func() {
		scanner := bufio.NewScanner(os.Stdin)
		for scanner.Scan() {
			switch strings.TrimSpace(scanner.Text()) {
			case "mem":
				runtime.GC()
				debug.FreeOSMemory()
				out, _ := json.Marshal(map[string]int64{"rss": rssBytes()})
				fmt.Printf("MEM %s\n", out)
			case "quit":
				os.Exit(0)
			}
		}
		os.Exit(0) // stdin closed: the coordinator is gone
	}()

	if err := http.Serve(ln, http.HandlerFunc(handler)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
