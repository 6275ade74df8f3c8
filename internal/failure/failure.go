// Package failure names why a distribution could not be scanned. Every
// stage that can fail a distribution (download, archive reading, matching,
// the daemon's deadlines) wraps its error in one of these classes, and the
// mainframe's failure reason starts with the class name, so that an
// operator can tell at a glance whether a job failed because of the package
// (too large, malformed, unsupported), the network, or time. It is a leaf:
// the HTTP client, the archive reader and the scanner all import it, and it
// imports nothing of this module.
package failure

import (
	"errors"
	"fmt"
)

// The failure classes of a distribution. A failure reason sent to the
// mainframe starts with the class name followed by a colon.
var (
	ErrTooLarge       = errors.New("too large")
	ErrMalformed      = errors.New("malformed")
	ErrUnsupported    = errors.New("unsupported")
	ErrDownloadFailed = errors.New("download failed")
	ErrTimeout        = errors.New("timeout")
	ErrNoDistribution = errors.New("no distributions")
)

// Classes lists every class, in the order Class tests them: the first
// match wins.
var Classes = []error{ErrTooLarge, ErrMalformed, ErrUnsupported, ErrDownloadFailed, ErrTimeout, ErrNoDistribution}

// Class returns the failure class of err (one of the Err* sentinels), or nil
// when err carries none of them.
func Class(err error) error {
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// Classed wraps detail under class so that the message reads "class: detail".
func Classed(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", class, fmt.Sprintf(format, args...))
}

// TooLarge reports a limit hit, naming the limit and both figures.
func TooLarge(what string, got, limit int64) error {
	return Classed(ErrTooLarge, "%s %d > limit %d", what, got, limit)
}

// ArchiveTooLarge is the failure of a distribution over
// DRAGONFLY_MAX_SCAN_SIZE; readers and downloaders use it to refuse one
// before reading all of it.
func ArchiveTooLarge(size, limit int64) error {
	return Classed(ErrTooLarge, "%d bytes > limit %d", size, limit)
}
