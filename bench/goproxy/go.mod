module faas.local/bench/goproxy

go 1.21
