// Package textout holds the small helpers the plain-text reports share:
// a writer that keeps the first error, so that printing code stays flat,
// and a byte-size formatter.
package textout

import (
	"fmt"
	"io"
)

// ErrWriter writes to W until a write fails, then keeps that first error
// in Err and writes nothing more, so that a report can print line after
// line and check for an error once.
type ErrWriter struct {
	W   io.Writer
	Err error
}

// Write writes p to W unless an earlier write failed. It returns the
// error it keeps, as io.Writer asks of a short write.
func (e *ErrWriter) Write(p []byte) (int, error) {
	if e.Err != nil {
		return 0, e.Err
	}
	n, err := e.W.Write(p)
	e.Err = err
	return n, err
}

// Bytes formats n bytes for people: "512 B", "1.5 KiB", "3.0 MiB", and on
// up in powers of 1024 to EiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
