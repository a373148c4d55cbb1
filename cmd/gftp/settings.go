package main

import (
	"net/url"
	"strconv"
	"time"
)

// Settings is how one run connects: every flag, GFTP_* variable,
// .git-ftp-config and git config key, the URL's userinfo and ~/.netrc,
// resolved once, in that order, into plain values. It does nothing: asking
// for a password, running --password-command or reading the keychain
// happen later (remoteOptions), as Credential says.
type Settings struct {
	Scope string

	User         string
	Password     string
	PasswordFrom source // where Password came from; srcNone when nowhere
	// Credential says what supplies the password instead of Password.
	Credential      credential
	PasswordCommand string // for credCommand
	Keychain        string // for credKeychain: ACCOUNT[@HOST], or "" for the user at the URL's host

	Insecure         bool
	CACert           string
	PinSHA256        []string
	DisableEPSV      bool
	Active           bool
	ActiveAddr       string
	ActivePorts      string
	TrustPASVIP      bool
	Key              string
	KnownHosts       string
	AcceptNewHostKey bool
	S3Endpoint       string
	S3Region         string
	S3Profile        string
	S3PathStyle      bool
	CacheControl     string
	Jobs             int
	InFlight         int // 0: the transport's default
	Timeout          time.Duration
	Retries          int
}

// credential is where the password comes from when it is not a value.
type credential int

const (
	credValue    credential = iota // Settings.Password (perhaps empty)
	credPrompt                     // -P: ask on the terminal
	credKeychain                   // -k or git-ftp.keychain: the macOS keychain
	credCommand                    // --password-command
)

// resolveSettings turns the layered lookup s, and the URL u, into
// Settings. netrc finds a login and password for a host (netrcLookup; a
// stub in tests).
func resolveSettings(s *settings, u *url.URL, netrc func(host string) (login, password string, ok bool)) (Settings, error) {
	st := Settings{
		Scope:            s.scope,
		Insecure:         s.bool("insecure"),
		CACert:           s.str("cacert"),
		DisableEPSV:      s.bool("disable-epsv"),
		Active:           activeMode(s),
		ActiveAddr:       s.str("active-addr"),
		ActivePorts:      s.str("active-ports"),
		TrustPASVIP:      s.bool("trust-pasv-ip"),
		Key:              s.str("key"),
		KnownHosts:       s.str("known-hosts"),
		AcceptNewHostKey: s.bool("accept-new-host-key"),
		S3Endpoint:       s.str("s3-endpoint"),
		S3Region:         s.str("s3-region"),
		S3Profile:        s.str("s3-profile"),
		S3PathStyle:      s.bool("s3-path-style"),
		CacheControl:     s.str("cache-control"),
		Jobs:             4,
		Timeout:          30 * time.Second,
		Retries:          3,
	}
	if s.cmd != nil {
		st.PinSHA256 = s.cmd.StringSlice("pin-sha256")
	}
	if v := s.str("jobs"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return st, usageErr("use --jobs 1 or more", "--jobs must be a number of at least 1, not %q", v)
		}
		st.Jobs = n
	}
	if v := s.str("in-flight"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return st, usageErr("use --in-flight 1 or more", "--in-flight must be a number of at least 1, not %q", v)
		}
		st.InFlight = n
	}
	if v := s.str("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return st, usageErr("give a duration such as 30s or 2m", "--timeout %q is not a duration", v)
		}
		st.Timeout = d
	}
	if v := s.str("retries"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			st.Retries = max(n, 0)
		}
	}

	// User and password: the URL's userinfo counts as a flag-level source
	// for the user, and a password in it as one given on the command line.
	userSrc := srcNone
	st.User, userSrc = s.get("user")
	if userSrc < srcEnv && u != nil && u.User != nil && u.User.Username() != "" {
		st.User = u.User.Username()
	}
	pw, pwSrc := s.get("password")
	if u != nil && u.User != nil {
		if p, ok := u.User.Password(); ok && pwSrc < srcEnv {
			pw, pwSrc = p, srcFlag
		}
	}
	pcmd, pcmdSrc := s.get("password-command")
	account, useKeychain := keychainAccount(s)
	switch {
	case s.cmd != nil && s.cmd.Bool("ask-passwd"):
		st.Credential = credPrompt
	case useKeychain && pwSrc < srcFlag: // git-ftp: -p, then -k, then git config
		st.Credential, st.Keychain = credKeychain, account
	case pcmd != "" && pcmdSrc >= pwSrc:
		st.Credential, st.PasswordCommand = credCommand, pcmd
	case pwSrc == srcNone && u != nil && netrc != nil:
		if login, p, ok := netrc(u.Hostname()); ok {
			if st.User == "" {
				st.User = login
			}
			if st.User == login {
				pw, pwSrc = p, srcNetrc
			}
		}
	}
	st.Password, st.PasswordFrom = pw, pwSrc
	return st, nil
}

// activeMode decides between --active and --passive: on the command line
// the last of the two wins (normaliseArgs keeps only that one), else the
// configuration (GFTP_ACTIVE, git-ftp.active) decides.
func activeMode(s *settings) bool {
	switch {
	case s.cmd != nil && s.cmd.IsSet("active"):
		return s.cmd.Bool("active")
	case s.cmd != nil && s.cmd.IsSet("passive"):
		return !s.cmd.Bool("passive")
	}
	return s.bool("active")
}
