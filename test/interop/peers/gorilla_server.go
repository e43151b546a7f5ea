// gorilla/websocket as an echo server for a wsflow client. Prints `LISTENING <port>`, then one JSON line
// per event. Commands: `srv-ping:X` (ping X, answer `srv-pong:X` from the pong handler),
// `srv-close:CODE:REASON`, `srv-fragments`. Every echo goes through NextWriter, so anything over the
// 4 KiB write buffer arrives in several frames.
// usage: gorilla_server [--no-compression]
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const timeout = 10 * time.Second

var logMu sync.Mutex

func logEvent(ev map[string]interface{}) {
	logMu.Lock()
	defer logMu.Unlock()
	b, _ := json.Marshal(ev)
	fmt.Println(string(b))
}

func writeChunked(c *websocket.Conn, mt int, data []byte) error {
	w, err := c.NextWriter(mt)
	if err != nil {
		return err
	}
	for i := 0; i < len(data); i += 1000 {
		end := i + 1000
		if end > len(data) {
			end = len(data)
		}
		if _, err := w.Write(data[i:end]); err != nil {
			return err
		}
	}
	return w.Close()
}

func serve(up *websocket.Upgrader) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			logEvent(map[string]interface{}{"event": "error", "error": err.Error()})
			return
		}
		defer c.Close()
		logEvent(map[string]interface{}{"event": "open", "protocol": c.Subprotocol(),
			"offer": r.Header.Get("Sec-WebSocket-Extensions")})
		initiator := "client"
		var readErr error
		for {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			mt, data, err := c.ReadMessage()
			if err != nil {
				readErr = err
				break
			}
			s := string(data)
			switch {
			case mt == websocket.TextMessage && strings.HasPrefix(s, "srv-ping:"):
				payload := strings.TrimPrefix(s, "srv-ping:")
				c.SetPongHandler(func(p string) error {
					c.SetPongHandler(nil)
					return c.WriteMessage(websocket.TextMessage, []byte("srv-pong:"+p))
				})
				err = c.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(timeout))
			case mt == websocket.TextMessage && strings.HasPrefix(s, "srv-close:"):
				parts := strings.SplitN(s, ":", 3)
				code, _ := strconv.Atoi(parts[1])
				initiator = "server"
				err = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, parts[2]), time.Now().Add(timeout))
			case mt == websocket.TextMessage && s == "srv-fragments":
				if err = writeChunked(c, websocket.TextMessage, fragText); err == nil {
					err = writeChunked(c, websocket.BinaryMessage, fragBinary)
				}
			default:
				err = writeChunked(c, mt, data)
			}
			if err != nil {
				readErr = err
				break
			}
		}
		ev := map[string]interface{}{"event": "close", "initiator": initiator}
		var ce *websocket.CloseError
		if errors.As(readErr, &ce) {
			ev["code"] = ce.Code
			ev["reason"] = ce.Text
		} else {
			ev["error"] = readErr.Error()
		}
		logEvent(ev)
	}
}

func main() {
	compression := !(len(os.Args) > 1 && os.Args[1] == "--no-compression")
	up := &websocket.Upgrader{
		EnableCompression: compression,
		Subprotocols:      []string{"chat.v2"},
		WriteBufferSize:   4096,
		HandshakeTimeout:  timeout,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	http.Serve(ln, serve(up))
}
