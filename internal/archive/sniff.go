package archive

import (
	"bytes"
	"strconv"
)

// Format names what a distribution's bytes are, decided by magic bytes and
// never by a file name: the name is the uploader's to choose.
type Format string

const (
	FormatZip     Format = "zip"
	FormatTar     Format = "tar"
	FormatTarGz   Format = "tar.gz"
	FormatTarBz2  Format = "tar.bz2"
	FormatTarXz   Format = "tar.xz"
	FormatUnknown Format = ""
)

// compression is a stream compression wrapping a tar archive.
type compression int

const (
	compNone compression = iota
	compGzip
	compBzip2
	compXz
)

var (
	magicZipLocal = []byte("PK\x03\x04")
	magicZipEnd   = []byte("PK\x05\x06")
	magicGzip     = []byte{0x1f, 0x8b}
	magicBzip2    = []byte("BZh")
	magicXz       = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

const tarBlock = 512

// sniffCompression returns the stream compression data starts with.
func sniffCompression(data []byte) compression {
	switch {
	case bytes.HasPrefix(data, magicGzip):
		return compGzip
	case bytes.HasPrefix(data, magicBzip2) && len(data) > 3 && data[3] >= '1' && data[3] <= '9':
		return compBzip2
	case bytes.HasPrefix(data, magicXz):
		return compXz
	}
	return compNone
}

// isZip reports whether data starts like a zip archive: a local file header,
// or the end record of an empty archive.
func isZip(data []byte) bool {
	return bytes.HasPrefix(data, magicZipLocal) || bytes.HasPrefix(data, magicZipEnd)
}

// isTarHeader reports whether block is a plausible tar header: its checksum
// field agrees with its contents. An all-zero block (the end marker, so an
// empty archive) counts too when allowEmpty is set.
func isTarHeader(block []byte, allowEmpty bool) bool {
	if len(block) < tarBlock {
		return false
	}
	block = block[:tarBlock]
	var unsigned, signed int64
	zero := true
	for i, b := range block {
		if b != 0 {
			zero = false
		}
		if i >= 148 && i < 156 {
			b = ' '
		}
		unsigned += int64(b)
		signed += int64(int8(b))
	}
	if zero {
		return allowEmpty
	}
	field := bytes.Trim(block[148:156], " \x00")
	want, err := strconv.ParseInt(string(field), 8, 64)
	if err != nil {
		return false
	}
	return want == unsigned || want == signed
}

// isUstar reports whether block is a tar header with a POSIX or GNU magic.
// Only such tars are opened when nested: a bare checksum match on 512
// arbitrary bytes is too weak a sign for a member of unknown type.
func isUstar(block []byte) bool {
	return len(block) >= tarBlock && bytes.HasPrefix(block[257:], []byte("ustar")) && isTarHeader(block, false)
}
