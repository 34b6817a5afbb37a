package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// probeListen checks that run could listen on http.listen: a port taken
// makes run fail at start. When another agent holds this config's spool,
// the port is presumably its own, and in use is expected.
func probeListen(addr string, agentRunning bool) []check {
	if addr == "" {
		return nil // the server is off
	}
	c := check{scope: "http", name: "listen " + addr}
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		ln.Close()
		c.ok, c.detail = true, "free; run serves the status page, /metrics and /healthz here"
	case errors.Is(err, syscall.EADDRINUSE) && agentRunning:
		c.ok, c.detail = true, "in use, presumably by the running lagship that holds the spool"
	default:
		c.detail = fmt.Sprintf("%v: run would not start; stop what uses it or set http.listen (\"\" turns the server off)", err)
	}
	return []check{c}
}
