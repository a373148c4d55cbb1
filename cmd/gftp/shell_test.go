package main

import "testing"

func TestWindowsShellLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`echo secret`, `cmd.exe /d /s /c "echo secret"`},
		{`"C:\Program Files\vault.exe" read "ftp pw"`, `cmd.exe /d /s /c ""C:\Program Files\vault.exe" read "ftp pw""`},
		{" type pw.txt \n", `cmd.exe /d /s /c "type pw.txt"`},
	} {
		if got := windowsShellLine(tc.in); got != tc.want {
			t.Errorf("windowsShellLine(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
