package scan

import (
	"fmt"
	"time"
)

// Limits bound the work one distribution may cause. Each is checked with ">"
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

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxScanSize:     128000000,
		MaxExpandedSize: 2147483648,
		MaxFileSize:     268435456,
		MaxFiles:        200000,
		MaxDepth:        5,
		MaxRatio:        500,
		YaraTimeout:     10 * time.Second,
	}
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
