package localscan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vipyrsec/dragonfly-client-go/api"
	"github.com/vipyrsec/dragonfly-client-go/internal/failure"
	"github.com/vipyrsec/dragonfly-client-go/internal/membuf"
)

// Fetch reads a target's bytes: a local file or a URL. free releases
// them once the distribution is scanned.
type Fetch func(ctx context.Context, target string) (data []byte, free func(), err error)

// NewFetch downloads URL targets with dl, each within timeout (retries
// included), and reads local ones with [ReadFile], refusing one over
// limit bytes.
func NewFetch(dl *api.Downloader, timeout time.Duration, limit int64) Fetch {
	return func(ctx context.Context, target string) ([]byte, func(), error) {
		if IsURL(target) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			body, err := dl.Download(ctx, target)
			return body.Data, body.Free, err
		}
		return ReadFile(target, limit)
	}
}

// ReadFile reads a local distribution, refusing one over limit bytes,
// into a buffer outside the Go heap (see membuf) that free returns at once.
func ReadFile(target string, limit int64) (data []byte, free func(), err error) {
	f, err := os.Open(target)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > limit {
		return nil, nil, failure.ArchiveTooLarge(st.Size(), limit)
	}
	if !st.Mode().IsRegular() {
		// A pipe (dragonfly scan <(curl ...)) has no size to allocate.
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		if err == nil && int64(len(data)) > limit {
			err = failure.ArchiveTooLarge(int64(len(data)), limit)
		}
		return data, func() {}, err
	}
	// One byte more than the size tells a file that grew since Stat.
	buf, err := membuf.Alloc(int(st.Size()) + 1)
	if err != nil {
		return nil, nil, err
	}
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		membuf.Free(buf)
		return nil, nil, fmt.Errorf("%s grew while it was read", target)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return buf[:n], func() { membuf.Free(buf) }, nil
	default:
		membuf.Free(buf)
		return nil, nil, err
	}
}
