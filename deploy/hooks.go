package deploy

import (
	"bytes"
	"path"
)

// HookStatus is what git-ftp writes to the pre-ftp-push hook's stdin: for
// each file to upload "A path", then for each file to delete "D path", each
// followed by a NUL byte, after .git-ftp-ignore and .git-ftp-include have
// been applied. Paths are the repository's, with the syncroot in front, as
// git diff prints them; the marker is not listed.
func HookStatus(p *Plan, syncroot string) []byte {
	var b bytes.Buffer
	write := func(op byte, acts []Action) {
		for _, a := range acts {
			b.WriteByte(op)
			b.WriteByte(' ')
			b.WriteString(path.Join(syncroot, a.Path))
			b.WriteByte(0)
		}
	}
	write('A', p.Uploads)
	write('D', p.Deletes)
	return b.Bytes()
}
