package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fixedTime is every member's modification time: archives must not change
// with the clock or with the source files' times.
var fixedTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// memberStat is what the index records of one written member: its
// expanded size and the SHA-256 of its content, from which the share of
// duplicate bytes is computed.
type memberStat struct {
	Size int64
	Sum  [32]byte
}

// content returns a member's bytes, reading, building and editing as the
// plan says.
func content(m *member) ([]byte, error) {
	var data []byte
	var err error
	switch {
	case m.Src != "":
		data, err = os.ReadFile(m.Src)
		if err == nil && int64(len(data)) != m.Size {
			err = fmt.Errorf("%s changed size while the corpus was written (%d, planned %d)", m.Src, len(data), m.Size)
		}
	case m.Nested != nil:
		var buf bytes.Buffer
		_, err = writeArchive(&buf, m.Nested.Format, wheelLevel, "", m.Nested.Members)
		data = buf.Bytes()
	default:
		data = m.Data
	}
	if err != nil {
		return nil, err
	}
	if m.Flip > 0 {
		data = flipBytes(data, m.Flip)
	}
	if len(m.Append) > 0 {
		data = append(data[:len(data):len(data)], strings.Join(m.Append, "")...)
	}
	return data, nil
}

// flipBytes returns a copy of data with one byte of every 4 KiB page
// inverted, at an offset that depends on the seed and the page: another
// platform's build of the same library, as far as hashes are concerned.
func flipBytes(data []byte, seed int) []byte {
	out := bytes.Clone(data)
	for page := 0; page < len(out); page += 4096 {
		h := fnv.New32a()
		fmt.Fprintf(h, "%d/%d", seed, page)
		off := page + int(h.Sum32()%4096)
		if off < len(out) {
			out[off] ^= 0xff
		}
	}
	return out
}

// writeArchive writes members as format ("tar.gz", "tar", "zip" or "whl")
// to w and returns the stats of the members with content. A wheel's
// RECORD, when record is set, is written last with every member's hash.
// Tar symlinks are left out of zips, which cannot express them.
func writeArchive(w io.Writer, format string, level int, record string, members []member) ([]memberStat, error) {
	var stats []memberStat
	var recordLines strings.Builder
	add := func(name string, data []byte) {
		sum := sha256.Sum256(data)
		stats = append(stats, memberStat{Size: int64(len(data)), Sum: sum})
		fmt.Fprintf(&recordLines, "%s,sha256=%s,%d\n", name, base64.RawURLEncoding.EncodeToString(sum[:]), len(data))
	}
	switch format {
	case "zip", "whl":
		zw := zip.NewWriter(w)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, level)
		})
		put := func(name string, exec bool, data []byte) error {
			h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: fixedTime}
			h.SetMode(fileMode(exec))
			fw, err := zw.CreateHeader(h)
			if err == nil {
				_, err = fw.Write(data)
			}
			return err
		}
		for i := range members {
			m := &members[i]
			if m.Link != "" {
				continue
			}
			data, err := content(m)
			if err != nil {
				return nil, err
			}
			add(m.Name, data)
			if err := put(m.Name, m.Exec, data); err != nil {
				return nil, err
			}
		}
		if record != "" {
			recordLines.WriteString(record + ",,\n")
			data := []byte(recordLines.String())
			stats = append(stats, memberStat{Size: int64(len(data)), Sum: sha256.Sum256(data)})
			if err := put(record, false, data); err != nil {
				return nil, err
			}
		}
		return stats, zw.Close()
	case "tar.gz", "tar":
		var gz *gzip.Writer
		out := w
		if format == "tar.gz" {
			var err error
			// A zero header: no name and no time, so the same bytes every run.
			if gz, err = gzip.NewWriterLevel(w, level); err != nil {
				return nil, err
			}
			out = gz
		}
		tw := tar.NewWriter(out)
		for i := range members {
			m := &members[i]
			h := &tar.Header{Name: m.Name, ModTime: fixedTime, Mode: int64(fileMode(m.Exec))}
			var data []byte
			if m.Link != "" {
				h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, m.Link, 0o777
			} else {
				var err error
				if data, err = content(m); err != nil {
					return nil, err
				}
				add(m.Name, data)
				h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
			}
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			if _, err := tw.Write(data); err != nil {
				return nil, err
			}
		}
		if err := tw.Close(); err != nil {
			return nil, err
		}
		if gz != nil {
			return stats, gz.Close()
		}
		return stats, nil
	}
	return nil, fmt.Errorf("unknown archive format %q", format)
}

func fileMode(exec bool) os.FileMode {
	if exec {
		return 0o755
	}
	return 0o644
}

// writtenDist is the outcome of writing one distribution.
type writtenDist struct {
	Bytes   int64
	SHA256  [32]byte
	Members []memberStat
}

// writeDist writes d into dir, through a temporary file so that an
// interrupted run leaves no half-written distribution behind.
func writeDist(dir string, d *dist) (writtenDist, error) {
	var res writtenDist
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	res.Members, err = writeArchive(bw, d.Format, d.Level, d.Record, d.Members)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", d.File, err)
	}
	res.Bytes = cw.n
	copy(res.SHA256[:], h.Sum(nil))
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return res, err
	}
	return res, os.Rename(tmp.Name(), filepath.Join(dir, d.File))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
