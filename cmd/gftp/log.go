package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// logHandler prints log records for people: the message, then key=value
// pairs. -v shows Info, -vv Debug (the protocol dialogue); by default only
// warnings and errors. Transports redact secrets at the source; the handler
// redacts them again, so a slip cannot print one.
type logHandler struct {
	mu      *sync.Mutex
	w       io.Writer
	level   slog.Level
	attrs   []slog.Attr
	secrets *[]string
}

func newLogHandler(w io.Writer, verbose int) *logHandler {
	level := slog.LevelWarn
	switch {
	case verbose < 0:
		level = slog.LevelError
	case verbose == 1:
		level = slog.LevelInfo
	case verbose >= 2:
		level = slog.LevelDebug
	}
	return &logHandler{mu: &sync.Mutex{}, w: w, level: level, secrets: new([]string)}
}

// redact registers a secret that must never be printed.
func (h *logHandler) redact(secret string) {
	if len(secret) < 3 {
		return // too short to replace without mangling other text
	}
	h.mu.Lock()
	*h.secrets = append(*h.secrets, secret)
	h.mu.Unlock()
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	// Built by hand rather than with fmt: at -v a line per file is
	// written, and fmt was most of its cost (profiled).
	var b strings.Builder
	b.Grow(128)
	b.WriteString(printable(r.Message))
	write := func(a slog.Attr) {
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t\"=") || v == "" || quoteName(v) != v {
			v = strconv.Quote(v)
		}
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(v)
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(func(a slog.Attr) bool { write(a); return true })
	b.WriteByte('\n')
	line := b.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range *h.secrets {
		line = strings.ReplaceAll(line, s, "****")
	}
	_, err := io.WriteString(h.w, line)
	return err
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &h2
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
