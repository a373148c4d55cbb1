package ftp

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gftp/gftp/remote"
)

// parseLIST reads a LIST listing from a server without MLSD (vsftpd): one
// entry a line, in the form of ls -l, or of DOS's dir (IIS). RFC 959 leaves
// the format to the server, so lines that fit neither form are skipped, and
// so are "." and "..".
func parseLIST(listing string) []remote.FileInfo {
	var out []remote.FileInfo
	now := time.Now()
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSuffix(line, "\r")
		fi, ok := parseUnixLine(line, now)
		if !ok {
			fi, ok = parseDOSLine(line)
		}
		if !ok || fi.Name == "" || fi.Name == "." || fi.Name == ".." || strings.Contains(fi.Name, "/") {
			continue
		}
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// fieldsN splits line at runs of spaces into n fields and the rest of the
// line after them, which is kept byte for byte (a name may hold spaces).
func fieldsN(line string, n int) ([]string, string, bool) {
	var f []string
	i := 0
	for len(f) < n {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if j == i {
			return nil, "", false
		}
		f = append(f, line[i:j])
		i = j
	}
	if i >= len(line) || line[i] != ' ' {
		return nil, "", false
	}
	return f, line[i+1:], true
}

var months = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

// parseUnixLine reads "drwxr-xr-x 2 owner group 4096 Jan 02 15:04 name"
// (or with a year in place of the time, or without the group).
func parseUnixLine(line string, now time.Time) (remote.FileInfo, bool) {
	var fi remote.FileInfo
	if len(line) < 10 || !strings.ContainsRune("-dlbcps", rune(line[0])) {
		return fi, false
	}
	for _, n := range []int{8, 7} {
		f, name, ok := fieldsN(line, n)
		if !ok {
			continue
		}
		size, err := strconv.ParseInt(f[n-4], 10, 64)
		mon, okm := months[strings.ToLower(f[n-3])]
		day, errd := strconv.Atoi(f[n-2])
		if err != nil || !okm || errd != nil {
			continue
		}
		fi.IsDir = line[0] == 'd'
		if !fi.IsDir {
			fi.Size = size
		}
		if line[0] == 'l' {
			if i := strings.Index(name, " -> "); i >= 0 {
				name = name[:i]
			}
		}
		fi.Name = name
		if h, m, ok := strings.Cut(f[n-1], ":"); ok {
			hh, _ := strconv.Atoi(h)
			mm, _ := strconv.Atoi(m)
			t := time.Date(now.Year(), mon, day, hh, mm, 0, 0, time.UTC)
			if t.After(now.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
			fi.ModTime = t
		} else if y, err := strconv.Atoi(f[n-1]); err == nil {
			fi.ModTime = time.Date(y, mon, day, 0, 0, 0, 0, time.UTC)
		}
		return fi, true
	}
	return fi, false
}

// parseDOSLine reads "01-02-06  03:04PM       <DIR>          name" or
// "01-02-06  03:04PM               1234 name".
func parseDOSLine(line string) (remote.FileInfo, bool) {
	var fi remote.FileInfo
	f, name, ok := fieldsN(line, 3)
	if !ok {
		return fi, false
	}
	t, err := time.Parse("01-02-06 03:04PM", f[0]+" "+f[1])
	if err != nil {
		if t, err = time.Parse("01-02-2006 03:04PM", f[0]+" "+f[1]); err != nil {
			return fi, false
		}
	}
	fi.ModTime = t
	fi.Name = strings.TrimLeft(name, " ")
	if f[2] == "<DIR>" {
		fi.IsDir = true
		return fi, true
	}
	if fi.Size, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return fi, false
	}
	return fi, true
}
