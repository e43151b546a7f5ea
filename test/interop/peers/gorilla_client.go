// gorilla/websocket as a client of a wsflow server: runs the interop scenario, prints JSON results.
// usage: gorilla_client URL [--compression]
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gorilla/websocket"
)

const timeout = 10 * time.Second

type echo struct {
	Name string `json:"name"`
	Ok   bool   `json:"ok"`
	Type string `json:"type"`
	Len  int    `json:"len"`
}

type closeInfo struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func kind(mt int) string {
	if mt == websocket.TextMessage {
		return "text"
	}
	return "binary"
}

func msgType(text bool) int {
	if text {
		return websocket.TextMessage
	}
	return websocket.BinaryMessage
}

// writeFragmented sends one message in frames of at most `size` bytes: gorilla's NextWriter flushes a
// frame each time its write buffer (WriteBufferSize, 4096 here) fills, so this splits mid-codepoint too.
func writeFragmented(c *websocket.Conn, mt int, data []byte) error {
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

func dial(url string, compression bool) *websocket.Conn {
	d := websocket.Dialer{
		HandshakeTimeout:  timeout,
		EnableCompression: compression,
		Subprotocols:      []string{"chat.v2", "chat"},
		WriteBufferSize:   4096,
	}
	c, _, err := d.Dial(url, nil)
	check(err)
	return c
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gorilla_client:", err)
		os.Exit(1)
	}
}

func read(c *websocket.Conn) (int, []byte, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	return c.ReadMessage()
}

func closeOf(err error) closeInfo {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return closeInfo{ce.Code, ce.Text}
	}
	return closeInfo{-1, err.Error()}
}

func conn1(url string, compression bool) map[string]interface{} {
	out := map[string]interface{}{}
	c := dial(url, compression)
	defer c.Close()
	out["protocol"] = c.Subprotocol()
	echoes := []echo{}
	for _, f := range fixtures {
		mt := msgType(f.text)
		if f.frames {
			check(writeFragmented(c, mt, f.data))
		} else {
			check(c.WriteMessage(mt, f.data))
		}
		rt, data, err := read(c)
		check(err)
		echoes = append(echoes, echo{f.name, rt == mt && bytes.Equal(data, f.data), kind(rt), len(data)})
	}
	out["echoes"] = echoes

	pong := ""
	c.SetPongHandler(func(s string) error { pong = s; return nil })
	check(c.WriteControl(websocket.PingMessage, []byte("cli-ping"), time.Now().Add(timeout)))
	// The pong is handled while reading the next message; the server's ping gets gorilla's default answer.
	check(c.WriteMessage(websocket.TextMessage, []byte("srv-ping:hello")))
	_, data, err := read(c)
	check(err)
	out["serverPing"] = string(data)
	out["clientPong"] = pong

	check(c.WriteMessage(websocket.TextMessage, []byte("srv-fragments")))
	tt, t, err := read(c)
	check(err)
	bt, b, err := read(c)
	check(err)
	out["srvFragments"] = map[string]bool{
		"text":   tt == websocket.TextMessage && bytes.Equal(t, fragText),
		"binary": bt == websocket.BinaryMessage && bytes.Equal(b, fragBinary),
	}

	check(c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(timeout)))
	for {
		if _, _, err = read(c); err != nil {
			break
		}
	}
	out["close"] = closeOf(err)
	// The server closes TCP first: wait for EOF.
	c.SetReadDeadline(time.Now().Add(timeout))
	_, err = c.UnderlyingConn().Read(make([]byte, 1))
	out["tcpClosedByServer"] = err == io.EOF
	return out
}

func conn2(url string, compression bool) map[string]interface{} {
	out := map[string]interface{}{}
	c := dial(url, compression)
	defer c.Close()
	check(c.WriteMessage(websocket.TextMessage, []byte("srv-close:4002:srv")))
	_, _, err := read(c)
	out["close"] = closeOf(err)
	return out
}

func main() {
	url := os.Args[1]
	compression := len(os.Args) > 2 && os.Args[2] == "--compression"
	res := map[string]interface{}{"conn1": conn1(url, compression), "conn2": conn2(url, compression)}
	check(json.NewEncoder(os.Stdout).Encode(res))
}
