package archive

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/internal/envdefault"

	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
)

// Limits bound the work one distribution may cause, and this file is where
// every one of them is enforced: a counter admits each file before anything
// is allocated for it, and a ratio reader watches every decompression
// stream while it flows. Each is checked with ">"
// so that a value equal to the limit passes. The env tags name the variables
// the command line and the daemon read them from.
type Limits struct {
	// MaxScanSize bounds the bytes of one downloaded archive.
	MaxScanSize int64 `env:"DRAGONFLY_MAX_SCAN_SIZE" envDefault:"128000000" doc:"bytes of one downloaded archive; larger ones fail before reading"`
	// MaxExpandedSize bounds the expanded bytes per distribution, nested archives included.
	MaxExpandedSize int64 `env:"DRAGONFLY_MAX_EXPANDED_SIZE" envDefault:"2147483648" doc:"expanded bytes per distribution, nested archives included"`
	// MaxFileSize bounds one file, declared or actual; checked before allocating.
	MaxFileSize int64 `env:"DRAGONFLY_MAX_FILE_SIZE" envDefault:"268435456" doc:"bytes of one file, declared or actual, checked before allocating"`
	// MaxFiles bounds the entries per distribution, nested archives included.
	MaxFiles int64 `env:"DRAGONFLY_MAX_FILES" envDefault:"200000" doc:"entries per distribution, nested archives included"`
	// MaxDepth bounds archive nesting: the distribution itself is depth 0.
	MaxDepth int `env:"DRAGONFLY_MAX_DEPTH" envDefault:"5" doc:"nesting depth of archives inside archives"`
	// MaxRatio bounds expanded:compressed bytes, for a stream or member that
	// expands past RatioFloor and for the distribution as a whole.
	MaxRatio int64 `env:"DRAGONFLY_MAX_RATIO" envDefault:"500" doc:"expanded:compressed bytes, for anything expanding past 1 MiB"`
	// YaraTimeout bounds matching one file; YARA counts whole seconds.
	YaraTimeout time.Duration `env:"DRAGONFLY_YARA_TIMEOUT" envDefault:"10s" doc:"time limit for matching one file (whole seconds, at least 1)"`
}

// RatioFloor is the expanded size below which the ratio limit is not
// applied: tiny, highly repetitive files (a license, an empty __init__.py in
// a stored zip) legitimately reach odd ratios.
const RatioFloor = 1 << 20

// DefaultLimits returns the defaults of the envDefault tags above.
func DefaultLimits() Limits {
	var l Limits
	envdefault.Fill(&l)
	return l
}

// Validate reports the first limit that makes no sense, by variable name.
func (l Limits) Validate() error {
	switch {
	case l.MaxScanSize <= 0:
		return fmt.Errorf("DRAGONFLY_MAX_SCAN_SIZE must be positive, got %d", l.MaxScanSize)
	case l.MaxExpandedSize <= 0:
		return fmt.Errorf("DRAGONFLY_MAX_EXPANDED_SIZE must be positive, got %d", l.MaxExpandedSize)
	case l.MaxFileSize <= 0:
		return fmt.Errorf("DRAGONFLY_MAX_FILE_SIZE must be positive, got %d", l.MaxFileSize)
	case l.MaxFiles <= 0:
		return fmt.Errorf("DRAGONFLY_MAX_FILES must be positive, got %d", l.MaxFiles)
	case l.MaxDepth < 0:
		return fmt.Errorf("DRAGONFLY_MAX_DEPTH must not be negative, got %d", l.MaxDepth)
	case l.MaxRatio <= 0:
		return fmt.Errorf("DRAGONFLY_MAX_RATIO must be positive, got %d", l.MaxRatio)
	case l.YaraTimeout < time.Second:
		return fmt.Errorf("DRAGONFLY_YARA_TIMEOUT must be at least 1s (YARA counts whole seconds), got %s", l.YaraTimeout)
	}
	return nil
}

// counter is a walk's running total against its Limits: files, expanded
// bytes, and the ratio of the whole distribution.
type counter struct {
	lim      Limits
	total    int64 // bytes of the distribution, for the overall ratio
	files    int64
	expanded int64
}

// admit counts a file against the limits before anything is allocated for
// it. compressed is the member's stored size, or -1 when not known apart.
func (c *counter) admit(path string, size, compressed int64) error {
	c.files++
	if c.files > c.lim.MaxFiles {
		return failure.TooLarge("number of files", c.files, c.lim.MaxFiles)
	}
	if size > c.lim.MaxFileSize {
		return failure.TooLarge("file "+DisplayName(path)+" of", size, c.lim.MaxFileSize)
	}
	if size < 0 {
		return failure.Classed(failure.ErrMalformed, "file %s has negative size %d", DisplayName(path), size)
	}
	expanded := c.expanded + size
	if expanded > c.lim.MaxExpandedSize {
		return failure.TooLarge("expanded size", expanded, c.lim.MaxExpandedSize)
	}
	if expanded > RatioFloor && expanded > c.lim.MaxRatio*c.total {
		return ratioError("the distribution", expanded, c.total, c.lim.MaxRatio)
	}
	if compressed >= 0 && size > RatioFloor && size > c.lim.MaxRatio*compressed {
		return ratioError(path, size, compressed, c.lim.MaxRatio)
	}
	c.expanded = expanded
	return nil
}

// filesLeft is how many more files the limit lets in.
func (c *counter) filesLeft() int64 { return c.lim.MaxFiles - c.files }

// ratioReader fails a decompression stream whose output outgrows its
// consumed input by more than the ratio limit, or grows past the expanded
// budget, while streaming: a bomb fails after a few MiB, not at the end.
type ratioReader struct {
	r        io.Reader
	src      *bytes.Reader // the compressed input, to see how much was consumed
	srcSize  int64
	out      int64
	maxRatio int64
	maxOut   int64
	path     string
}

func (r *ratioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.out += int64(n)
	if r.out > r.maxOut {
		return n, failure.TooLarge("expanded stream of "+DisplayName(r.path), r.out, r.maxOut)
	}
	if r.out > RatioFloor {
		consumed := r.srcSize - int64(r.src.Len())
		if r.out > r.maxRatio*max(consumed, 1) {
			return n, ratioError(r.path, r.out, consumed, r.maxRatio)
		}
	}
	return n, err
}

func ratioError(path string, expanded, compressed, limit int64) error {
	return failure.Classed(failure.ErrTooLarge, "expansion ratio of %s exceeds limit %d (%d bytes from %d)", DisplayName(path), limit, expanded, compressed)
}
