// Package function holds the handler: edit Handle.
package function

import (
	"fmt"
	"io"
	"net/http"
)

// Handle answers one call, as any net/http handler does.
func Handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "Hello from golang-http! You said: %s", body)
}
