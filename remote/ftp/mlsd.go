package ftp

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gftp/gftp/remote"
)

// parseMLSD reads an MLSD listing (RFC 3659 section 7): one entry a line,
// "fact=value;fact=value; name", where the name is everything after the
// first space, byte for byte.
func parseMLSD(listing string) ([]remote.FileInfo, error) {
	var out []remote.FileInfo
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		fi, skip, err := parseMLSxLine(line)
		if err != nil {
			return nil, err
		}
		if !skip {
			out = append(out, fi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parseMLSxLine parses one entry. skip is set for the directory itself and
// its parent (type=cdir, type=pdir), and for "." and "..".
func parseMLSxLine(line string) (fi remote.FileInfo, skip bool, err error) {
	facts, name, ok := strings.Cut(line, " ")
	if !ok || name == "" {
		return fi, false, fmt.Errorf("MLSD line %q: no name", line)
	}
	fi.Name = name
	sawType := false
	for _, f := range strings.Split(facts, ";") {
		if f == "" {
			continue
		}
		k, v, _ := strings.Cut(f, "=")
		switch strings.ToLower(k) {
		case "type":
			sawType = true
			t := strings.ToLower(v)
			// Anything else (file, OS.unix=slink:...) is shown as a file.
			switch t {
			case "dir":
				fi.IsDir = true
			case "cdir", "pdir":
				skip = true
			}
		case "size", "sizd":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				fi.Size = n
			}
		case "modify":
			fi.ModTime = parseMLSxTime(v)
		}
	}
	if !sawType {
		return fi, false, fmt.Errorf("MLSD line %q: no type fact", line)
	}
	if fi.IsDir {
		fi.Size = 0
	}
	if name == "." || name == ".." || strings.Contains(name, "/") {
		skip = true
	}
	return fi, skip, nil
}

// parseMLSxTime reads YYYYMMDDHHMMSS[.sss] in UTC; the zero time if it
// cannot.
func parseMLSxTime(v string) time.Time {
	main, frac, _ := strings.Cut(v, ".")
	t, err := time.ParseInLocation("20060102150405", main, time.UTC)
	if err != nil {
		return time.Time{}
	}
	if frac != "" {
		if n, err := strconv.Atoi(frac); err == nil && len(frac) <= 9 {
			for i := len(frac); i < 9; i++ {
				n *= 10
			}
			t = t.Add(time.Duration(n))
		}
	}
	return t
}
