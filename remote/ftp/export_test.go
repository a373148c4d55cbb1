package ftp

import "time"

// SetIdleCheck changes how long a pooled connection may idle before it is
// checked with NOOP, and returns a function that restores it.
func SetIdleCheck(d time.Duration) func() {
	old := idleCheck
	idleCheck = d
	return func() { idleCheck = old }
}
