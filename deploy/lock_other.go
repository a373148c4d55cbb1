//go:build !unix

package deploy

// holderDead cannot tell on this system; only --break-lock breaks a lock.
func holderDead(*LockInfo) bool { return false }

func processIdentity() (string, uint64) { return "", 0 }
