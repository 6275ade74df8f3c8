package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheckCommand asks a running worker's /healthz, so that a container
// image needs no curl for its HEALTHCHECK. It reads DRAGONFLY_HTTP_ADDR the
// way "run" does; a wildcard host means this machine.
func healthcheckCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "dragonfly healthcheck takes no arguments")
		return exitFailure
	}
	environ, err := loadEnviron()
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly healthcheck: %v\n", err)
		return 1
	}
	addr, ok := environ["DRAGONFLY_HTTP_ADDR"]
	if !ok {
		addr = ":8080"
	}
	url, err := healthzURL(addr)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly healthcheck: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "dragonfly healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "dragonfly healthcheck: %s answered HTTP %d\n", url, resp.StatusCode)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}

// healthzURL turns a listen address into the URL of its /healthz.
func healthzURL(addr string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("DRAGONFLY_HTTP_ADDR is empty: the endpoints are turned off")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("DRAGONFLY_HTTP_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
