package deploy

import "testing"

func TestHookStatus(t *testing.T) {
	p := &Plan{
		Uploads: []Action{{Op: OpUpload, Path: "a b.txt"}, {Op: OpUpload, Path: "dir/c.txt"}},
		Deletes: []Action{{Op: OpDelete, Path: "old.txt"}},
	}
	for _, c := range []struct{ syncroot, want string }{
		{"", "A a b.txt\x00A dir/c.txt\x00D old.txt\x00"},
		{"dist", "A dist/a b.txt\x00A dist/dir/c.txt\x00D dist/old.txt\x00"},
	} {
		if got := string(HookStatus(p, c.syncroot)); got != c.want {
			t.Errorf("syncroot %q: got %q, want %q", c.syncroot, got, c.want)
		}
	}
	if got := HookStatus(&Plan{}, ""); len(got) != 0 {
		t.Errorf("empty plan: got %q", got)
	}
}
