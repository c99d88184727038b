// The golang-http template's server: the watchdog (mode=http) starts it once and proxies
// every call to it; function.Handle answers each one. Standard library only.
package main

import (
	"log"
	"net/http"
	"net/url"
	"os"
	"time"

	"handler/function"
)

const defaultPort = "5000"

func main() {
	port := defaultPort
	if upstream, err := url.Parse(os.Getenv("upstream_url")); err == nil && upstream.Port() != "" {
		port = upstream.Port()
	}
	server := &http.Server{
		Addr:              "127.0.0.1:" + port,
		Handler:           http.HandlerFunc(function.Handle),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(server.ListenAndServe())
}
