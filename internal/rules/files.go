package rules

import (
	"os"
	"path/filepath"
	"strings"
)

// SourceFile is a rules file of a folder as [LoadDir] reads it.
type SourceFile struct {
	// Key is the file's name without the extension, as the mainframe keys
	// rules; two files of a folder may share one (a.yar and a.yara), which
	// LoadDir refuses.
	Key string
	// Name is the file's name in the folder.
	Name string
}

// SourceFiles lists the .yar and .yara files of dir (not recursively), in
// file-name order. It returns os.ReadDir's error as is.
func SourceFiles(dir string) ([]SourceFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []SourceFile
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yar" && ext != ".yara") {
			continue
		}
		out = append(out, SourceFile{Key: strings.TrimSuffix(e.Name(), ext), Name: e.Name()})
	}
	return out, nil
}
