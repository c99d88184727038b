// Command goproxy is the benchmarks' reference for the gateway hop: Go's
// net/http/httputil.ReverseProxy in front of one upstream, built by bench/goproxy.py
// at bench time (standard library only, so it builds offline).
//
//	goproxy -listen 127.0.0.1:9000 -upstream http://127.0.0.1:9001 -strip /function/echo
//
// It is tuned as a fair opponent: a keep-alive pool large enough for every connection
// the load generator opens (Go's default keeps 2 idle connections per host, which
// would make it open and close connections under c=64), no compression, no HTTP/2,
// and no logging. /_/health answers 200 without going upstream.
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	upstream := flag.String("upstream", "", "URL of the upstream (http://host:port)")
	strip := flag.String("strip", "", "path prefix to remove before forwarding (e.g. /function/echo)")
	pool := flag.Int("pool", 1024, "idle keep-alive connections kept to the upstream")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("goproxy: -upstream %q: expected http://host:port", *upstream)
	}

	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        *pool,
		MaxIdleConnsPerHost: *pool,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			if *strip != "" {
				rest := strings.TrimPrefix(r.In.URL.Path, *strip)
				if rest == "" || rest[0] != '/' {
					rest = "/" + rest
				}
				r.Out.URL.Path = rest
				r.Out.URL.RawPath = ""
			}
			r.SetXForwarded()
		},
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/_/health", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.Handle("/", proxy)

	server := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(server.ListenAndServe())
}
