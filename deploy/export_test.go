package deploy

// WaitJournal waits for an early journal read to end.
func WaitJournal(jr *JournalRead) { jr.wait() }
